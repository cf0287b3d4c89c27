"""On-disk cache of serialized TensorRT engines (pure Python, no TensorRT needed).

A TensorRT engine is only valid for the TensorRT version, GPU model / compute capability,
precision and shapes it was built for, and of course for the ONNX graph it was built from.
All of these go into an :class:`EngineKey`; its digest names the engine file, so a change of any
of them simply misses the cache and triggers a rebuild. A sidecar JSON records the full key and
the engine file's size and sha256: before an engine is deserialised its bytes are checked
against that record, because TensorRT may accept a truncated or altered plan and then fail (or
crash the process) at inference; a file that does not match is rebuilt. Writes are atomic
(temporary file + rename) so a crash while saving never leaves a half-written engine behind,
and an engine that fails to deserialise is deleted so that the next start rebuilds it. Stale
engines of the same model (older keys) are removed when a new one is stored, so the cache does
not grow without bound.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

_LOG = logging.getLogger(__name__)
T = TypeVar("T")
KEY_SCHEMA = 2


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine's validity depends on.

    Attributes:
        model_name: human-readable stem for file names (e.g. the ONNX file's stem).
        onnx_sha256: hash of the ONNX file's bytes.
        trt_version: ``tensorrt.__version__``.
        gpu_name: e.g. "NVIDIA H100 80GB HBM3" or "Orin".
        compute_capability: e.g. "9.0", "8.7".
        precision: "fp16" or "fp32".
        input_shapes: static shape of every input, by name.
        extra: anything else that changes the engine (e.g. workspace size); optional.
    """

    model_name: str
    onnx_sha256: str
    trt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...]
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @staticmethod
    def make(
        model_name: str,
        onnx_sha256: str,
        trt_version: str,
        gpu_name: str,
        compute_capability: str,
        precision: str,
        input_shapes: dict[str, tuple[int, ...]],
        extra: dict[str, str] | None = None,
    ) -> EngineKey:
        if precision not in ("fp16", "fp32"):
            raise ValueError(f"precision must be fp16 or fp32, got {precision!r}")
        return EngineKey(
            model_name=model_name,
            onnx_sha256=onnx_sha256,
            trt_version=trt_version,
            gpu_name=gpu_name,
            compute_capability=compute_capability,
            precision=precision,
            input_shapes=tuple(
                sorted((k, tuple(int(d) for d in v)) for k, v in input_shapes.items())
            ),
            extra=tuple(sorted((str(k), str(v)) for k, v in (extra or {}).items())),
        )

    def to_json(self) -> str:
        d = asdict(self)
        d["schema"] = KEY_SCHEMA
        return json.dumps(d, sort_keys=True)

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON of the key (file names use its first 16 hex digits)."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    @property
    def safe_model_name(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.model_name)[:64].lstrip(".") or "model"


class EngineCache:
    """A directory of ``<model>.<digest16>.engine`` files plus ``.json`` sidecars."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()

    def engine_path(self, key: EngineKey) -> Path:
        return self.directory / f"{key.safe_model_name}.{key.digest[:16]}.engine"

    def sidecar_path(self, key: EngineKey) -> Path:
        return self.engine_path(key).with_suffix(".json")

    def timing_cache_path(self, key: EngineKey) -> Path:
        """Timing caches are valid across models on the same GPU + TensorRT version."""
        tag = hashlib.sha256(
            f"{key.trt_version}|{key.gpu_name}|{key.compute_capability}".encode()
        ).hexdigest()[:16]
        return self.directory / f"timing.{tag}.cache"

    def load(self, key: EngineKey, deserialize: Callable[[bytes], T | None]) -> T | None:
        """Return the deserialised engine for ``key``, or None when it must be (re)built.

        ``deserialize`` turns bytes into an engine and returns None or raises on failure; a
        failing or unreadable file is deleted (with a warning) so that it is rebuilt.
        """
        path = self.engine_path(key)
        if not path.is_file():
            _LOG.info("engine cache miss for %s (%s)", key.model_name, path.name)
            return None
        try:
            recorded = json.loads(self.sidecar_path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            recorded = None
        if not isinstance(recorded, dict) or recorded.get("key") != json.loads(key.to_json()):
            _LOG.warning("engine %s has a missing or mismatching key record; rebuilding", path)
            self.invalidate(key)
            return None
        try:
            data = path.read_bytes()
        except OSError as exc:
            _LOG.warning("engine %s cannot be read (%s); rebuilding", path, exc)
            self.invalidate(key)
            return None
        if recorded.get("engine") != _file_record(data):
            _LOG.warning(
                "engine %s does not match its record (%d bytes, sha256 %s...; recorded %s); "
                "rebuilding",
                path,
                len(data),
                hashlib.sha256(data).hexdigest()[:12],
                recorded.get("engine"),
            )
            self.invalidate(key)
            return None
        try:
            engine = deserialize(data)
        except Exception as exc:  # TensorRT raises assorted errors for bad engines
            _LOG.warning("engine %s failed to deserialise (%s); rebuilding", path, exc)
            engine = None
        if engine is None:
            self.invalidate(key)
            return None
        _LOG.info("loaded cached engine %s", path)
        return engine

    def store(self, key: EngineKey, data: bytes) -> Path:
        """Atomically write an engine and its key record; remove stale engines of the model."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.engine_path(key)
        _atomic_write(path, data)
        record = {"key": json.loads(key.to_json()), "engine": _file_record(data)}
        _atomic_write(self.sidecar_path(key), json.dumps(record, sort_keys=True).encode("utf-8"))
        for stale in self.stale_entries(key):
            _LOG.info("removing stale engine %s", stale)
            stale.unlink(missing_ok=True)
            stale.with_suffix(".json").unlink(missing_ok=True)
        return path

    def stale_entries(self, key: EngineKey) -> list[Path]:
        """Engines of the same model name under a different key."""
        current = self.engine_path(key)
        exact = re.compile(re.escape(key.safe_model_name) + r"\.[0-9a-f]{16}\.engine")
        return sorted(
            p
            for p in self.directory.glob(f"{key.safe_model_name}.*.engine")
            if p != current and exact.fullmatch(p.name)
        )

    def invalidate(self, key: EngineKey) -> None:
        self.engine_path(key).unlink(missing_ok=True)
        self.sidecar_path(key).unlink(missing_ok=True)


def _file_record(data: bytes) -> dict[str, object]:
    """What the key record keeps of an engine file to verify it before use."""
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
