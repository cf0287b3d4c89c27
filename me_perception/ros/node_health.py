"""What the node reports on /diagnostics: frame accounting and a verdict on the recent past.

No ROS import: the node feeds :class:`FrameStats` from its subscription callback and worker
thread, and turns :func:`assess` into a ``DiagnosticStatus``. Totals (received, processed,
dropped by reason) never reset, so ``received = processed + dropped + pending`` always holds;
the *level and message* only look at the last ``window_s`` seconds, so a single bad frame
makes the node WARN for a few seconds, not forever, and the message names what is wrong now.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from me_perception.perception.frame_loss import LossSnapshot

OK, WARN, ERROR = 0, 1, 2

#: Distinct pipeline notes of the window shown in ``recent_notes`` (the newest).
MAX_NOTES = 5

#: Drop reasons that are part of normal operation, not a fault of the input.
BENIGN_DROPS = ("superseded", "deactivated")

TRANSPORT_FIX = (
    "publish the camera reliable, or load the shipped Fast DDS profile for large images on "
    "both the camera's and the node's side (docs/node.md)"
)


@dataclass(frozen=True)
class HealthThresholds:
    """Latency thresholds follow ROS4HRI's (WARN above 0.5 s, ERROR above 2 s)."""

    window_s: float = 5.0
    latency_warn_s: float = 0.5
    latency_error_s: float = 2.0
    loss_warn_fraction: float = 0.05
    superseded_warn_fraction: float = 0.5
    stall_s: float = 3.0


@dataclass
class StatsSnapshot:
    """Totals since start plus what happened in the recent window."""

    received: int
    processed: int
    dropped: dict[str, int]
    faces_non_finite: int
    latency_p50_ms: float
    latency_p99_ms: float
    last_error: str
    processing_rate: float
    window_received: int = 0
    window_processed: int = 0
    window_drops: dict[str, int] = field(default_factory=dict)
    window_last_drop: str = ""
    window_latency_p90_s: float = 0.0
    window_non_finite: int = 0
    window_non_finite_detail: str = ""
    window_notes: list[str] = field(default_factory=list)
    seconds_since_frame: float | None = None


class FrameStats:
    """Thread-safe accounting: received = processed + sum(dropped) + pending."""

    def __init__(self, window_s: float = 5.0, latency_window: int = 1000) -> None:
        self.lock = threading.Lock()
        self.window_s = window_s
        self.received = 0
        self.processed = 0
        self.dropped: Counter[str] = Counter()
        self.faces_non_finite = 0
        self.latencies_ms: deque[float] = deque(maxlen=latency_window)
        self.last_error = ""
        # (time, kind, detail, value): kind in received / processed / drop / non_finite
        self._recent: deque[tuple[float, str, str, float]] = deque()
        self._last_frame: float | None = None
        self._rate_start = time.monotonic()
        self._rate_processed = 0

    def count_received(self, now: float) -> None:
        with self.lock:
            self.received += 1
            self._last_frame = now
            self._recent.append((now, "received", "", 0.0))

    def count_dropped(self, reason: str, detail: str, now: float) -> None:
        with self.lock:
            self.dropped[reason] += 1
            self._recent.append((now, "drop", reason, 0.0))
            if reason not in BENIGN_DROPS:
                self.last_error = detail
                self._recent.append((now, "drop_detail", detail, 0.0))

    def count_processed(
        self, latency_s: float, non_finite: list[str], now: float, notes: Sequence[str] = ()
    ) -> None:
        """A processed frame; ``notes`` are the pipeline's notes on it (stream resets,
        max_faces): information for the window, not a fault."""
        with self.lock:
            self.processed += 1
            self.latencies_ms.append(latency_s * 1e3)
            self._recent.append((now, "processed", "", latency_s))
            self._recent.extend((now, "note", note, 0.0) for note in notes)
            if non_finite:
                self.faces_non_finite += len(non_finite)
                detail = ", ".join(non_finite)
                self._recent.append((now, "non_finite", detail, float(len(non_finite))))

    def set_error(self, text: str) -> None:
        with self.lock:
            self.last_error = text

    def snapshot(self, now: float) -> StatsSnapshot:
        with self.lock:
            horizon = now - self.window_s
            while self._recent and self._recent[0][0] < horizon:
                self._recent.popleft()
            lat = np.fromiter(self.latencies_ms, float) if self.latencies_ms else None
            elapsed = max(1e-6, now - self._rate_start)
            rate = (self.processed - self._rate_processed) / elapsed
            self._rate_start, self._rate_processed = now, self.processed
            snap = StatsSnapshot(
                received=self.received,
                processed=self.processed,
                dropped=dict(self.dropped),
                faces_non_finite=self.faces_non_finite,
                latency_p50_ms=float(np.percentile(lat, 50)) if lat is not None else 0.0,
                latency_p99_ms=float(np.percentile(lat, 99)) if lat is not None else 0.0,
                last_error=self.last_error,
                processing_rate=rate,
                seconds_since_frame=None if self._last_frame is None else now - self._last_frame,
            )
            window_latencies = []
            drops: Counter[str] = Counter()
            notes: dict[str, None] = {}  # distinct, ordered by their latest occurrence
            for _, kind, detail, value in self._recent:
                if kind == "received":
                    snap.window_received += 1
                elif kind == "processed":
                    snap.window_processed += 1
                    window_latencies.append(value)
                elif kind == "drop":
                    drops[detail] += 1
                elif kind == "drop_detail":
                    snap.window_last_drop = detail
                elif kind == "non_finite":
                    snap.window_non_finite += int(value)
                    snap.window_non_finite_detail = detail
                elif kind == "note":
                    notes.pop(detail, None)
                    notes[detail] = None
            snap.window_drops = dict(drops)
            snap.window_notes = list(notes)[-MAX_NOTES:]
            if window_latencies:
                snap.window_latency_p90_s = float(np.percentile(window_latencies, 90))
            return snap


@dataclass(frozen=True)
class NodeCondition:
    """What the node knows about itself besides the frame statistics."""

    configured: bool
    active: bool
    config_error: str = ""
    input_topic: str = ""
    input_publishers: int = 0
    faces_tracked: int = 0
    seconds_without_frames: float | None = None  # while active: since the last frame


def assess(
    stats: StatsSnapshot,
    loss: LossSnapshot,
    node: NodeCondition,
    thresholds: HealthThresholds,
) -> tuple[int, str]:
    """(level, message) from the recent window: the most severe current problem first, all
    current problems joined with "; ", or a one-line summary when there is none."""
    problems: list[tuple[int, str]] = []
    w = f"{thresholds.window_s:g} s"
    if not node.configured:
        reason = node.config_error or "waiting for the configure transition"
        return ERROR, f"not configured: {reason}"
    lat = stats.window_latency_p90_s
    if lat > thresholds.latency_error_s:
        problems.append((ERROR, f"latency {lat:.2f} s (90th percentile, last {w}) > 2 s"))
    elif lat > thresholds.latency_warn_s:
        problems.append((WARN, f"latency {lat:.2f} s (90th percentile, last {w}) > 0.5 s"))
    faults = {r: n for r, n in stats.window_drops.items() if r not in BENIGN_DROPS}
    if faults:
        counts = ", ".join(f"{n} {r}" for r, n in sorted(faults.items()))
        problems.append(
            (WARN, f"frames dropped in the last {w} ({counts}): {stats.window_last_drop}")
        )
    if stats.window_non_finite:
        problems.append(
            (
                WARN,
                f"non-finite network output for {stats.window_non_finite} face(s) in the last "
                f"{w} ({stats.window_non_finite_detail}); their state was reset",
            )
        )
    superseded = stats.window_drops.get("superseded", 0)
    if stats.window_received and superseded / stats.window_received > (
        thresholds.superseded_warn_fraction
    ):
        share = 100.0 * superseded / stats.window_received
        problems.append(
            (WARN, f"cannot keep up: {share:.0f} % of the frames of the last {w} were skipped")
        )
    if loss.received + loss.lost and loss.fraction > thresholds.loss_warn_fraction:
        rate = f"{loss.rate_hz:.1f} Hz" if loss.rate_hz else "the nominal rate"
        problems.append(
            (
                WARN,
                f"input loss: {100 * loss.fraction:.0f} % of the frames of the last {w} were "
                f"lost before reaching the node ({loss.lost} lost, {loss.received} received; "
                f"stream at {rate}): {TRANSPORT_FIX}",
            )
        )
    quiet = node.seconds_without_frames
    if node.active and node.input_publishers and quiet is not None and quiet > thresholds.stall_s:
        lost = loss.lost_transport_total + loss.lost_stamps_total
        problems.append(
            (
                WARN,
                f"no frame from {node.input_topic} for {quiet:.0f} s although "
                f"{node.input_publishers} publisher(s) are matched"
                + (f" and frames were lost on the way: {TRANSPORT_FIX}" if lost else ""),
            )
        )
    if not problems:
        if not node.active:
            return OK, "configured, inactive"
        return OK, (
            f"running: {stats.processing_rate:.1f} frames/s processed, "
            f"{node.faces_tracked} face(s) tracked"
        )
    problems.sort(key=lambda p: -p[0])
    return problems[0][0], "; ".join(text for _, text in problems)


def as_key_values(stats: StatsSnapshot, loss: LossSnapshot, pending: int) -> dict[str, Any]:
    """The frame-accounting keys of the diagnostics status (the node adds its own)."""
    dropped_total = sum(stats.dropped.values())
    return {
        "frames_received": stats.received,
        "frames_processed": stats.processed,
        "frames_dropped": dropped_total,
        "frames_pending": pending,
        **{f"dropped_{k}": v for k, v in sorted(stats.dropped.items())},
        "latency_p50_ms": f"{stats.latency_p50_ms:.2f}",
        "latency_p99_ms": f"{stats.latency_p99_ms:.2f}",
        "latency_window_p90_ms": f"{stats.window_latency_p90_s * 1e3:.2f}",
        "processing_rate_hz": f"{stats.processing_rate:.1f}",
        "input_rate_hz": f"{loss.rate_hz:.1f}",
        "input_loss_fraction": f"{loss.fraction:.3f}",
        "frames_lost_estimate": loss.lost_stamps_total,
        "frames_lost_transport": loss.lost_transport_total,
        "faces_non_finite": stats.faces_non_finite,
        "last_error": stats.last_error,
        "recent_notes": "; ".join(stats.window_notes),
    }
