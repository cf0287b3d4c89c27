"""Checkpoint round trip and clear errors for corrupt, truncated and mismatched files."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from me_perception.model import ModelConfig
from me_perception.model.checkpoint import (
    METADATA_KEY,
    CheckpointError,
    CheckpointMetadata,
    load_checkpoint,
    read_checkpoint_metadata,
    save_checkpoint,
)
from me_perception.model.network import build_model

CFG = ModelConfig(label_set="megc_3", hidden_size=32, embed_size=32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = build_model(CFG, seed=5)
    meta = CheckpointMetadata(
        config=CFG,
        model_id="test-model-1",
        training_data="CASME II subjects 1-20 (test fixture)",
        metrics={"uf1": 0.5},
    )
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.safetensors", model, meta)


def test_round_trip(saved: Path) -> None:
    model, meta = load_checkpoint(saved)
    assert meta.model_id == "test-model-1" and meta.config == CFG.from_dict(CFG.to_dict())
    assert meta.config.classes == ("positive", "negative", "surprise")
    assert meta.metrics == {"uf1": 0.5} and meta.format_version == 1
    ref = build_model(CFG, seed=5).state_dict()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, ref[k], rtol=0, atol=0)
    assert not model.training
    header_meta = read_checkpoint_metadata(saved)
    doc = json.loads(header_meta.to_json())
    assert doc["crop_size"] == 64 and doc["k_seconds"] == CFG.k_seconds


def _expect(path: Path, match: str) -> CheckpointError:
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and info.value.path == str(path)
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    _expect(tmp_path / "nope.safetensors", "file not found")


def test_truncated(saved: Path, tmp_path: Path) -> None:
    data = saved.read_bytes()
    for cut in (4, 100, len(data) - 10):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        _expect(bad, "truncated")


def test_corrupt(saved: Path, tmp_path: Path) -> None:
    bad = tmp_path / "garbage.safetensors"
    bad.write_bytes(b"\x00\x01 not a checkpoint at all " * 10)
    _expect(bad, "corrupt|truncated")
    data = bytearray(saved.read_bytes())
    data[8:16] = b"\xff" * 8  # break the JSON header
    bad2 = tmp_path / "badheader.safetensors"
    bad2.write_bytes(bytes(data))
    _expect(bad2, "corrupt")
    pickle_like = tmp_path / "model.pt"
    torch.save({"x": 1}, pickle_like)  # a pickle is rejected, never unpickled
    _expect(pickle_like, "corrupt|truncated")


def _rewrite_meta(src: Path, dst: Path, edit: dict[str, object]) -> None:
    data = src.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = json.loads(header["__metadata__"][METADATA_KEY])
    meta.update(edit)
    header["__metadata__"][METADATA_KEY] = json.dumps(meta)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    dst.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


def test_wrong_metadata_version(saved: Path, tmp_path: Path) -> None:
    bad = tmp_path / "v99.safetensors"
    _rewrite_meta(saved, bad, {"format_version": 99})
    _expect(bad, "format_version 99 is not supported")


def test_bad_metadata_config(saved: Path, tmp_path: Path) -> None:
    bad = tmp_path / "cfg.safetensors"
    _rewrite_meta(saved, bad, {"config": {**CFG.to_dict(), "crop_size": 61}})
    _expect(bad, "invalid metadata")


def test_wrong_shapes(saved: Path, tmp_path: Path) -> None:
    """Metadata says hidden 64 but the tensors were saved for hidden 32."""
    bad = tmp_path / "shapes.safetensors"
    _rewrite_meta(saved, bad, {"config": {**CFG.to_dict(), "hidden_size": 64}})
    err = _expect(bad, "model config needs")
    assert "memory" in err.problem


def test_missing_metadata_and_tensors(tmp_path: Path) -> None:
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    _expect(plain, "not an me_perception checkpoint")
    meta = CheckpointMetadata(config=CFG)
    partial = tmp_path / "partial.safetensors"
    save_file({"w": torch.zeros(2)}, str(partial), metadata={METADATA_KEY: meta.to_json()})
    _expect(partial, "missing")


def test_expected_classes(saved: Path) -> None:
    with pytest.raises(CheckpointError, match="class names"):
        load_checkpoint(saved, expected_classes=("a", "b"))


def test_non_finite_weights(tmp_path: Path) -> None:
    model = build_model(CFG)
    with torch.no_grad():
        model.class_head.weight[0, 0] = float("nan")
    bad = save_checkpoint(tmp_path / "nan.safetensors", model, CheckpointMetadata(config=CFG))
    _expect(bad, "NaN")
