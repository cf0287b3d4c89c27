"""ONNX Runtime backend (CUDA execution provider when available, else CPU)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from me_perception.backends.base import BackendError, InferenceBackend
from me_perception.model.config import STEP_OUTPUT_NAMES
from me_perception.model.export import read_onnx_metadata
from me_perception.model.step_io import StepInputs, StepOutputs

_LOG = logging.getLogger(__name__)


def available_providers() -> list[str]:
    """ONNX Runtime execution providers of the installed build ([] if not installed)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    return list(ort.get_available_providers())


class OnnxRuntimeBackend(InferenceBackend):
    """Runs the exported step with ONNX Runtime.

    Args:
        onnx_path: exported step model (with our metadata, see ``model.export``).
        device: "cpu", "cuda" or "auto" (CUDA if the provider is present).
        intra_op_threads: CPU threads per call; keep it at or below the cores left for the model
            (the default 2 suits the 2-core target; 0 = ONNX Runtime's default = all cores).
        relax_batch: the file has a static batch (for TensorRT). ONNX Runtime does not need that,
            so by default the batch dimension is made symbolic in memory and a single face is
            run as batch 1 instead of being padded to ``max_batch`` (several times faster on CPU).
            The graph itself has no batch-dependent constants, so results are identical.
        allow_spinning: let ONNX Runtime's worker threads busy-wait for the next call. Off by
            default: on a 2-core robot the spinning steals CPU from decoding and face detection
            running in the same process, for a gain of only tens of microseconds per call.
    """

    name = "onnxruntime"

    def __init__(
        self,
        onnx_path: str | os.PathLike[str],
        device: str = "auto",
        intra_op_threads: int = 2,
        relax_batch: bool = True,
        cuda_device_id: int = 0,
        allow_spinning: bool = False,
    ) -> None:
        try:
            import onnx
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendError(f"onnxruntime is not installed: {exc}") from None
        path = Path(onnx_path)
        info = read_onnx_metadata(path)
        providers_avail = ort.get_available_providers()
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
        use_cuda = device == "cuda" or (
            device == "auto" and "CUDAExecutionProvider" in providers_avail
        )
        if use_cuda and "CUDAExecutionProvider" not in providers_avail:
            raise BackendError(
                f"CUDAExecutionProvider not available (providers: {providers_avail})"
            )
        providers: list[str | tuple[str, dict[str, object]]] = ["CPUExecutionProvider"]
        if use_cuda:
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": cuda_device_id}))
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(intra_op_threads)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if allow_spinning else "0"
        )
        model = onnx.load(str(path))
        if relax_batch:
            for value in [*model.graph.input, *model.graph.output]:
                value.type.tensor_type.shape.dim[0].dim_param = "batch"
        try:
            self._session = ort.InferenceSession(model.SerializeToString(), so, providers=providers)
        except Exception as exc:  # ORT raises its own exception types
            raise BackendError(f"{path}: ONNX Runtime cannot load the model: {exc}") from None
        active = self._session.get_providers()
        on_cuda = "CUDAExecutionProvider" in active
        super().__init__(
            info.config,
            info.max_batch,
            info.metadata.model_id,
            f"cuda:{cuda_device_id}" if on_cuda else f"cpu ({intra_op_threads} threads)",
        )
        self.pads_batch = not relax_batch
        self.providers = active
        self.onnx_path = path
        _LOG.info("ONNX Runtime session on %s, providers %s", self.device, active)

    def _run(self, inputs: StepInputs) -> StepOutputs:
        outs = self._session.run(list(STEP_OUTPUT_NAMES), inputs.as_dict())
        return StepOutputs(*(np.asarray(o, dtype=np.float32) for o in outs))

    def close(self) -> None:
        self._session = None  # type: ignore[assignment]
        super().close()
