"""The one owner of stream time: what each frame's stamp means for the temporal state.

Everything temporal in the pipeline (the per-face feature buffers, the recurrent memory, the
event detectors) depends on the frames forming one advancing sequence. Camera drivers and
recordings break that in a few ways; the :class:`StreamClock` classifies each frame's stamp
once, and the others act on its :class:`Tick` instead of keeping rules of their own:

``FIRST``      first frame, or first after a reset: state starts here.
``FRESH``      a new instant within the gap limit: everything advances.
``DUPLICATE``  the same stamp as the last frame (a driver re-sending, a recording written twice).
               A repeated stamp is *not a new instant*: nothing runs (no detection, tracking,
               network step or event logic), the frame's result repeats the previous frame's
               faces, so a stream with repeated frames gives the events of the same stream
               without them.
``GAP``        later than the last frame by more than the gap limit (frames lost, a paused
               recording): the feature buffers restart and open events are closed, truncated,
               at their last frame; face tracks are kept.
``BACKWARDS``  earlier than the last frame (a bag loop, a clock jump): every face is forgotten
               and all state restarts from this frame.

The gap limit is ``max(max_gap_s, gap_frames / fps)``: a quarter of a second by default, or
three frame periods on a slow camera. The frame rate starts at ``nominal_fps`` and is measured
as the median interval of the last ``fps_window`` forward steps; it is adopted when it differs
from the current one by more than ``fps_tolerance`` (relative), so the buffers can keep their
windows in seconds. Every tick that resets something carries a note for the frame's
diagnostics.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

import numpy as np

from me_perception.perception.stamps import NS_PER_S, s_to_ns

__all__ = ["ClockConfig", "StampKind", "StreamClock", "Tick"]


class StampKind(str, enum.Enum):
    """What a frame's stamp is, relative to the previous frame's (see the module docstring)."""

    FIRST = "first"
    FRESH = "fresh"
    DUPLICATE = "duplicate"
    GAP = "gap"
    BACKWARDS = "backwards"


@dataclass(frozen=True)
class ClockConfig:
    """Stream-time rules; times in seconds."""

    nominal_fps: float = 30.0
    fps_window: int = 30
    fps_tolerance: float = 0.2
    max_gap_s: float = 0.25
    gap_frames: float = 3.0

    def __post_init__(self) -> None:
        if self.nominal_fps <= 0:
            raise ValueError("nominal_fps must be > 0")
        if self.fps_window < 1 or self.fps_tolerance < 0:
            raise ValueError("need fps_window >= 1 and fps_tolerance >= 0")
        if self.max_gap_s <= 0 or self.gap_frames < 1:
            raise ValueError("need max_gap_s > 0 and gap_frames >= 1")


@dataclass(frozen=True)
class Tick:
    """The clock's decision for one frame.

    ``step_ns`` is the stamp minus the previous frame's (0 for the first frame), ``fps`` the
    frame rate in force after this frame and ``fps_changed`` whether it was adopted on it.
    """

    stamp_ns: int
    kind: StampKind
    step_ns: int
    fps: float
    fps_changed: bool = False

    @property
    def advances(self) -> bool:
        """False for a repeated stamp: temporal state must not move on."""
        return self.kind is not StampKind.DUPLICATE

    @property
    def note(self) -> str | None:
        """What the frame's diagnostics should say about time, if anything."""
        ms = abs(self.step_ns) / 1e6
        if self.kind is StampKind.BACKWARDS:
            return f"time went backwards by {ms:.1f} ms: state reset"
        if self.kind is StampKind.GAP:
            return f"frame gap of {ms:.0f} ms: feature buffers restart, open events end"
        if self.kind is StampKind.DUPLICATE:
            return "stamp repeated: not a new instant, temporal state not advanced"
        return None


class StreamClock:
    """Classifies frame stamps and measures the frame rate of one stream (not thread-safe)."""

    def __init__(self, config: ClockConfig | None = None) -> None:
        self.config = config or ClockConfig()
        self._fps = self.config.nominal_fps
        self._intervals: deque[int] = deque(maxlen=self.config.fps_window)
        self._last_ns: int | None = None

    @property
    def fps(self) -> float:
        """The frame rate currently assumed (nominal until measured)."""
        return self._fps

    @property
    def gap_ns(self) -> int:
        """Intervals longer than this are gaps."""
        return max(
            s_to_ns(self.config.max_gap_s), round(self.config.gap_frames * NS_PER_S / self._fps)
        )

    def reset(self) -> None:
        """Forget the last stamp and the measured intervals (the adopted rate is kept)."""
        self._last_ns = None
        self._intervals.clear()

    def observe(self, stamp_ns: int) -> Tick:
        """Classify one frame's stamp (and take it as the new last stamp)."""
        stamp_ns = int(stamp_ns)
        last, self._last_ns = self._last_ns, stamp_ns
        if last is None:
            return Tick(stamp_ns, StampKind.FIRST, 0, self._fps)
        step = stamp_ns - last
        if step == 0:
            return Tick(stamp_ns, StampKind.DUPLICATE, 0, self._fps)
        if step < 0:
            self._intervals.clear()
            return Tick(stamp_ns, StampKind.BACKWARDS, step, self._fps)
        kind = StampKind.GAP if step > self.gap_ns else StampKind.FRESH
        self._intervals.append(step)
        changed = self._measure()
        return Tick(stamp_ns, kind, step, self._fps, changed)

    def _measure(self) -> bool:
        """Adopt the measured rate when it is known well enough and differs enough."""
        if len(self._intervals) < min(10, self.config.fps_window):
            return False
        measured = NS_PER_S / float(np.median(np.fromiter(self._intervals, np.int64)))
        if abs(measured - self._fps) / self._fps <= self.config.fps_tolerance:
            return False
        self._fps = measured
        return True
