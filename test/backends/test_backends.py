"""Backends behind one interface: parity, padding/chunking, factory and torch-free imports."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from me_perception.backends import BackendError, BackendSelection, create_backend
from me_perception.backends.onnxruntime_backend import OnnxRuntimeBackend
from me_perception.backends.tensorrt_backend import tensorrt_available
from me_perception.backends.torch_backend import TorchBackend
from me_perception.feature_buffer import BufferConfig, FeatureBufferBank
from me_perception.model import StepInputs
from me_perception.model.export import ExportedModel, build_untrained_export

_TRT_OK, _TRT_WHY = tensorrt_available()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> ExportedModel:
    return build_untrained_export(tmp_path_factory.mktemp("be"), max_batch=4, seed=11)


def _inputs(n: int, seed: int = 0) -> StepInputs:
    rng = np.random.default_rng(seed)
    return StepInputs(
        crop=rng.random((n, 1, 64, 64), dtype=np.float32),
        past_feature=rng.random((n, 32, 8, 8), dtype=np.float32),
        baseline=rng.random((n, 32, 8, 8), dtype=np.float32),
        hidden=rng.standard_normal((n, 96)).astype(np.float32),
        primed=(rng.random((n, 1)) > 0.3).astype(np.float32),
    )


@pytest.mark.parametrize("n", [0, 1, 3, 4, 9])
@pytest.mark.parametrize("relax", [True, False])
def test_onnxruntime_matches_torch_any_batch(exported: ExportedModel, n: int, relax: bool) -> None:
    """Padding to the static batch and chunking above it must not change any face's result."""
    ref = TorchBackend(exported.checkpoint_path, max_batch=4)
    ort_be = OnnxRuntimeBackend(exported.onnx_path, device="cpu", relax_batch=relax)
    assert ort_be.max_batch == 4 and ort_be.pads_batch is not relax
    inputs = _inputs(n)
    a, b = ort_be.step(inputs), ref.step(inputs)
    assert a.batch_size == n
    for name, x in a.as_dict().items():
        np.testing.assert_allclose(x, b.as_dict()[name], rtol=0, atol=1e-4, err_msg=name)
    # chunked result equals per-face results
    if n:
        single = ort_be.step(inputs.slice(n - 1, n))
        np.testing.assert_allclose(single.class_probs[0], a.class_probs[-1], atol=1e-5)


def test_backend_validates_inputs(exported: ExportedModel) -> None:
    be = OnnxRuntimeBackend(exported.onnx_path, device="cpu")
    bad = _inputs(2)
    bad.crop = np.zeros((2, 1, 32, 32), np.float32)
    with pytest.raises(ValueError, match="crop"):
        be.step(bad)
    bad = _inputs(2)
    bad.hidden = bad.hidden.astype(np.float64)
    with pytest.raises(ValueError, match="float32"):
        be.step(bad)
    be.close()
    with pytest.raises(BackendError, match="closed"):
        be.step(_inputs(1))


def test_pipeline_loop_with_bank(exported: ExportedModel) -> None:
    """The intended per-frame use: gather -> step -> scatter, faces coming and going."""
    with create_backend("onnxruntime-cpu", onnx_path=exported.onnx_path) as be:
        bank = FeatureBufferBank(BufferConfig.from_model(be.config, fps=30.0))
        rng = np.random.default_rng(1)
        for t in range(12):
            ids = ["f1", "f2"] if t < 6 else ["f2", "f3", "f4", "f5", "f6"]
            crops = rng.random((len(ids), *be.config.crop_shape), dtype=np.float32)
            out = be.step(bank.gather(ids, crops, t / 30))
            bank.scatter(ids, out)
            bank.retain(ids)
            assert out.class_probs.shape == (len(ids), 5)
        assert sorted(bank.face_ids) == ["f2", "f3", "f4", "f5", "f6"]


def test_factory_auto_on_cpu(exported: ExportedModel, caplog: pytest.LogCaptureFixture) -> None:
    sel = BackendSelection()
    with caplog.at_level(logging.INFO, logger="me_perception.backends"):
        be = create_backend(
            "auto",
            onnx_path=exported.onnx_path,
            checkpoint=exported.checkpoint_path,
            selection=sel,
        )
    expected = "tensorrt" if _TRT_OK else "onnxruntime"
    assert be.name == expected and sel.chosen == expected
    if not _TRT_OK:
        assert sel.reasons[0].startswith("skip tensorrt")
        assert "backend selection: skip tensorrt" in caplog.text
    be.close()


def test_factory_fallbacks(exported: ExportedModel, tmp_path: Path) -> None:
    sel = BackendSelection()
    be = create_backend("auto", checkpoint=exported.checkpoint_path, selection=sel)
    assert be.name == "torch"
    assert any("onnxruntime-cpu: no onnx_path" in r for r in sel.reasons)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not onnx")
    sel = BackendSelection()
    be = create_backend(
        "auto", onnx_path=broken, checkpoint=exported.checkpoint_path, selection=sel
    )
    assert be.name == "torch"
    assert any("failed to start" in r and "broken.onnx" in r for r in sel.reasons)
    with pytest.raises(BackendError, match="no usable backend"):
        create_backend("auto")
    with pytest.raises(ValueError, match="unknown backend"):
        create_backend("tflite")
    if not _TRT_OK:
        with pytest.raises(BackendError):
            create_backend("tensorrt", onnx_path=exported.onnx_path)


def test_onnx_and_tensorrt_paths_import_without_torch() -> None:
    """Jetson deployments run TensorRT without a torch build."""
    code = (
        "import sys\n"
        "import me_perception.backends, me_perception.backends.tensorrt_backend\n"
        "import me_perception.backends.onnxruntime_backend, me_perception.feature_buffer\n"
        "import me_perception.model, me_perception.model.export\n"
        "import me_perception.backends.engine_cache\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.gpu
@pytest.mark.skipif(not _TRT_OK, reason=f"TensorRT runtime unavailable: {_TRT_WHY}")
def test_tensorrt_engine_build_cache_and_parity(exported: ExportedModel, tmp_path: Path) -> None:
    from me_perception.backends.tensorrt_backend import TensorRTBackend

    ref = TorchBackend(exported.checkpoint_path)
    be = TensorRTBackend(exported.onnx_path, cache_dir=tmp_path, fp16=True)
    assert be.built_engine and be.engine_path.is_file()
    inputs = _inputs(3)
    got, want = be.step(inputs), ref.step(inputs)
    tol = 2e-2 if be.precision == "fp16" else 1e-4
    for name, x in got.as_dict().items():
        np.testing.assert_allclose(x, want.as_dict()[name], atol=tol, err_msg=name)
    be.close()
    again = TensorRTBackend(exported.onnx_path, cache_dir=tmp_path, fp16=True)
    assert not again.built_engine  # loaded from the cache
    again.close()
    again.engine_path.write_bytes(b"corrupt engine")
    rebuilt = TensorRTBackend(exported.onnx_path, cache_dir=tmp_path, fp16=True)
    assert rebuilt.built_engine
    rebuilt.close()
