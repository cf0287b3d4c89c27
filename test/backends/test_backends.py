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
from me_perception.model import StepInputs
from me_perception.model.export import ExportedModel, build_untrained_export
from me_perception.perception.feature_buffer import BufferConfig, FeatureBufferBank

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
            for gone in set(bank.face_ids) - set(ids):
                bank.remove(gone)  # the tracker dropped it
            crops = rng.random((len(ids), *be.config.crop_shape), dtype=np.float32)
            out = be.step(bank.gather(ids, crops))
            bank.scatter(ids, out)
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
        "import me_perception.backends.onnxruntime_backend\n"
        "import me_perception.perception.feature_buffer\n"
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


# --- TensorRT glue code against a fake TensorRT + CUDA runtime ------------------------------
# The real backend cannot run here (no GPU). These fakes implement just the TensorRT 10 /
# cuda-python calls the backend makes, with "device memory" in host RAM and the "engine" run by
# ONNX Runtime, so the build -> cache -> load -> rebuild flow and the memory plumbing are tested.


class _FakeCudart:
    class cudaMemcpyKind:
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2

    def __init__(self) -> None:
        self.blocks: dict[int, np.ndarray] = {}

    def cudaGetDeviceCount(self) -> tuple[int, int]:
        return 0, 1

    def cudaSetDevice(self, dev: int) -> tuple[int]:
        return (0,)

    def cudaGetDeviceProperties(self, dev: int) -> tuple[int, object]:
        return 0, type("Props", (), {"name": b"Fake GPU\0\0", "major": 8, "minor": 7})()

    def cudaMalloc(self, n: int) -> tuple[int, int]:
        block = np.zeros(n, np.uint8)
        self.blocks[block.ctypes.data] = block
        return 0, block.ctypes.data

    def cudaFree(self, ptr: int) -> tuple[int]:
        del self.blocks[ptr]
        return (0,)

    def cudaMemcpyAsync(self, dst: int, src: int, n: int, kind: int, stream: object) -> tuple[int]:
        import ctypes

        ctypes.memmove(dst, src, n)
        return (0,)

    def cudaStreamCreate(self) -> tuple[int, int]:
        return 0, 7

    def cudaStreamSynchronize(self, s: object) -> tuple[int]:
        return (0,)

    def cudaStreamDestroy(self, s: object) -> tuple[int]:
        return (0,)


def _fake_tensorrt() -> object:
    import ctypes
    import types

    import onnxruntime as ort

    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.99.0"  # type: ignore[attr-defined]
    trt.builds = 0  # type: ignore[attr-defined]
    magic = b"FAKE-ENGINE\n"

    class Logger:
        WARNING = 2

        def __init__(self, level: int) -> None:
            pass

    class Network:
        onnx = b""

    class Parser:
        num_errors = 0

        def __init__(self, network: Network, logger: Logger) -> None:
            self.network = network

        def parse(self, data: bytes) -> bool:
            self.network.onnx = data
            return True

    class TimingCache:
        def serialize(self) -> bytes:
            return b"timing"

    class Config:
        def __init__(self) -> None:
            self.flags: set[str] = set()

        def set_memory_pool_limit(self, pool: str, n: int) -> None:
            assert n > 0

        def set_flag(self, flag: str) -> None:
            self.flags.add(flag)

        def create_timing_cache(self, data: bytes) -> TimingCache:
            return TimingCache()

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            return True

        def get_timing_cache(self) -> TimingCache:
            return TimingCache()

    class Builder:
        platform_has_fast_fp16 = True

        def __init__(self, logger: Logger) -> None:
            pass

        def create_network(self, flags: int) -> Network:
            return Network()

        def create_builder_config(self) -> Config:
            return Config()

        def build_serialized_network(self, network: Network, config: Config) -> bytes:
            trt.builds += 1  # type: ignore[attr-defined]
            return magic + network.onnx

    class Context:
        def __init__(self, engine: Engine) -> None:
            self.engine, self.addr = engine, {}

        def set_tensor_address(self, name: str, ptr: int) -> None:
            self.addr[name] = ptr

        def execute_async_v3(self, stream: int) -> bool:
            feeds = {}
            for i in self.engine.sess.get_inputs():
                arr = np.zeros(i.shape, np.float32)
                ctypes.memmove(arr.ctypes.data, self.addr[i.name], arr.nbytes)
                feeds[i.name] = arr
            names = [o.name for o in self.engine.sess.get_outputs()]
            for name, out in zip(names, self.engine.sess.run(names, feeds), strict=True):
                out = np.ascontiguousarray(out, np.float32)
                ctypes.memmove(self.addr[name], out.ctypes.data, out.nbytes)
            return True

    class Engine:
        def __init__(self, onnx_bytes: bytes) -> None:
            self.sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
            self.io = [*self.sess.get_inputs(), *self.sess.get_outputs()]
            self.num_io_tensors = len(self.io)

        def get_tensor_name(self, i: int) -> str:
            return self.io[i].name

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return tuple(next(v.shape for v in self.io if v.name == name))

        def get_tensor_dtype(self, name: str) -> str:
            return "float32"

        def create_execution_context(self) -> Context:
            return Context(self)

    class Runtime:
        def __init__(self, logger: Logger) -> None:
            pass

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            data = bytes(data)
            return Engine(data[len(magic) :]) if data.startswith(magic) else None

    trt.Logger, trt.Builder, trt.OnnxParser, trt.Runtime = Logger, Builder, Parser, Runtime  # type: ignore[attr-defined]
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="workspace")  # type: ignore[attr-defined]
    trt.BuilderFlag = types.SimpleNamespace(FP16="fp16")  # type: ignore[attr-defined]
    trt.nptype = lambda dtype: np.float32  # type: ignore[attr-defined]
    return trt


def test_tensorrt_backend_flow_with_fakes(
    exported: ExportedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from me_perception.backends import tensorrt_backend as tb

    trt = _fake_tensorrt()
    cudart = _FakeCudart()
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(tb, "_import_cudart", lambda: cudart)
    ref = TorchBackend(exported.checkpoint_path)

    be = create_backend("auto", onnx_path=exported.onnx_path, engine_cache_dir=tmp_path)
    assert isinstance(be, tb.TensorRTBackend)
    assert be.built_engine and be.precision == "fp16" and be.engine_path.is_file()
    assert be.device == "cuda:0 (Fake GPU)" and be.max_batch == 4
    assert (tmp_path / be.engine_path.name).with_suffix(".json").is_file()
    assert list(tmp_path.glob("timing.*.cache"))
    for n in (1, 6):  # padded and chunked
        inputs = _inputs(n, seed=n)
        got, want = be.step(inputs), ref.step(inputs)
        for name, x in got.as_dict().items():
            np.testing.assert_allclose(x, want.as_dict()[name], atol=1e-4, err_msg=name)
    be.close()
    be.close()  # idempotent
    assert not cudart.blocks  # all device memory freed

    again = tb.TensorRTBackend(exported.onnx_path, cache_dir=tmp_path)
    assert not again.built_engine and trt.builds == 1  # type: ignore[attr-defined]
    again.close()

    again.engine_path.write_bytes(b"corrupt")  # e.g. written by another TensorRT version
    rebuilt = tb.TensorRTBackend(exported.onnx_path, cache_dir=tmp_path)
    assert rebuilt.built_engine and trt.builds == 2  # type: ignore[attr-defined]
    rebuilt.close()

    monkeypatch.setattr(trt, "__version__", "11.0.0")  # new TensorRT -> new key -> rebuild
    upgraded = tb.TensorRTBackend(exported.onnx_path, cache_dir=tmp_path, fp16=False)
    assert upgraded.built_engine and upgraded.precision == "fp32"
    assert upgraded.engine_path != rebuilt.engine_path
    assert not rebuilt.engine_path.exists()  # stale engine of the same model removed
    upgraded.close()
