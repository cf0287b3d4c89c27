"""PyTorch backend: runs the network directly (reference, training machines, last resort)."""

from __future__ import annotations

import os

import numpy as np
import torch

from me_perception.backends.base import InferenceBackend
from me_perception.model.checkpoint import load_checkpoint
from me_perception.model.network import MicroExpressionNet
from me_perception.model.step_io import StepInputs, StepOutputs


class TorchBackend(InferenceBackend):
    """Runs :class:`MicroExpressionNet` in eval mode under ``torch.inference_mode``.

    Give either a ``checkpoint`` path (safetensors, loaded safely) or a ``model`` in memory.
    Batches are not padded (PyTorch handles any batch); ``max_batch`` only bounds chunk size.
    """

    name = "torch"
    pads_batch = False

    def __init__(
        self,
        checkpoint: str | os.PathLike[str] | None = None,
        model: MicroExpressionNet | None = None,
        device: str = "cpu",
        max_batch: int = 8,
        num_threads: int | None = None,
        model_id: str | None = None,
    ) -> None:
        if (checkpoint is None) == (model is None):
            raise ValueError("give exactly one of checkpoint or model")
        if checkpoint is not None:
            model, meta = load_checkpoint(checkpoint)
            model_id = model_id or meta.model_id
        assert model is not None
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        self._torch_device = torch.device(device)
        self._model = model.eval().to(self._torch_device)
        super().__init__(model.cfg, max_batch, model_id or "in-memory", str(self._torch_device))

    @property
    def model(self) -> MicroExpressionNet:
        return self._model

    def _run(self, inputs: StepInputs) -> StepOutputs:
        dev = self._torch_device
        args = [torch.from_numpy(a).to(dev) for a in inputs.as_dict().values()]
        with torch.inference_mode():
            outs = self._model(*args)
        return StepOutputs(*(o.detach().cpu().numpy().astype(np.float32, copy=False) for o in outs))
