"""The training-free spotter: region-of-interest optical flow with causal robust statistics.

Why it exists: on faces a model never saw, the methods that transfer are the ones that read
facial motion and nothing else. MEGC 2022's winning spotter on unseen data was of this family
(aligned face, flow in brow, eyelid, nose-side and mouth regions, head motion subtracted, a
robust magnitude per region, peaks with duration limits). It needs no weights, so a robot can
run it where no trained model is trusted, and it is the baseline the learned model must beat.

Per frame and face, from a :class:`~me_perception.perception.motion.MotionSample`:

* ``level`` = the largest region z-score (displacement from the neutral reference against the
  face's own running noise), lightly smoothed over ``smooth_s``; the expression score is a
  logistic of it around ``z_on``; event boundaries use ``level / z_bound``;
* **blinks and eye movements** (the motion centroid of the upper face at the eyelids, not the
  brows, while the lower face stays quiet) and **head movements** (the motion front end's head
  speed) are rejected: never a micro-expression, reported in ``p_macro``;
* micro vs macro is duration: up to ``max_micro_s`` the score is ``p_micro``, beyond it
  ``p_macro`` (the event logic makes the same split for events);
* a label from FACS action units: each active region votes for the action unit its mean
  displacement direction shows (brows up AU1/2 -> surprise, brows down/in AU4 -> disgust, nose
  sides or upper lip up AU9/10 -> disgust, mouth corners up AU12 -> happiness, corners down
  AU15 / pulled sideways AU14 / chin up AU17 -> repression, jaw down AU26 -> surprise), votes
  weighted by the square of the region's excess z. The mapping follows CASME II's coding of
  emotions from action units; it is a heuristic, not a trained classifier (docs/spotting.md).

All parameters are in seconds and face-relative units (z-scores of IOD displacements), so one
setting serves 30 and 200 fps and any face size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from me_perception.model.config import LABEL_SETS
from me_perception.perception.face_regions import REGIONS, UPPER_FACE
from me_perception.perception.motion import MotionSample
from me_perception.perception.spotting import ROI_FLOW, SpotOutput

__all__ = ["RoiFlowSpotter", "RoiSpotterConfig", "action_unit_votes"]

CLASSES = LABEL_SETS["casme2_5"]
_HAPPY, _DISGUST, _REPRESSION, _SURPRISE, _OTHERS = range(5)


@dataclass(frozen=True)
class RoiSpotterConfig:
    """Training-free spotter settings (z-scores, seconds, IOD)."""

    z_on: float = 3.0
    """Region z-score at which the expression score is 0.5."""
    z_width: float = 0.6
    """Logistic width w: score = 1 / (1 + exp(-(z - z_on) / w)), 0.2 at z_on - 1.39 w."""
    z_bound: float = 1.5
    """z-score that counts as "moving above noise" for event boundaries (level = z / z_bound)."""
    smooth_s: float = 0.03
    max_micro_s: float = 0.5
    blink_centroid_iod: float = -0.18
    """Upper-face motion centred below this height (IOD from the eye line, up is negative) is
    eyelid motion: a blink or an eye movement."""
    head_macro_score: float = 0.6
    intensity_ref_iod: float = 0.08
    """Displacement (IOD) reported as intensity 1."""
    thresholds: tuple[float, float] = (0.5, 0.2)


def _region_vote(name: str, vec: np.ndarray) -> int:
    """Class index the action unit shown by ``vec`` (x right, y down, IOD) in region ``name``
    votes for."""
    vx, vy = float(vec[0]), float(vec[1])
    norm = math.hypot(vx, vy) + 1e-12
    up, down = vy < -0.35 * norm, vy > 0.35 * norm
    if name.startswith("brow"):
        return _SURPRISE if up else _DISGUST
    if name.startswith("lid"):
        return _OTHERS
    if name.startswith("nose") or name == "lip":
        return _DISGUST if up else _OTHERS
    if name.startswith("mouth"):
        outward = -vx if name.endswith("_l") else vx
        if up:
            return _HAPPY
        if down or outward > 0:
            return _REPRESSION
        return _OTHERS
    if name == "chin":
        return _REPRESSION if up else _SURPRISE
    return _OTHERS


def action_unit_votes(sample: MotionSample, z_min: float = 1.0) -> np.ndarray:
    """Class probabilities (CASME II 5 classes) from the regions' motion directions."""
    votes = np.full(len(CLASSES), 0.02)
    for i, region in enumerate(REGIONS):
        excess = float(sample.region_z[i]) - z_min
        if excess > 0:
            votes[_region_vote(region.name, sample.region_vec[i])] += excess * excess
    return votes / votes.sum()


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


class _FaceState:
    def __init__(self) -> None:
        self.level = 0.0
        self.last_s: float | None = None
        self.run_start: float | None = None


class RoiFlowSpotter:
    """Training-free spotter (see the module docstring); implements the ``Spotter`` contract."""

    class_names = CLASSES
    model_id = ROI_FLOW

    def __init__(self, config: RoiSpotterConfig | None = None) -> None:
        self.config = config or RoiSpotterConfig()
        self.default_thresholds = self.config.thresholds
        self._faces: dict[str, _FaceState] = {}
        self._upper = np.array([r.name in UPPER_FACE for r in REGIONS])
        self._lids = np.array([r.name.startswith("lid") for r in REGIONS])

    def step(
        self, face_ids: Sequence[str], samples: Sequence[MotionSample], crops: np.ndarray
    ) -> SpotOutput:
        out = SpotOutput.empty(len(face_ids), len(CLASSES))
        for i, (fid, sample) in enumerate(zip(face_ids, samples, strict=True)):
            self._face(self._faces.setdefault(fid, _FaceState()), sample, out, i)
        return out

    def is_blink(self, sample: MotionSample) -> bool:
        """Eyelid motion with a quiet lower face (blink, eye movement)."""
        z = sample.region_z
        top = int(np.argmax(z))
        if not self._upper[top] or z[top] < self.config.z_bound:
            return False
        lower_quiet = float(z[~self._upper].max()) < self.config.z_on
        centred_low = sample.upper_centroid > self.config.blink_centroid_iod
        return lower_quiet and (centred_low or bool(self._lids[top]))

    def _face(self, st: _FaceState, sample: MotionSample, out: SpotOutput, i: int) -> None:
        cfg = self.config
        dt = 0.0 if st.last_s is None else max(sample.stamp_s - st.last_s, 0.0)
        st.last_s = sample.stamp_s
        if sample.head_moving:
            st.level, st.run_start = 0.0, None
            out.p_macro[i], out.reject[i], out.level[i] = cfg.head_macro_score, True, 0.0
            return
        if sample.warming:
            st.level, st.run_start = 0.0, None
            out.level[i] = 0.0
            return
        # an expression is local; what moves every region at once (pose, light, coding) is not
        median = max(0.0, float(np.median(sample.region_z)))
        z = float(np.max(sample.region_z)) - median
        alpha = 1.0 if dt <= 0 else 1.0 - math.exp(-dt / max(cfg.smooth_s, 1e-6))
        st.level += alpha * (z - st.level)
        p = _logistic((st.level - cfg.z_on) / cfg.z_width)
        out.level[i] = st.level / cfg.z_bound
        out.intensity[i] = min(1.0, float(np.max(sample.region_mag)) / cfg.intensity_ref_iod)
        out.class_probs[i] = action_unit_votes(sample)
        if self.is_blink(sample):
            # a blink's motion must not linger in the smoothed level and start an event after it
            out.reject[i], out.p_macro[i], out.level[i] = True, p, 0.0
            st.level, st.run_start = 0.0, None
            return
        out.expression[i] = p
        if p >= 0.5:
            st.run_start = sample.stamp_s if st.run_start is None else st.run_start
        else:
            st.run_start = None
        long_run = st.run_start is not None and sample.stamp_s - st.run_start > cfg.max_micro_s
        if long_run:
            out.p_macro[i] = p
        else:
            out.p_micro[i] = p

    def remove(self, face_id: str) -> None:
        self._faces.pop(face_id, None)

    def restart(self) -> None:
        self._faces.clear()

    def set_fps(self, fps: float) -> bool:
        """Nothing to do: every setting is in seconds."""
        return False

    def close(self) -> None:
        """Nothing to release."""
