"""What a spotter is: per frame and face, measurements in, expression scores out.

Two spotters share this contract, so the pipeline, the node and the offline tools run either
one unchanged: the training-free region-of-interest optical-flow spotter
(:mod:`.roi_spotter`, needs no weights) and the learned network
(:mod:`.network_spotter`, a model directory). A spotter owns its per-face temporal state and
is told when a face is gone, when time jumped and when the frame rate changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from me_perception.perception.motion import MotionSample

__all__ = ["ROI_FLOW", "SpotOutput", "Spotter"]

#: ``model_path`` value that selects the training-free spotter
ROI_FLOW = "roi_flow"


@dataclass
class SpotOutput:
    """Per-face outputs of one step, row i for face i (arrays of length N).

    ``expression`` drives the event logic (hysteresis thresholds apply to it); ``p_micro`` and
    ``p_macro`` are what the per-frame state reports; ``level`` (>= 1 = moving above noise, NaN
    when the spotter has none) places event boundaries; ``reject`` marks movements that are not
    expressions (blinks, head movements); ``valid`` is False where the output is not usable
    (non-finite): such a face's temporal state was reset and nothing of it is published.
    """

    expression: np.ndarray
    p_micro: np.ndarray
    p_macro: np.ndarray
    class_probs: np.ndarray  # (N, C)
    intensity: np.ndarray
    level: np.ndarray
    reject: np.ndarray
    valid: np.ndarray

    @staticmethod
    def empty(n: int, classes: int) -> SpotOutput:
        """All-zero outputs for ``n`` faces (uniform class probabilities)."""
        return SpotOutput(
            expression=np.zeros(n),
            p_micro=np.zeros(n),
            p_macro=np.zeros(n),
            class_probs=np.full((n, classes), 1.0 / max(classes, 1)),
            intensity=np.zeros(n),
            level=np.full(n, np.nan),
            reject=np.zeros(n, bool),
            valid=np.ones(n, bool),
        )


class Spotter(Protocol):
    """A spotting method with per-face temporal state (not thread-safe)."""

    class_names: tuple[str, ...]
    model_id: str
    default_thresholds: tuple[float, float]
    """(on, off) thresholds on ``expression`` this spotter was tuned for."""

    def step(
        self, face_ids: Sequence[str], samples: Sequence[MotionSample], crops: np.ndarray
    ) -> SpotOutput:
        """One frame for the given faces (motion samples and aligned crops, row i = face i)."""
        ...

    def remove(self, face_id: str) -> None:
        """The face is gone: forget its state."""
        ...

    def restart(self) -> None:
        """Time jumped (a gap): restart every face's temporal state."""
        ...

    def set_fps(self, fps: float) -> bool:
        """The measured frame rate changed; True if the temporal state had to restart."""
        ...

    def close(self) -> None:
        """Release resources (sessions, GPU memory)."""
        ...
