"""ONNX export of the streaming step, graph checks and model metadata in the ONNX file.

The exported graph has static shapes with a fixed maximum batch of faces (backends pad a smaller
batch) because TensorRT engines are fastest and simplest with one optimisation profile of fixed
shape. Every operator must be on the list of operators that TensorRT's ONNX parser supports
(``tensorrt_supported_ops.txt``, with its source), which :func:`check_onnx` verifies.

The model's metadata (same JSON as in the checkpoint) is written into the ONNX file's
``metadata_props`` so that the ONNX Runtime and TensorRT backends know the class names, crop size
and temporal parameters without torch or the checkpoint. Only :func:`export_onnx` and
:func:`build_untrained_export` import torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from me_perception.model.checkpoint import (
    METADATA_KEY,
    CheckpointError,
    CheckpointMetadata,
)
from me_perception.model.config import STEP_INPUT_NAMES, STEP_OUTPUT_NAMES, ModelConfig

if TYPE_CHECKING:
    import onnx

    from me_perception.model.network import MicroExpressionNet

DEFAULT_OPSET = 17
DEFAULT_MAX_BATCH = 8
MAX_BATCH_KEY = "me_perception.max_batch"
_OPS_FILE = Path(__file__).with_name("tensorrt_supported_ops.txt")


class OnnxExportError(RuntimeError):
    """The exported graph is invalid or uses operators TensorRT cannot parse."""


@cache
def tensorrt_supported_ops() -> frozenset[str]:
    """Operators listed as supported in onnx-tensorrt's docs/operators.md (see the file)."""
    lines = _OPS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(s.strip() for s in lines if s.strip() and not s.startswith("#"))


def graph_ops(model: onnx.ModelProto) -> set[str]:
    """All operator types in the main graph and any subgraphs (default ONNX domain)."""
    ops: set[str] = set()

    def walk(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            ops.add(
                node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
            )
            for attr in node.attribute:
                if attr.g is not None and attr.g.node:
                    walk(attr.g)
                for g in attr.graphs:
                    walk(g)

    walk(model.graph)
    return ops


def check_onnx(path: str | os.PathLike[str]) -> set[str]:
    """Run ``onnx.checker`` and the TensorRT operator check; returns the graph's operator set.

    Raises OnnxExportError naming the file and the offending operators.
    """
    import onnx

    model = onnx.load(str(path))
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise OnnxExportError(f"{path}: onnx.checker failed: {exc}") from None
    ops = graph_ops(model)
    unsupported = sorted(ops - tensorrt_supported_ops())
    if unsupported:
        raise OnnxExportError(f"{path}: operators not supported by TensorRT: {unsupported}")
    return ops


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class OnnxModelInfo:
    """What a backend needs to know about an exported step model."""

    metadata: CheckpointMetadata
    max_batch: int
    input_shapes: dict[str, tuple[int, ...]]
    output_shapes: dict[str, tuple[int, ...]]

    @property
    def config(self) -> ModelConfig:
        return self.metadata.config


def read_onnx_metadata(path: str | os.PathLike[str]) -> OnnxModelInfo:
    """Metadata and static shapes of an exported step model (no torch needed).

    Raises CheckpointError if the file is missing, not ONNX, or lacks our metadata.
    """
    import onnx

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(p, "file not found")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others for garbage
        raise CheckpointError(
            p, f"not a readable ONNX file ({type(exc).__name__}: {exc})"
        ) from None
    _check_external_data(p, model)
    props = {m.key: m.value for m in model.metadata_props}
    if METADATA_KEY not in props:
        raise CheckpointError(p, f"ONNX file has no {METADATA_KEY!r} metadata")
    metadata = CheckpointMetadata.from_json(props[METADATA_KEY], p)

    def shapes(values: object) -> dict[str, tuple[int, ...]]:
        return {
            v.name: tuple(int(d.dim_value) for d in v.type.tensor_type.shape.dim)
            for v in values  # type: ignore[attr-defined]
        }

    ins, outs = shapes(model.graph.input), shapes(model.graph.output)
    if tuple(ins) != STEP_INPUT_NAMES or tuple(outs) != STEP_OUTPUT_NAMES:
        raise CheckpointError(p, f"unexpected graph inputs/outputs {list(ins)} -> {list(outs)}")
    _check_graph_shapes(p, metadata.config, ins, outs)
    return OnnxModelInfo(metadata, int(ins["crop"][0]), ins, outs)


def _check_external_data(path: Path, model: onnx.ModelProto) -> None:
    """Tensors stored outside the .onnx file must be files inside the model's folder.

    A location like ``../../secrets.bin`` would make loading read any file the process can;
    onnx refuses it with an exception no caller expects, so it is refused here with the reason.
    """
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    folder = path.resolve().parent

    def tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
        yield from graph.initializer
        for node in graph.node:
            for attr in node.attribute:
                if attr.HasField("t"):
                    yield attr.t
                yield from attr.tensors
                if attr.HasField("g"):
                    yield from tensors(attr.g)
                for sub in attr.graphs:
                    yield from tensors(sub)

    for tensor in tensors(model.graph):
        if not uses_external_data(tensor):
            continue
        location = ExternalDataInfo(tensor).location
        target = (folder / location).resolve()
        if folder not in target.parents:
            raise CheckpointError(
                path,
                f"tensor {tensor.name!r} keeps its data in {location!r}, outside the model's "
                f"folder {folder}: refused (keep external data files next to the model)",
            )
        if not target.is_file():
            raise CheckpointError(
                path, f"tensor {tensor.name!r}: external data file {location!r} not found"
            )


def _check_graph_shapes(
    path: Path,
    cfg: ModelConfig,
    ins: dict[str, tuple[int, ...]],
    outs: dict[str, tuple[int, ...]],
) -> None:
    """The graph's per-face shapes must be the ones the metadata describes (symbolic
    dimensions, stored as 0, are not checked here; the backends' one-step check sees them)."""
    needs = {
        "crop": (cfg.crop_shape, f"crop_size={cfg.crop_size}, in_channels={cfg.in_channels}"),
        "past_feature": (cfg.feature_shape, f"feature map of crop_size={cfg.crop_size}"),
        "baseline": (cfg.feature_shape, f"feature map of crop_size={cfg.crop_size}"),
        "hidden": ((cfg.hidden_size,), f"hidden_size={cfg.hidden_size}"),
        "primed": ((1,), "one flag per face"),
        "feature": (cfg.feature_shape, f"feature map of crop_size={cfg.crop_size}"),
        "spot_probs": ((3,), "neutral, micro, macro"),
        "class_probs": (
            (cfg.num_classes,),
            f"{cfg.num_classes} classes: {', '.join(cfg.classes)}",
        ),
        "intensity": ((1,), "one intensity per face"),
        "hidden_out": ((cfg.hidden_size,), f"hidden_size={cfg.hidden_size}"),
    }
    batch = {shape[0] for shape in (*ins.values(), *outs.values()) if shape and shape[0]}
    if len(batch) > 1:
        raise CheckpointError(path, f"graph tensors disagree on the batch size: {sorted(batch)}")
    for kind, tensors in (("input", ins), ("output", outs)):
        for name, shape in tensors.items():
            want, why = needs[name]
            got = shape[1:]
            if len(got) != len(want) or any(g and g != w for g, w in zip(got, want, strict=False)):
                raise CheckpointError(
                    path,
                    f"graph {kind} {name!r} has shape {got} per face but the metadata needs "
                    f"{want} ({why})",
                )


def export_onnx(
    model: MicroExpressionNet,
    path: str | os.PathLike[str],
    metadata: CheckpointMetadata | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export the streaming step with static shapes (batch = ``max_batch``) and check it."""
    import onnx
    import torch

    if opset < 17:
        raise ValueError("opset must be >= 17")
    cfg = model.cfg
    metadata = metadata or CheckpointMetadata(config=cfg)
    was_training = model.training
    model.eval()  # BatchNorm uses running statistics in the exported graph
    b = max_batch
    args = (
        torch.rand(b, *cfg.crop_shape),
        torch.randn(b, *cfg.feature_shape),
        torch.randn(b, *cfg.feature_shape),
        torch.zeros(b, cfg.hidden_size),
        torch.ones(b, 1),
    )
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            # TorchScript-based exporter: the dynamo exporter needs onnxscript, which we do not
            # depend on, and gives no benefit for this small static graph.
            torch.onnx.export(
                model,
                args,
                str(tmp),
                input_names=list(STEP_INPUT_NAMES),
                output_names=list(STEP_OUTPUT_NAMES),
                opset_version=opset,
                dynamo=False,
                do_constant_folding=True,
            )
    finally:
        model.train(was_training)
    onnx_model = onnx.load(str(tmp))
    onnx_model.producer_name = "me_perception"
    del onnx_model.metadata_props[:]
    for key, value in (
        (METADATA_KEY, metadata.to_json()),
        (MAX_BATCH_KEY, str(max_batch)),
        ("me_perception.model_id", metadata.model_id),
        ("me_perception.class_names", json.dumps(list(cfg.classes))),
    ):
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(onnx_model, str(tmp))
    try:
        check_onnx(tmp)
    except OnnxExportError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, p)
    return p


@dataclass(frozen=True)
class ExportedModel:
    onnx_path: Path
    checkpoint_path: Path
    metadata: CheckpointMetadata


def build_untrained_export(
    out_dir: str | os.PathLike[str],
    config: ModelConfig | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    seed: int = 0,
    model_id: str = "untrained-seed0",
) -> ExportedModel:
    """Random-init (seeded) model -> ``model.safetensors`` + ``model.onnx`` in ``out_dir``.

    For tests and demos elsewhere in the tree: takes about a second on a laptop CPU.
    """
    from me_perception.model.checkpoint import save_checkpoint
    from me_perception.model.network import build_model

    cfg = config or ModelConfig()
    model = build_model(cfg, seed=seed)
    meta = CheckpointMetadata(
        config=cfg,
        model_id=model_id,
        training_data="none: random initialisation (untrained, for tests only)",
    )
    out = Path(out_dir)
    ckpt = save_checkpoint(out / "model.safetensors", model, meta)
    onnx_path = export_onnx(model, out / "model.onnx", meta, max_batch=max_batch)
    return ExportedModel(onnx_path, ckpt, meta)
