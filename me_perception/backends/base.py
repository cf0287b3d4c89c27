"""The inference-backend interface shared by TensorRT, ONNX Runtime and PyTorch.

A backend runs the streaming step on numpy arrays. The base class owns the batching policy so
all backends behave the same: batches larger than ``max_batch`` are split into chunks, and
static-shape backends get each chunk zero-padded to ``max_batch`` (padded rows are discarded).
"""

from __future__ import annotations

import abc
from types import TracebackType

import numpy as np

from me_perception.model.config import ModelConfig
from me_perception.model.step_io import StepInputs, StepOutputs


class BackendError(RuntimeError):
    """A backend cannot be created or cannot run."""


class InferenceBackend(abc.ABC):
    """Runs ``StepInputs -> StepOutputs`` for up to any number of faces.

    Attributes:
        name: "tensorrt", "onnxruntime" or "torch".
        device: human-readable device, e.g. "cpu", "cuda:0 (NVIDIA H100)".
        max_batch: faces per underlying call; larger batches are chunked.
        config: the model's configuration (crop size, classes, temporal parameters).
        model_id: identifier of the loaded model.
    """

    name: str = "base"
    #: static-shape backends need every call padded to exactly ``max_batch`` rows
    pads_batch: bool = True

    def __init__(self, config: ModelConfig, max_batch: int, model_id: str, device: str) -> None:
        self.config = config
        self.max_batch = int(max_batch)
        self.model_id = model_id
        self.device = device
        self._closed = False

    def describe(self) -> str:
        return f"{self.name} on {self.device} (model {self.model_id}, max batch {self.max_batch})"

    def step(self, inputs: StepInputs) -> StepOutputs:
        """Run one step for ``inputs.batch_size`` faces (0 is allowed)."""
        if self._closed:
            raise BackendError(f"{self.name} backend is closed")
        self._validate(inputs)
        n = inputs.batch_size
        if n == 0:
            return self._empty_outputs()
        parts = []
        for start in range(0, n, self.max_batch):
            stop = min(start + self.max_batch, n)
            chunk = inputs.slice(start, stop)
            if self.pads_batch:
                chunk = chunk.padded(self.max_batch)
            out = self._run(chunk)
            parts.append(out.slice(0, stop - start))
        return StepOutputs.concat(parts)

    def check(self) -> None:
        """One step on a blank face: the outputs must have the shapes the model's metadata
        promises (per face: its class count, feature map, memory size) and be finite.

        Run at start-up, so a model that disagrees with its metadata is refused with the
        reason instead of failing (or publishing wrong class lists) on every face later.
        """
        cfg = self.config
        z = np.zeros
        blank = StepInputs(
            crop=z((1, *cfg.crop_shape), np.float32),
            past_feature=z((1, *cfg.feature_shape), np.float32),
            baseline=z((1, *cfg.feature_shape), np.float32),
            hidden=z((1, cfg.hidden_size), np.float32),
            primed=z((1, 1), np.float32),
        )
        try:
            out = self.step(blank)
        except Exception as exc:
            raise BackendError(f"model check: one step on a blank face failed: {exc}") from None
        expected = self._empty_outputs()
        for name, want in expected.as_dict().items():
            got = getattr(out, name)
            if tuple(got.shape) != (1, *want.shape[1:]):
                raise BackendError(
                    f"model check: output {name!r} has shape {tuple(got.shape[1:])} per face, "
                    f"the model's metadata needs {tuple(want.shape[1:])}"
                    + (
                        f" ({cfg.num_classes} classes: {', '.join(cfg.classes)})"
                        if name == "class_probs"
                        else ""
                    )
                )
            if not np.all(np.isfinite(got)):
                raise BackendError(f"model check: output {name!r} is not finite on a blank face")

    @abc.abstractmethod
    def _run(self, inputs: StepInputs) -> StepOutputs:
        """Run one chunk (exactly ``max_batch`` rows if ``pads_batch``)."""

    def close(self) -> None:
        """Release sessions / GPU memory. Idempotent."""
        self._closed = True

    def __enter__(self) -> InferenceBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _validate(self, inputs: StepInputs) -> None:
        cfg = self.config
        n = inputs.batch_size
        expected = {
            "crop": (n, *cfg.crop_shape),
            "past_feature": (n, *cfg.feature_shape),
            "baseline": (n, *cfg.feature_shape),
            "hidden": (n, cfg.hidden_size),
            "primed": (n, 1),
        }
        for name, shape in expected.items():
            arr = getattr(inputs, name)
            if tuple(arr.shape) != shape:
                raise ValueError(f"input {name!r} has shape {tuple(arr.shape)}, expected {shape}")
            if arr.dtype != np.float32:
                raise ValueError(f"input {name!r} has dtype {arr.dtype}, expected float32")

    def _empty_outputs(self) -> StepOutputs:
        cfg = self.config
        z = np.zeros
        return StepOutputs(
            feature=z((0, *cfg.feature_shape), np.float32),
            spot_probs=z((0, 3), np.float32),
            class_probs=z((0, cfg.num_classes), np.float32),
            intensity=z((0, 1), np.float32),
            hidden_out=z((0, cfg.hidden_size), np.float32),
        )
