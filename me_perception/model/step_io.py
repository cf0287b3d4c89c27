"""The tensors of one streaming step, as numpy arrays (no torch).

These two dataclasses are the contract between the per-face feature buffer (which gathers the
inputs and scatters the outputs) and every inference backend. Field names equal the ONNX graph's
input/output names, so a backend can feed ``as_dict()`` straight into a session.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from me_perception.model.config import STEP_INPUT_NAMES, STEP_OUTPUT_NAMES


@dataclass
class StepInputs:
    """Inputs of one step for B faces (all float32, C-contiguous).

    crop (B, in_ch, S, S) in [0, 1]; past_feature and baseline (B, C, h, w); hidden (B, H);
    primed (B, 1): 1.0 where the face's buffer holds earlier frames, 0.0 on its first frame.
    """

    crop: np.ndarray
    past_feature: np.ndarray
    baseline: np.ndarray
    hidden: np.ndarray
    primed: np.ndarray

    @property
    def batch_size(self) -> int:
        return int(self.crop.shape[0])

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in STEP_INPUT_NAMES}

    def slice(self, start: int, stop: int) -> StepInputs:
        return StepInputs(**{k: v[start:stop] for k, v in self.as_dict().items()})

    def padded(self, size: int) -> StepInputs:
        """Zero-pad the batch to ``size`` rows (static-shape engines need a fixed batch)."""
        n = self.batch_size
        if n == size:
            return self
        if n > size:
            raise ValueError(f"batch {n} exceeds {size}")
        out = {}
        for k, v in self.as_dict().items():
            p = np.zeros((size, *v.shape[1:]), dtype=np.float32)
            p[:n] = v
            out[k] = p
        return StepInputs(**out)


@dataclass
class StepOutputs:
    """Outputs of one step for B faces (float32).

    feature F_t (B, C, h, w); spot_probs (B, 3) over (neutral, micro, macro); class_probs (B, K);
    intensity (B, 1) in [0, 1]; hidden_out (B, H), the new GRU state.
    """

    feature: np.ndarray
    spot_probs: np.ndarray
    class_probs: np.ndarray
    intensity: np.ndarray
    hidden_out: np.ndarray

    @property
    def batch_size(self) -> int:
        return int(self.feature.shape[0])

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in STEP_OUTPUT_NAMES}

    def slice(self, start: int, stop: int) -> StepOutputs:
        return StepOutputs(**{k: v[start:stop] for k, v in self.as_dict().items()})

    @staticmethod
    def concat(parts: list[StepOutputs]) -> StepOutputs:
        if len(parts) == 1:
            return parts[0]
        return StepOutputs(
            **{
                f.name: np.concatenate([getattr(p, f.name) for p in parts], axis=0)
                for f in dataclasses.fields(StepOutputs)
            }
        )
