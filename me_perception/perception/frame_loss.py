"""Frames lost before they reached us, estimated from the gaps between image stamps (no ROS).

A camera stamps its frames at a steady rate. When a frame is missing on the receiving side,
the stamps show it: a gap of about ``k`` frame periods means ``k - 1`` frames never arrived.
This is how the node notices a best-effort camera whose large frames the middleware drops:
nothing else tells it (the subscription simply receives fewer messages).

The frame period is *measured*, not assumed: under heavy loss the median interval of what
does arrive is a multiple of the true period, so the estimate starts from a low percentile of
recent intervals (two consecutive frames arriving show the true period) and refines it with the
median of the intervals near it. Until enough intervals were seen the nominal rate is used.
Gaps longer than ``pause_s`` are a paused or restarted stream, not loss; time going backwards
(a bag loop) starts over. Middleware-reported losses (Fast DDS's "message lost" event) can be
added too; the same frames are seen by both, so the larger of the two counts is reported.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from me_perception.perception.stamps import NS_PER_S


@dataclass(frozen=True)
class LossConfig:
    """``window_s``: wall-clock seconds the reported fraction covers; ``nominal_fps``: rate
    assumed before ``min_intervals`` intervals were measured; ``pause_s``: longer gaps are
    pauses, not loss."""

    window_s: float = 5.0
    nominal_fps: float = 30.0
    pause_s: float = 2.0
    min_intervals: int = 10
    history: int = 30


@dataclass(frozen=True)
class LossSnapshot:
    """Loss over the recent window and since the start."""

    rate_hz: float  # measured input frame rate (from the stamps); 0 before any interval
    received: int  # frames received in the window
    lost: int  # frames lost in the window (max of the stamp estimate and the middleware count)
    fraction: float  # lost / (received + lost) in the window
    lost_stamps_total: int
    lost_transport_total: int


class StreamLossMonitor:
    """Counts received frames and the frames missing between them. Not thread-safe."""

    def __init__(self, config: LossConfig | None = None) -> None:
        self.config = config or LossConfig()
        self._intervals: deque[int] = deque(maxlen=self.config.history)
        self._last_stamp: int | None = None
        # (receipt time, received, lost by stamps, lost by middleware)
        self._recent: deque[tuple[float, int, int, int]] = deque()
        self.lost_stamps_total = 0
        self.lost_transport_total = 0

    def period_ns(self) -> float:
        """Current estimate of the frame period (nanoseconds)."""
        if len(self._intervals) < self.config.min_intervals:
            return NS_PER_S / self.config.nominal_fps
        intervals = np.fromiter(self._intervals, np.float64)
        low = float(np.percentile(intervals, 10))
        near = intervals[intervals < 1.5 * low]
        return float(np.median(near)) if near.size else low

    def observe(self, stamp_ns: int, now: float) -> int:
        """Record a received frame; returns how many frames are missing just before it."""
        missing = 0
        last = self._last_stamp
        if last is not None and stamp_ns > last:
            gap = stamp_ns - last
            if gap <= self.config.pause_s * NS_PER_S:
                missing = max(0, round(gap / self.period_ns()) - 1)
                self._intervals.append(gap)
        if last is None or stamp_ns != last:
            self._last_stamp = stamp_ns  # also after a backwards jump: start over from here
        self.lost_stamps_total += missing
        self._recent.append((now, 1, missing, 0))
        self._trim(now)
        return missing

    def add_transport_lost(self, count: int, now: float) -> None:
        """Frames the middleware reports as lost (e.g. Fast DDS's sample-lost status)."""
        if count > 0:
            self.lost_transport_total += count
            self._recent.append((now, 0, 0, count))
            self._trim(now)

    def snapshot(self, now: float) -> LossSnapshot:
        self._trim(now)
        received = sum(r[1] for r in self._recent)
        lost = max(sum(r[2] for r in self._recent), sum(r[3] for r in self._recent))
        measured = len(self._intervals) >= self.config.min_intervals
        return LossSnapshot(
            rate_hz=NS_PER_S / self.period_ns() if measured else 0.0,
            received=received,
            lost=lost,
            fraction=lost / (received + lost) if received + lost else 0.0,
            lost_stamps_total=self.lost_stamps_total,
            lost_transport_total=self.lost_transport_total,
        )

    def _trim(self, now: float) -> None:
        horizon = now - self.config.window_s
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()
