"""Per-face temporal feature buffer (numpy only, no torch).

Each tracked face owns a ring of its last N feature maps F_t, a slow exponential-moving-average
"neutral" baseline B_t and the GRU state. The network's streaming step reads F_{t-k}, B_t and the
state from here and writes F_t and the new state back, so each frame's spatial features are
computed once and the per-frame cost does not depend on the window length.

k, N and the baseline time constant are given in seconds and converted with the frame rate, so
30 fps webcams and 200 fps high-speed cameras use the same model. Semantics (identical to
``MicroExpressionNet.window``):

* after a reset the first frame is processed with ``primed = 0``: F_{t-k} = B_t = F_t, state 0;
* frame t (counted from the reset) uses F_{max(t-k, 0)}, i.e. the ring is primed with F_0;
* B_0 = F_0 and, after frame t is processed, B_{t+1} = B_t + alpha (F_t - B_t) with
  alpha = 1 - exp(-1 / (tau * fps)).

All work per frame and face is O(C*h*w): one feature map is written into a preallocated ring
slot and one read by index; the ring is never shifted or copied.

The buffers keep no clock of their own: the pipeline's
:class:`~me_perception.perception.stream_clock.StreamClock` decides what a frame's stamp means
and the bank obeys (``restart`` on a gap, ``remove`` for a face that is gone; a repeated stamp
never reaches it).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from me_perception.model.config import ModelConfig
from me_perception.model.step_io import StepInputs, StepOutputs


def frames_for(seconds: float, fps: float) -> int:
    """Seconds -> whole frames at ``fps`` (rounded, at least 1)."""
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    return max(1, round(seconds * fps))


def ema_alpha(tau_s: float, fps: float) -> float:
    """Per-frame EMA weight for time constant ``tau_s``: after tau seconds a step change has
    reached 1 - 1/e of its size, whatever the frame rate."""
    if fps <= 0 or tau_s <= 0:
        raise ValueError("fps and tau_s must be > 0")
    return 1.0 - math.exp(-1.0 / (tau_s * fps))


class ResetReason(str, enum.Enum):
    """Why a face's buffer was (re)started."""

    NEW = "new"  # first time this face id is seen
    TIME_GAP = "time_gap"  # the stream clock saw a gap: contrasts would span it
    MANUAL = "manual"
    RECONFIGURED = "reconfigured"  # frame rate changed, so k/N/alpha changed
    NON_FINITE = "non_finite"  # the step produced NaN/inf (bad crop); not stored


@dataclass(frozen=True)
class BufferConfig:
    """Buffer geometry and timing.

    Attributes:
        feature_shape: (C, h, w) of F_t (``ModelConfig.feature_shape``).
        hidden_size: GRU state size.
        fps: frame rate used to convert seconds to frames (use the measured rate).
        k_seconds: short-range contrast lag.
        n_seconds: ring length; clamped so the ring holds at least k + 1 frames.
        baseline_tau_s: neutral-baseline time constant.
    """

    feature_shape: tuple[int, int, int]
    hidden_size: int
    fps: float
    k_seconds: float = 0.1
    n_seconds: float = 0.5
    baseline_tau_s: float = 2.0

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.k_seconds <= 0 or self.n_seconds <= 0 or self.baseline_tau_s <= 0:
            raise ValueError("k_seconds, n_seconds and baseline_tau_s must be > 0")

    @classmethod
    def from_model(cls, cfg: ModelConfig, fps: float, **overrides: object) -> BufferConfig:
        """Buffer configuration matching a model's feature shape and temporal assumptions."""
        base = cls(
            feature_shape=cfg.feature_shape,
            hidden_size=cfg.hidden_size,
            fps=fps,
            k_seconds=cfg.k_seconds,
            n_seconds=cfg.n_seconds,
            baseline_tau_s=cfg.baseline_tau_s,
        )
        return replace(base, **overrides) if overrides else base  # type: ignore[arg-type]

    @property
    def k_frames(self) -> int:
        return frames_for(self.k_seconds, self.fps)

    @property
    def n_frames(self) -> int:
        return max(frames_for(self.n_seconds, self.fps), self.k_frames + 1)

    @property
    def alpha(self) -> float:
        return ema_alpha(self.baseline_tau_s, self.fps)


class FaceFeatureBuffer:
    """One face's ring of feature maps, baseline and GRU state."""

    def __init__(self, config: BufferConfig) -> None:
        self.config = config
        self._k = config.k_frames
        self._n = config.n_frames
        self._alpha = np.float32(config.alpha)
        self._ring = np.zeros((self._n, *config.feature_shape), dtype=np.float32)
        self._baseline = np.zeros(config.feature_shape, dtype=np.float32)
        self._tmp = np.zeros(config.feature_shape, dtype=np.float32)
        self._hidden = np.zeros((config.hidden_size,), dtype=np.float32)
        self._zero_hidden = np.zeros((config.hidden_size,), dtype=np.float32)
        self._frames = 0  # frames pushed since the last reset
        self.last_reset: ResetReason = ResetReason.NEW

    @property
    def k_frames(self) -> int:
        return self._k

    @property
    def n_frames(self) -> int:
        return self._n

    @property
    def frames_since_reset(self) -> int:
        return self._frames

    @property
    def primed(self) -> bool:
        """True once at least one frame has been pushed since the last reset."""
        return self._frames > 0

    def set_alpha(self, config: BufferConfig) -> None:
        """Take the baseline weight of ``config``; ring geometry must match."""
        if (config.k_frames, config.n_frames) != (self._k, self._n):
            raise ValueError("k/N changed: create a new buffer instead")
        self.config = config
        self._alpha = np.float32(config.alpha)

    def reset(self, reason: ResetReason = ResetReason.MANUAL) -> None:
        """Forget the history; O(1) (old slots are never read before being overwritten)."""
        self._frames = 0
        self._hidden[:] = 0.0
        self.last_reset = reason

    def feature_at_lag(self, lag: int) -> np.ndarray:
        """F_{t-lag} for the frame t about to be processed, clamped to the oldest frame since
        the reset (a read-only view into the ring). Requires ``primed``."""
        if not self.primed:
            raise RuntimeError("buffer is empty")
        if lag < 1 or lag > self._n:
            raise ValueError(f"lag must be in [1, {self._n}], got {lag}")
        t = self._frames
        idx = max(t - lag, 0, t - self._n)
        view = self._ring[idx % self._n]
        view.flags.writeable = False
        return view

    def past_feature(self) -> np.ndarray:
        """F_{t-k} (clamped to F_0 during the first k frames)."""
        return self.feature_at_lag(self._k)

    @property
    def baseline(self) -> np.ndarray:
        return self._baseline

    @property
    def hidden(self) -> np.ndarray:
        return self._hidden if self.primed else self._zero_hidden

    def push(self, feature: np.ndarray, hidden: np.ndarray) -> None:
        """Store F_t and the new GRU state after the step, then advance the baseline."""
        slot = self._ring[self._frames % self._n]
        slot.flags.writeable = True
        slot[...] = feature
        if self._frames == 0:
            self._baseline[...] = feature
        # B <- B + alpha (F - B), float32, same order of operations as the window form.
        np.subtract(slot, self._baseline, out=self._tmp)
        self._tmp *= self._alpha
        self._baseline += self._tmp
        self._hidden[...] = hidden
        self._frames += 1


class FeatureBufferBank:
    """Buffers for all tracked faces, keyed by face id, with batched gather / scatter.

    Per frame::

        bank.restart(ResetReason.TIME_GAP)             # only when the stream clock says so
        inputs = bank.gather(face_ids, crops)          # creates buffers for new faces
        outputs = backend.step(inputs)
        bank.scatter(face_ids, outputs)
        bank.remove(lost_id)                           # a face the tracker dropped

    Each buffer's ``last_reset`` tells why it last (re)started.
    """

    def __init__(self, config: BufferConfig) -> None:
        self.config = config
        self._buffers: dict[str, FaceFeatureBuffer] = {}
        self._geometry_k, self._geometry_n = config.k_frames, config.n_frames

    def __len__(self) -> int:
        return len(self._buffers)

    def __contains__(self, face_id: object) -> bool:
        return face_id in self._buffers

    @property
    def face_ids(self) -> list[str]:
        return list(self._buffers)

    def buffer(self, face_id: str) -> FaceFeatureBuffer:
        return self._buffers[face_id]

    def gather(self, face_ids: Sequence[str], crops: np.ndarray) -> StepInputs:
        """Build the step inputs for ``face_ids`` (in that order); new faces get a buffer.

        ``crops`` is (B, in_ch, S, S) float32 in [0, 1], row i belonging to ``face_ids[i]``.
        """
        n = len(face_ids)
        if len(set(face_ids)) != n:
            raise ValueError("duplicate face ids in one frame")
        if crops.shape[0] != n:
            raise ValueError(f"{crops.shape[0]} crops for {n} face ids")
        cfg = self.config
        past = np.empty((n, *cfg.feature_shape), dtype=np.float32)
        base = np.empty((n, *cfg.feature_shape), dtype=np.float32)
        hidden = np.empty((n, cfg.hidden_size), dtype=np.float32)
        primed = np.empty((n, 1), dtype=np.float32)
        for i, fid in enumerate(face_ids):
            buf = self._buffers.get(fid)
            if buf is None:
                buf = self._buffers[fid] = FaceFeatureBuffer(cfg)
            if buf.primed:
                past[i] = buf.past_feature()
                base[i] = buf.baseline
                hidden[i] = buf.hidden
                primed[i] = 1.0
            else:
                past[i] = 0.0
                base[i] = 0.0
                hidden[i] = 0.0
                primed[i] = 0.0
        return StepInputs(
            crop=np.ascontiguousarray(crops, dtype=np.float32),
            past_feature=past,
            baseline=base,
            hidden=hidden,
            primed=primed,
        )

    def scatter(self, face_ids: Sequence[str], outputs: StepOutputs) -> list[str]:
        """Write each face's F_t and new state back into its buffer.

        A face whose F_t or state is not finite (NaN/inf from a broken crop) is reset instead
        of stored, so one bad frame cannot poison its history; those ids are returned and
        their outputs for this frame should be discarded by the caller.
        """
        if outputs.batch_size != len(face_ids):
            raise ValueError(f"{outputs.batch_size} outputs for {len(face_ids)} face ids")
        bad: list[str] = []
        for i, fid in enumerate(face_ids):
            buf = self._buffers[fid]
            feat, hid = outputs.feature[i], outputs.hidden_out[i]
            if not (np.isfinite(feat).all() and np.isfinite(hid).all()):
                buf.reset(ResetReason.NON_FINITE)
                bad.append(fid)
            else:
                buf.push(feat, hid)
        return bad

    def remove(self, face_id: str) -> bool:
        """Forget a face (track lost). Returns whether it was known."""
        return self._buffers.pop(face_id, None) is not None

    def restart(self, reason: ResetReason) -> None:
        """Restart every face's history (e.g. a frame gap); the faces stay known."""
        for buf in self._buffers.values():
            buf.reset(reason)

    def set_fps(self, fps: float) -> bool:
        """Adopt a new measured frame rate.

        If k or N (in frames) change, every buffer restarts (history at the old rate would be
        misread) and True is returned. Otherwise only the baseline weight alpha is updated in
        place and the history is kept (returns False), so small drifts of the measured rate do
        not reset anyone.
        """
        new = replace(self.config, fps=fps)
        self.config = new
        if (new.k_frames, new.n_frames) == (self._geometry_k, self._geometry_n):
            for buf in self._buffers.values():
                buf.set_alpha(new)
            return False
        self._geometry_k, self._geometry_n = new.k_frames, new.n_frames
        self._buffers = {fid: FaceFeatureBuffer(new) for fid in self._buffers}
        for buf in self._buffers.values():
            buf.last_reset = ResetReason.RECONFIGURED
        return True
