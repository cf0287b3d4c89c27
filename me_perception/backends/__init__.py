"""Inference backends for the streaming step and the ``create_backend`` factory.

``create_backend("auto", ...)`` picks, in order, TensorRT > ONNX Runtime CUDA > ONNX Runtime
CPU > PyTorch, and logs why each better option was skipped. Importing this package does not
import torch or TensorRT; each backend imports its runtime when it is created.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from me_perception.backends.base import BackendError, InferenceBackend

_LOG = logging.getLogger(__name__)

BACKEND_NAMES = ("auto", "tensorrt", "onnxruntime", "onnxruntime-cuda", "onnxruntime-cpu", "torch")

__all__ = [
    "BACKEND_NAMES",
    "BackendError",
    "BackendSelection",
    "InferenceBackend",
    "create_backend",
]


@dataclass
class BackendSelection:
    """Why ``auto`` chose what it chose (also logged): one line per option tried."""

    chosen: str = ""
    reasons: list[str] = field(default_factory=list)


def create_backend(
    name: str = "auto",
    onnx_path: str | os.PathLike[str] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    *,
    intra_op_threads: int = 2,
    torch_threads: int | None = 1,
    engine_cache_dir: str | os.PathLike[str] | None = None,
    fp16: bool = True,
    workspace_bytes: int | None = None,
    device_id: int = 0,
    max_batch: int = 8,
    selection: BackendSelection | None = None,
) -> InferenceBackend:
    """Create a backend by name.

    Args:
        name: one of ``BACKEND_NAMES``. ``onnxruntime`` uses CUDA if available else CPU.
        onnx_path: exported step model (needed by tensorrt / onnxruntime).
        checkpoint: safetensors checkpoint (needed by torch).
        intra_op_threads: ONNX Runtime CPU threads.
        torch_threads: threads for the torch backend (process-wide ``torch.set_num_threads``;
            None leaves torch's setting alone). Default 1: with 2 threads, torch's OpenMP pool
            stalled single steps by 100-170 ms whenever another process held a core on the
            2-core target, while 1 thread was as fast at batch 1-5 and steady.
        engine_cache_dir: TensorRT engine cache directory.
        fp16: TensorRT FP16 when supported.
        workspace_bytes: TensorRT builder workspace bound (default 256 MiB).
        device_id: CUDA device.
        max_batch: chunk size for the torch backend (others read it from the ONNX file).
        selection: if given, filled with the decision trail (for diagnostics).

    Raises:
        BackendError: the named backend (or, for auto, every option) cannot be created.
    """
    sel = selection if selection is not None else BackendSelection()
    if name not in BACKEND_NAMES:
        raise ValueError(f"unknown backend {name!r}; choose from {BACKEND_NAMES}")

    def note(msg: str) -> None:
        sel.reasons.append(msg)
        _LOG.info("backend selection: %s", msg)

    def make_trt() -> InferenceBackend:
        from me_perception.backends.tensorrt_backend import DEFAULT_WORKSPACE_BYTES, TensorRTBackend

        if onnx_path is None:
            raise BackendError("tensorrt needs onnx_path")
        return TensorRTBackend(
            onnx_path,
            cache_dir=engine_cache_dir,
            fp16=fp16,
            workspace_bytes=workspace_bytes or DEFAULT_WORKSPACE_BYTES,
            device_id=device_id,
        )

    def make_ort(device: str) -> InferenceBackend:
        from me_perception.backends.onnxruntime_backend import OnnxRuntimeBackend

        if onnx_path is None:
            raise BackendError("onnxruntime needs onnx_path")
        return OnnxRuntimeBackend(
            onnx_path, device=device, intra_op_threads=intra_op_threads, cuda_device_id=device_id
        )

    def make_torch() -> InferenceBackend:
        try:
            from me_perception.backends.torch_backend import TorchBackend
        except ImportError as exc:
            raise BackendError(f"torch is not installed: {exc}") from None
        if checkpoint is None:
            raise BackendError("torch needs checkpoint")
        return TorchBackend(checkpoint, max_batch=max_batch, num_threads=torch_threads)

    makers = {
        "tensorrt": make_trt,
        "onnxruntime": lambda: make_ort("auto"),
        "onnxruntime-cuda": lambda: make_ort("cuda"),
        "onnxruntime-cpu": lambda: make_ort("cpu"),
        "torch": make_torch,
    }
    if name != "auto":
        backend = makers[name]()
        sel.chosen = backend.name
        note(f"{name} requested: using {backend.describe()}")
        return backend

    from me_perception.backends.onnxruntime_backend import available_providers
    from me_perception.backends.tensorrt_backend import tensorrt_available

    candidates: list[tuple[str, str | None]] = []
    trt_ok, trt_why = tensorrt_available()
    candidates.append(("tensorrt", None if trt_ok and onnx_path else trt_why or "no onnx_path"))
    providers = available_providers()
    if not providers:
        ort_skip: str | None = "onnxruntime not installed"
    elif onnx_path is None:
        ort_skip = "no onnx_path"
    else:
        ort_skip = None
    cuda_skip = ort_skip or (
        None if "CUDAExecutionProvider" in providers else "no CUDAExecutionProvider"
    )
    candidates.append(("onnxruntime-cuda", cuda_skip))
    candidates.append(("onnxruntime-cpu", ort_skip))
    candidates.append(("torch", None if checkpoint is not None else "no checkpoint"))
    for cand, skip in candidates:
        if skip is not None:
            note(f"skip {cand}: {skip}")
            continue
        try:
            backend = makers[cand]()
        except (BackendError, ImportError, OSError, ValueError) as exc:
            note(f"skip {cand}: failed to start ({exc})")
            continue
        sel.chosen = backend.name
        note(f"chose {cand}: {backend.describe()}")
        _LOG.info("inference backend: %s", backend.describe())
        return backend
    raise BackendError("no usable backend: " + "; ".join(sel.reasons))
