"""TensorRT engine-cache key and invalidation (pure Python, runs everywhere)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from me_perception.backends.engine_cache import EngineCache, EngineKey

SHAPES = {"crop": (8, 1, 64, 64), "hidden": (8, 96)}


def _key(**kw: object) -> EngineKey:
    args: dict[str, object] = {
        "model_name": "model",
        "onnx_sha256": "a" * 64,
        "trt_version": "10.3.0",
        "gpu_name": "Orin",
        "compute_capability": "8.7",
        "precision": "fp16",
        "input_shapes": SHAPES,
    }
    args.update(kw)
    return EngineKey.make(**args)  # type: ignore[arg-type]


def test_key_is_canonical() -> None:
    a = _key()
    b = _key(input_shapes={"hidden": [8, 96], "crop": (8, 1, 64, 64)})
    assert a == b and a.digest == b.digest and len(a.digest) == 64
    assert json.loads(a.to_json())["schema"] == 2


@pytest.mark.parametrize(
    "change",
    [
        {"onnx_sha256": "b" * 64},
        {"trt_version": "10.4.0"},
        {"gpu_name": "NVIDIA H100"},
        {"compute_capability": "9.0"},
        {"precision": "fp32"},
        {"input_shapes": {**SHAPES, "crop": (4, 1, 64, 64)}},
        {"extra": {"workspace_bytes": "1"}},
    ],
)
def test_every_field_changes_the_key(change: dict[str, object]) -> None:
    assert _key(**change).digest != _key().digest


def test_bad_precision() -> None:
    with pytest.raises(ValueError, match="precision"):
        _key(precision="int4")


def test_store_load_and_rebuild_rules(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    key = _key()
    calls: list[bytes] = []

    def deser(data: bytes) -> str | None:
        calls.append(data)
        return None if data == b"bad" else data.decode()

    assert cache.load(key, deser) is None  # miss -> build
    path = cache.store(key, b"engine-v1")
    assert path == cache.engine_path(key) and path.name.startswith("model.")
    assert cache.load(key, deser) == "engine-v1"  # hit, no rebuild
    # Different key (e.g. new TensorRT): miss; storing it removes the stale engine.
    key2 = _key(trt_version="10.4.0")
    assert cache.load(key2, deser) is None
    cache.store(key2, b"engine-v2")
    assert not path.exists() and not cache.sidecar_path(key).exists()
    assert cache.load(key2, deser) == "engine-v2"
    # Deserialisation returns None -> file deleted, caller rebuilds.
    cache.engine_path(key2).write_bytes(b"bad")
    assert cache.load(key2, deser) is None
    assert not cache.engine_path(key2).exists()


def test_deserialise_exception_and_missing_sidecar(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    key = _key()
    cache.store(key, b"x")

    def boom(data: bytes) -> object:
        raise RuntimeError("Serialization assertion failed")

    assert cache.load(key, boom) is None
    assert not cache.engine_path(key).exists()
    # engine present but key record missing or tampered -> rebuild
    cache.store(key, b"x")
    cache.sidecar_path(key).write_text(
        dataclasses.replace(key, gpu_name="other").to_json(), encoding="utf-8"
    )
    assert cache.load(key, lambda d: d) is None
    cache.store(key, b"x")
    cache.sidecar_path(key).unlink()
    assert cache.load(key, lambda d: d) is None


def test_other_models_and_timing_cache(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    a, b = _key(model_name="model"), _key(model_name="model.v2")
    cache.store(b, b"b")
    cache.store(a, b"a")  # must not treat model.v2's engine as a stale "model" engine
    assert cache.engine_path(a).exists() and cache.engine_path(b).exists()
    assert cache.timing_cache_path(a) == cache.timing_cache_path(b)
    assert cache.timing_cache_path(a) != cache.timing_cache_path(_key(gpu_name="x"))
    assert _key(model_name="../../etc/x y").safe_model_name == "_.._etc_x_y"
    assert not list(tmp_path.glob(".*.tmp"))


def test_engine_file_is_verified_against_its_record_before_use(tmp_path: Path) -> None:
    """A truncated or altered engine is never handed to TensorRT (which may accept it and
    fail at inference): its size and sha256 are in the key record."""
    cache = EngineCache(tmp_path)
    key = _key()
    calls: list[bytes] = []

    def deser(data: bytes) -> bytes:
        calls.append(data)
        return data

    good = b"engine-bytes-v1"
    cache.store(key, good)
    record = json.loads(cache.sidecar_path(key).read_text(encoding="utf-8"))
    assert record["engine"] == {"bytes": len(good), "sha256": hashlib.sha256(good).hexdigest()}
    for damaged in (good[:-3], good[:-1] + b"2"):  # truncated; same size, one byte changed
        cache.store(key, good)
        cache.engine_path(key).write_bytes(damaged)
        assert cache.load(key, deser) is None
        assert calls == [], "a damaged engine was deserialised"
        assert not cache.engine_path(key).exists(), "the damaged engine is rebuilt"
    cache.store(key, good)
    assert cache.load(key, deser) == good and calls == [good]
