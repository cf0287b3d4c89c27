"""ONNX export: opset, static shapes, checker, TensorRT operator set, metadata, parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from me_perception.model import STEP_INPUT_NAMES, STEP_OUTPUT_NAMES, ModelConfig
from me_perception.model.checkpoint import CheckpointError
from me_perception.model.export import (
    ExportedModel,
    build_untrained_export,
    check_onnx,
    graph_ops,
    read_onnx_metadata,
    tensorrt_supported_ops,
)
from me_perception.model.network import build_model

#: The exact operator set of the exported step. A change here must be checked against
#: tensorrt_supported_ops.txt (the test below does) and ideally on a TensorRT machine.
EXPECTED_OPS = {
    "Add", "Concat", "Constant", "Conv", "Flatten", "Gemm", "Mul", "Relu", "Reshape",
    "Sigmoid", "Slice", "Softmax", "Sub", "Tanh",
}  # fmt: skip


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> ExportedModel:
    return build_untrained_export(tmp_path_factory.mktemp("export"), max_batch=4, seed=7)


def test_graph_is_static_opset17_and_tensorrt_safe(exported: ExportedModel) -> None:
    model = onnx.load(str(exported.onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    ops = graph_ops(model)
    assert ops == EXPECTED_OPS
    assert ops <= tensorrt_supported_ops()
    assert check_onnx(exported.onnx_path) == ops
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        assert all(d.HasField("dim_value") and d.dim_value > 0 for d in dims), value.name
    # Conv weights must be initializers for TensorRT
    inits = {i.name for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Conv":
            assert node.input[1] in inits


def test_supported_ops_list_is_sane() -> None:
    ops = tensorrt_supported_ops()
    assert {"Conv", "Gemm", "Softmax", "Sigmoid", "Tanh"} <= ops
    assert not {"NonZero_", "SequenceAt", "StringNormalizer", "Unique"} & ops


def test_metadata_and_shapes(exported: ExportedModel) -> None:
    info = read_onnx_metadata(exported.onnx_path)
    cfg = ModelConfig()
    assert info.max_batch == 4
    assert tuple(info.input_shapes) == STEP_INPUT_NAMES
    assert tuple(info.output_shapes) == STEP_OUTPUT_NAMES
    assert info.input_shapes["crop"] == (4, 1, 64, 64)
    assert info.input_shapes["hidden"] == (4, cfg.hidden_size)
    assert info.output_shapes["class_probs"] == (4, 5)
    assert info.config.classes == cfg.classes
    assert info.metadata.model_id == "untrained-seed0"


def test_onnxruntime_matches_torch(exported: ExportedModel) -> None:
    import onnxruntime as ort

    cfg = ModelConfig()
    model = build_model(cfg, seed=7)
    rng = np.random.default_rng(0)
    feeds = {
        "crop": rng.random((4, *cfg.crop_shape), dtype=np.float32),
        "past_feature": rng.random((4, *cfg.feature_shape), dtype=np.float32),
        "baseline": rng.random((4, *cfg.feature_shape), dtype=np.float32),
        "hidden": rng.standard_normal((4, cfg.hidden_size)).astype(np.float32),
        "primed": np.array([[1], [0], [1], [1]], np.float32),
    }
    sess = ort.InferenceSession(str(exported.onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(list(STEP_OUTPUT_NAMES), feeds)
    with torch.no_grad():
        ref = model(*(torch.from_numpy(feeds[n]) for n in STEP_INPUT_NAMES))
    for name, g, r in zip(STEP_OUTPUT_NAMES, got, ref, strict=True):
        np.testing.assert_allclose(g, r.numpy(), rtol=0, atol=1e-4, err_msg=name)


def test_bad_onnx_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08garbage" * 20)
    with pytest.raises(CheckpointError, match=r"bad\.onnx"):
        read_onnx_metadata(bad)
    with pytest.raises(CheckpointError, match="not found"):
        read_onnx_metadata(tmp_path / "missing.onnx")


def test_export_restores_training_mode(tmp_path: Path) -> None:
    from me_perception.model.export import export_onnx

    model = build_model(ModelConfig()).train()
    export_onnx(model, tmp_path / "m.onnx", max_batch=1)
    assert model.training


def test_motion_model_exports_and_matches_torch(tmp_path: Path) -> None:
    """A motion model (4 input channels: D_b, D_k) exports with the same operator set, its
    metadata names the motion input, and ONNX Runtime computes what torch computes on motion
    maps of realistic size (a few hundredths of an IOD)."""
    import onnxruntime as ort

    from me_perception.model.export import export_onnx

    cfg = ModelConfig.motion()
    model = build_model(cfg, seed=3)
    path = export_onnx(model, tmp_path / "motion.onnx", max_batch=2)
    info = read_onnx_metadata(path)
    assert info.config.reads_motion and info.input_shapes["crop"] == (2, 4, 32, 32)
    assert graph_ops(onnx.load(str(path))) == EXPECTED_OPS
    rng = np.random.default_rng(1)
    feeds = {
        "crop": (0.03 * rng.standard_normal((2, 4, 32, 32))).astype(np.float32),
        "past_feature": rng.random((2, *cfg.feature_shape), dtype=np.float32),
        "baseline": rng.random((2, *cfg.feature_shape), dtype=np.float32),
        "hidden": rng.standard_normal((2, cfg.hidden_size)).astype(np.float32),
        "primed": np.array([[1], [0]], np.float32),
    }
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    with torch.no_grad():
        ref = model(*(torch.from_numpy(feeds[n]) for n in STEP_INPUT_NAMES))
    for name, g, r in zip(STEP_OUTPUT_NAMES, got, ref, strict=True):
        np.testing.assert_allclose(g, r.numpy(), rtol=0, atol=1e-4, err_msg=name)
