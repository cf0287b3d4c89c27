"""Checkpoints: one safetensors file holding the weights and a JSON metadata record.

The metadata (format version, model config incl. crop size and class names, k/N seconds,
training data description, metrics, model id) is stored as a JSON string under the key
``me_perception`` of the safetensors header's ``__metadata__``, so weights and metadata cannot
drift apart. Loading never unpickles anything: safetensors holds raw tensors only, and the header
is parsed as JSON. :func:`read_checkpoint_metadata` needs no torch.

Every problem with a file (missing, corrupt, truncated, foreign, wrong format version, tensors
that do not match the configured architecture) raises :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from me_perception.model.config import ModelConfig

if TYPE_CHECKING:
    from me_perception.model.network import MicroExpressionNet

FORMAT_VERSION = 1
METADATA_KEY = "me_perception"
_MAX_HEADER = 100 * 1024 * 1024


class CheckpointError(ValueError):
    """A checkpoint (or model file) cannot be used; ``path`` and ``problem`` say why."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass
class CheckpointMetadata:
    """What a deployed model must carry besides its weights."""

    config: ModelConfig
    model_id: str = "untrained"
    training_data: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    notes: str = ""
    created_utc: str = field(
        default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(
            {
                "format_version": self.format_version,
                "model_id": self.model_id,
                "config": self.config.to_dict(),
                "class_names": list(self.config.classes),
                "crop_size": self.config.crop_size,
                "k_seconds": self.config.k_seconds,
                "n_seconds": self.config.n_seconds,
                "baseline_tau_s": self.config.baseline_tau_s,
                "training_data": self.training_data,
                "metrics": self.metrics,
                "notes": self.notes,
                "created_utc": self.created_utc,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, path: str | os.PathLike[str] = "<memory>") -> CheckpointMetadata:
        """Parse and validate; raises CheckpointError (with ``path``) on any problem."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CheckpointError(path, f"metadata is not valid JSON ({exc})") from None
        if not isinstance(d, dict):
            raise CheckpointError(path, "metadata is not a JSON object")
        version = d.get("format_version")
        if version != FORMAT_VERSION:
            raise CheckpointError(
                path,
                f"metadata format_version {version!r} is not supported "
                f"(this code reads version {FORMAT_VERSION})",
            )
        try:
            config = ModelConfig.from_dict(d["config"])
            metrics = {str(k): float(v) for k, v in dict(d.get("metrics", {})).items()}
            return cls(
                config=config,
                model_id=str(d["model_id"]),
                training_data=str(d.get("training_data", "")),
                metrics=metrics,
                notes=str(d.get("notes", "")),
                created_utc=str(d.get("created_utc", "")),
                format_version=int(version),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(path, f"invalid metadata: {exc!r}") from None


def _read_header(path: Path) -> dict[str, Any]:
    """Parse the safetensors header by hand (8-byte little-endian length + JSON) and check that
    the file is exactly as long as the header says, which catches truncation early."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(path, f"truncated or not a safetensors file ({size} bytes)")
            (n,) = struct.unpack("<Q", head)
            if n <= 0 or n > _MAX_HEADER or 8 + n > size:
                raise CheckpointError(
                    path, f"corrupt or truncated safetensors header (length {n}, file {size} bytes)"
                )
            raw = f.read(n)
    except FileNotFoundError:
        raise CheckpointError(path, "file not found") from None
    except OSError as exc:
        raise CheckpointError(path, f"cannot read: {exc}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(path, "corrupt safetensors header (not JSON)") from None
    if not isinstance(header, dict):
        raise CheckpointError(path, "corrupt safetensors header (not an object)")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            end = max(end, int(info["data_offsets"][1]))
        except (KeyError, TypeError, ValueError, IndexError):
            raise CheckpointError(path, f"corrupt header entry for tensor {name!r}") from None
    if 8 + n + end != size:
        raise CheckpointError(
            path, f"file is {size} bytes but the header describes {8 + n + end} (truncated?)"
        )
    return header


def read_checkpoint_metadata(path: str | os.PathLike[str]) -> CheckpointMetadata:
    """The metadata of a checkpoint, without loading weights or importing torch."""
    p = Path(path)
    header = _read_header(p)
    meta = header.get("__metadata__") or {}
    if METADATA_KEY not in meta:
        raise CheckpointError(p, f"no {METADATA_KEY!r} metadata: not an me_perception checkpoint")
    return CheckpointMetadata.from_json(meta[METADATA_KEY], p)


def save_checkpoint(
    path: str | os.PathLike[str], model: MicroExpressionNet, metadata: CheckpointMetadata
) -> Path:
    """Write weights + metadata atomically (temporary file, then rename)."""
    from safetensors.torch import save_file

    if metadata.config != model.cfg:
        raise ValueError("metadata.config differs from the model's config")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = p.with_name(p.name + ".tmp")
    save_file(tensors, str(tmp), metadata={METADATA_KEY: metadata.to_json()})
    os.replace(tmp, p)
    return p


def load_checkpoint(
    path: str | os.PathLike[str], expected_classes: tuple[str, ...] | None = None
) -> tuple[MicroExpressionNet, CheckpointMetadata]:
    """Load a checkpoint into a fresh model in eval mode (CPU).

    Raises CheckpointError on unreadable files, bad metadata, missing/unexpected tensors, shape
    or dtype mismatches, or (if given) class names that differ from ``expected_classes``.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from me_perception.model.network import MicroExpressionNet

    p = Path(path)
    metadata = read_checkpoint_metadata(p)
    cfg = metadata.config
    if expected_classes is not None and tuple(expected_classes) != cfg.classes:
        raise CheckpointError(
            p, f"class names {list(cfg.classes)} differ from expected {list(expected_classes)}"
        )
    try:
        tensors = load_file(str(p), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(p, f"cannot read tensors: {exc}") from None
    model = MicroExpressionNet(cfg)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            p, f"tensor names do not match the model: missing {missing}, unexpected {unexpected}"
        )
    for name, ref in expected.items():
        got = tensors[name]
        if tuple(got.shape) != tuple(ref.shape) or got.dtype != ref.dtype:
            raise CheckpointError(
                p,
                f"tensor {name!r} is {got.dtype} {tuple(got.shape)}, the model config "
                f"needs {ref.dtype} {tuple(ref.shape)}",
            )
        if got.is_floating_point() and not bool(got.isfinite().all()):
            raise CheckpointError(p, f"tensor {name!r} contains NaN or infinite values")
    model.load_state_dict(tensors, strict=True)
    return model.eval(), metadata
