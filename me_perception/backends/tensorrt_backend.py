"""TensorRT backend (TensorRT 10 Python API + cuda-python), importable without torch.

The engine is built from the exported ONNX step (static shapes, FP16 when the GPU has fast FP16,
bounded workspace, persistent timing cache) and cached on disk by :mod:`engine_cache` under a
key of TensorRT version, GPU name and compute capability, precision, input shapes and the ONNX
file's sha256. The next start deserialises the cached engine instead of rebuilding (seconds
instead of minutes on a Jetson); a changed key or a failing deserialisation rebuilds it.

Inputs and outputs stay float32 at the engine boundary (FP16 is used inside), so the same
numpy arrays serve every backend. Device memory is allocated once for ``max_batch`` faces.

This module cannot be exercised on machines without an NVIDIA GPU; its cache logic is tested
separately and its runtime tests are skipped there.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from me_perception.backends.base import BackendError, InferenceBackend
from me_perception.backends.engine_cache import EngineCache, EngineKey
from me_perception.model.config import STEP_INPUT_NAMES, STEP_OUTPUT_NAMES
from me_perception.model.export import read_onnx_metadata, sha256_file
from me_perception.model.step_io import StepInputs, StepOutputs

_LOG = logging.getLogger(__name__)
DEFAULT_WORKSPACE_BYTES = 256 * 1024 * 1024
DEFAULT_CACHE_DIR = Path(
    os.environ.get("ME_PERCEPTION_ENGINE_CACHE", "~/.cache/me_perception/engines")
).expanduser()


def _import_cudart() -> Any:
    """cuda-python's runtime bindings (module path changed in cuda-python 12.6 / 13)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        from cuda import cudart  # type: ignore[no-redef]
    return cudart


def _check(result: Any, what: str) -> Any:
    """Unpack a cuda-python (err, *values) tuple, raising BackendError on error."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise BackendError(f"CUDA error in {what}: {err}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def tensorrt_available() -> tuple[bool, str]:
    """Whether TensorRT + cuda-python import and a CUDA GPU is visible, and why not."""
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        return False, f"tensorrt not importable ({exc})"
    try:
        cudart = _import_cudart()
    except ImportError as exc:
        return False, f"cuda-python not importable ({exc})"
    try:
        count = _check(cudart.cudaGetDeviceCount(), "cudaGetDeviceCount")
    except BackendError as exc:
        return False, str(exc)
    if not count:
        return False, "no CUDA device"
    return True, f"{count} CUDA device(s)"


def gpu_identity(device_id: int = 0) -> tuple[str, str]:
    """(GPU name, compute capability "major.minor") for the engine-cache key."""
    cudart = _import_cudart()
    props = _check(cudart.cudaGetDeviceProperties(device_id), "cudaGetDeviceProperties")
    name = props.name
    if isinstance(name, bytes):
        name = name.split(b"\0", 1)[0].decode("utf-8", "replace")
    return str(name).strip(), f"{props.major}.{props.minor}"


class TensorRTBackend(InferenceBackend):
    """Runs the step with a (cached) TensorRT engine.

    Args:
        onnx_path: exported step model.
        cache_dir: engine cache directory (default ``$ME_PERCEPTION_ENGINE_CACHE`` or
            ``~/.cache/me_perception/engines``).
        fp16: build with FP16 kernels when the GPU supports fast FP16.
        workspace_bytes: upper bound of the builder's scratch memory.
        device_id: CUDA device.
    """

    name = "tensorrt"

    def __init__(
        self,
        onnx_path: str | os.PathLike[str],
        cache_dir: str | os.PathLike[str] | None = None,
        fp16: bool = True,
        workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
        device_id: int = 0,
    ) -> None:
        try:
            import tensorrt as trt
        except ImportError as exc:
            raise BackendError(f"tensorrt is not installed: {exc}") from None
        ok, why = tensorrt_available()
        if not ok:
            raise BackendError(f"TensorRT backend unavailable: {why}")
        self._trt = trt
        self._cudart = _import_cudart()
        _check(self._cudart.cudaSetDevice(device_id), "cudaSetDevice")
        path = Path(onnx_path)
        info = read_onnx_metadata(path)
        self._logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(self._logger)
        has_fp16 = bool(getattr(builder, "platform_has_fast_fp16", True))
        precision = "fp16" if (fp16 and has_fp16) else "fp32"
        gpu_name, cc = gpu_identity(device_id)
        # The model name scopes stale-engine removal: two nodes sharing a cache directory with
        # different models that are both called model.onnx must not evict each other's engine.
        path_tag = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
        key = EngineKey.make(
            model_name=f"{path.stem}-{path_tag}",
            onnx_sha256=sha256_file(path),
            trt_version=str(trt.__version__),
            gpu_name=gpu_name,
            compute_capability=cc,
            precision=precision,
            input_shapes=info.input_shapes,
            extra={"workspace_bytes": str(workspace_bytes)},
        )
        self.cache = EngineCache(cache_dir or DEFAULT_CACHE_DIR)
        self.engine_path = self.cache.engine_path(key)
        runtime = trt.Runtime(self._logger)
        self._runtime = runtime
        engine = self.cache.load(key, runtime.deserialize_cuda_engine)
        self.built_engine = engine is None
        if engine is None:
            data = self._build(builder, path, precision, workspace_bytes, key)
            engine = runtime.deserialize_cuda_engine(data)
            if engine is None:
                raise BackendError(f"{path}: freshly built engine failed to deserialise")
            self.cache.store(key, data)
        self._engine = engine
        self._context = engine.create_execution_context()
        if self._context is None:
            raise BackendError("cannot create a TensorRT execution context (GPU memory?)")
        self._stream = _check(self._cudart.cudaStreamCreate(), "cudaStreamCreate")
        self._host: dict[str, np.ndarray] = {}
        self._device: dict[str, int] = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(engine.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            if dtype != np.float32:
                raise BackendError(f"engine tensor {name!r} is {dtype}, expected float32")
            host = np.zeros(shape, dtype=np.float32)
            ptr = _check(self._cudart.cudaMalloc(host.nbytes), "cudaMalloc")
            self._host[name] = host
            self._device[name] = int(ptr)
            self._context.set_tensor_address(name, int(ptr))
        missing = set(STEP_INPUT_NAMES + STEP_OUTPUT_NAMES) - set(self._host)
        if missing:
            raise BackendError(f"engine lacks tensors {sorted(missing)}")
        super().__init__(
            info.config, info.max_batch, info.metadata.model_id, f"cuda:{device_id} ({gpu_name})"
        )
        self.precision = precision
        _LOG.info(
            "TensorRT %s engine %s (%s) on %s",
            precision,
            self.engine_path.name,
            "built" if self.built_engine else "loaded from cache",
            gpu_name,
        )

    def _build(
        self, builder: Any, onnx_path: Path, precision: str, workspace: int, key: EngineKey
    ) -> bytes:
        trt = self._trt
        _LOG.warning(
            "building TensorRT %s engine for %s (this takes a while)", precision, onnx_path
        )
        network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(onnx_path.read_bytes()):
            errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise BackendError(f"{onnx_path}: TensorRT cannot parse the ONNX: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace))
        if precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        timing_path = self.cache.timing_cache_path(key)
        timing_bytes = b""
        if timing_path.is_file():
            timing_bytes = timing_path.read_bytes()
        timing = config.create_timing_cache(timing_bytes)
        if not config.set_timing_cache(timing, ignore_mismatch=False):
            _LOG.warning("timing cache %s rejected; starting a new one", timing_path)
            config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise BackendError(f"{onnx_path}: TensorRT engine build failed (see log)")
        try:
            timing_path.parent.mkdir(parents=True, exist_ok=True)
            timing_path.write_bytes(bytes(memoryview(config.get_timing_cache().serialize())))
        except OSError as exc:
            _LOG.warning("cannot save timing cache %s: %s", timing_path, exc)
        return bytes(memoryview(serialized))

    def _run(self, inputs: StepInputs) -> StepOutputs:
        cudart = self._cudart
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name, arr in inputs.as_dict().items():
            host = self._host[name]
            host[...] = arr
            _check(
                cudart.cudaMemcpyAsync(
                    self._device[name], host.ctypes.data, host.nbytes, h2d, self._stream
                ),
                "cudaMemcpyAsync H2D",
            )
        if not self._context.execute_async_v3(int(self._stream)):
            raise BackendError("TensorRT execute_async_v3 failed")
        for name in STEP_OUTPUT_NAMES:
            host = self._host[name]
            _check(
                cudart.cudaMemcpyAsync(
                    host.ctypes.data, self._device[name], host.nbytes, d2h, self._stream
                ),
                "cudaMemcpyAsync D2H",
            )
        _check(cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")
        return StepOutputs(*(self._host[n].copy() for n in STEP_OUTPUT_NAMES))

    def close(self) -> None:
        if self._closed:
            return
        for ptr in self._device.values():
            self._cudart.cudaFree(ptr)
        self._device.clear()
        if getattr(self, "_stream", None) is not None:
            self._cudart.cudaStreamDestroy(self._stream)
            self._stream = None
        self._context = None
        self._engine = None
        super().close()
