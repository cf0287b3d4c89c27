"""The learned spotter: the time-contrasted network with its recurrent memory, one streaming
step per frame through an inference backend (TensorRT, ONNX Runtime or PyTorch).

Its input per face is what the model's contract names: a motion model (``in_channels == 4``)
reads the motion map of :mod:`.motion` (D_b and D_k in IOD, identical for every face), an
appearance model (1 or 3 channels) reads the aligned crop. The per-face feature ring, slow
baseline and GRU state live in :mod:`.feature_buffer`, so the per-frame cost does not depend
on the window length. The event score is p_micro + p_macro (zero while the head moves, those
frames rejected); micro or macro is the event logic's decision by duration.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from me_perception.backends import InferenceBackend
from me_perception.model.config import ModelConfig
from me_perception.perception.feature_buffer import BufferConfig, FeatureBufferBank, ResetReason
from me_perception.perception.motion import MotionSample
from me_perception.perception.spotting import SpotOutput

__all__ = ["MOTION_CHANNELS", "NetworkSpotter"]

#: input channels of a motion model: D_b x, y and D_k x, y
MOTION_CHANNELS = 4


class NetworkSpotter:
    """A trained network behind the ``Spotter`` contract. ``thresholds`` are the model's
    chosen (on, off) event thresholds (from its metadata), if any."""

    def __init__(
        self,
        backend: InferenceBackend,
        model_config: ModelConfig,
        fps: float,
        thresholds: tuple[float, float] = (0.6, 0.4),
    ) -> None:
        self.backend = backend
        self.model_config = model_config
        self.class_names = tuple(model_config.classes)
        self.model_id = backend.model_id
        self.default_thresholds = thresholds
        self.reads_motion = model_config.in_channels == MOTION_CHANNELS
        self.bank = FeatureBufferBank(BufferConfig.from_model(model_config, fps))

    def step(
        self, face_ids: Sequence[str], samples: Sequence[MotionSample], crops: np.ndarray
    ) -> SpotOutput:
        n = len(face_ids)
        if self.reads_motion:
            # the network normalises inside ((x - norm_mean) / norm_std), as for crops
            size = self.model_config.crop_size
            crops = (
                np.stack([s.motion_map for s in samples])
                if n
                else np.zeros((0, MOTION_CHANNELS, size, size), np.float32)
            )
        outputs = self.backend.step(self.bank.gather(face_ids, crops))
        bad = set(self.bank.scatter(face_ids, outputs))
        heads = np.concatenate([outputs.spot_probs, outputs.class_probs, outputs.intensity], 1)
        rows = zip(face_ids, heads, strict=True)
        valid = np.array([f not in bad and np.isfinite(r).all() for f, r in rows], bool)
        valid = valid.reshape(n)
        spot = np.nan_to_num(outputs.spot_probs.astype(np.float64))
        moving = np.array([s.head_moving for s in samples], bool).reshape(n)
        p_micro = np.where(moving, 0.0, spot[:, 1])
        p_macro = np.where(moving, 0.0, spot[:, 2])
        # Events are driven by "an expression is showing" (p_micro + p_macro); the event logic
        # tells micro from macro by duration, as for the training-free spotter. Training
        # chooses the thresholds on this same score (learning/event_scoring.py).
        return SpotOutput(
            expression=p_micro + p_macro,
            p_micro=p_micro,
            p_macro=p_macro,
            class_probs=np.nan_to_num(outputs.class_probs.astype(np.float64)),
            intensity=np.nan_to_num(outputs.intensity[:, 0].astype(np.float64)),
            level=np.full(n, np.nan),
            reject=moving,
            valid=valid,
        )

    def remove(self, face_id: str) -> None:
        self.bank.remove(face_id)

    def restart(self) -> None:
        self.bank.restart(ResetReason.TIME_GAP)

    def set_fps(self, fps: float) -> bool:
        return self.bank.set_fps(fps)

    def close(self) -> None:
        self.backend.close()
