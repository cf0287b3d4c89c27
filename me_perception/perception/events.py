"""Turn per-frame spotting scores of one face into onset / apex / offset events.

Pure Python + numpy and deterministic: the same (stamp, score) sequence always gives the same
events, live or from a bag. All times are the *frame* stamps given by the caller (int ns), never
the wall clock, so replay at any speed gives identical results.

Rules (see docs/spotting.md for the rationale):

* Trigger with hysteresis: a segment opens at the first frame with ``score >= on_threshold``
  and may end only once ``score < off_threshold`` (``off <= on``), so noise around one
  threshold does not flicker events.
* Boundaries from the motion level: a spotter may give a ``level`` per frame, scaled so that
  ``level >= 1`` means "moving above this face's noise". The onset is then taken back to where
  the level rose above ``max(1, boundary_fraction x peak level)`` before the trigger, and the
  offset is the last frame above it (the segment stays open while the level is above it). A
  threshold on the score alone cuts the slow start and tail of an expression off, which halves
  the overlap (IoU) with the true interval. Without a level (NaN) the score thresholds are the
  boundaries, as before.
* ``min_duration_s``: a segment shorter than this is noise and never reported; the ONSET is
  emitted once the segment has lasted ``min_duration_s``.
* Kind by duration: up to ``max_micro_duration_s`` (0.5 s) a segment is a micro-expression.
  Online, a segment that outgrows it is re-announced by an ONSET with ``kind="macro"`` (same
  onset stamp; consumers replace the provisional micro onset) and ends with an OFFSET of kind
  macro at its true end, so macro-expressions are output with their extent (MEGC scores both
  kinds). ``report_macro=False`` drops them. Longer than ``max_event_duration_s``: a stuck
  signal, closed as truncated and ignored until the score falls.
* ``reject``: a spotter may mark a frame as a movement that is not an expression (a blink, a
  head movement). A segment with a rejected frame is dropped if not announced yet, else
  withdrawn at once: an OFFSET of kind ``withdrawn`` (truncated) tells consumers that the
  announced onset was not an expression.
* ``mode="deferred"``: nothing is emitted until the segment ends, then ONSET, APEX and OFFSET
  together (original stamps); no event is ever retracted or re-announced.
* APEX is the frame of peak level (or score). Online, it is emitted once the score has fallen
  ``apex_drop`` below its peak (or at the offset, whichever is first).
* Label: class probabilities are accumulated, weighted by the score, from onset to the apex;
  the label is decided at apex and repeated unchanged in the offset. Intensity is the maximum
  intensity from onset to apex.
* Time: the detector takes a strictly increasing sequence of frame stamps; the pipeline's
  :class:`~me_perception.perception.stream_clock.StreamClock` decides what repeated stamps,
  gaps and backward jumps mean and calls :meth:`EventDetector.reset`, which ends an open segment
  with ``truncated=True`` at its last frame. A NaN score counts as a missing frame.
"""

from __future__ import annotations

import collections
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from me_perception.perception.stamps import s_to_ns

__all__ = ["EventConfig", "EventDetector", "EventKind", "FaceEvent", "Phase", "SegmentState"]


class Phase(enum.IntEnum):
    """Event / per-frame phase (values match the message constants we propose: 0..3)."""

    NONE = 0
    ONSET = 1
    APEX = 2
    OFFSET = 3


class EventKind(str, enum.Enum):
    """Whether the segment fits a micro-expression's duration; WITHDRAWN on the OFFSET of an
    announced segment that turned out to be a blink or a head movement."""

    MICRO = "micro"
    MACRO = "macro"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class EventConfig:
    """Event rules; times in seconds (converted to ns once)."""

    on_threshold: float = 0.5
    off_threshold: float = 0.2
    min_duration_s: float = 0.04
    max_micro_duration_s: float = 0.5
    max_event_duration_s: float = 5.0
    apex_drop: float = 0.1
    mode: str = "online"
    report_macro: bool = True
    boundary_fraction: float = 0.05
    """Onset and offset are where the level crosses max(1, this x the segment's peak level)."""
    lookback_s: float = 1.0
    """How far before the trigger an onset may be taken back."""
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.off_threshold > self.on_threshold:
            raise ValueError("off_threshold must be <= on_threshold")
        if self.mode not in ("online", "deferred"):
            raise ValueError("mode must be 'online' or 'deferred'")
        if not 0 <= self.min_duration_s <= self.max_micro_duration_s <= self.max_event_duration_s:
            raise ValueError("need 0 <= min_duration <= max_micro_duration <= max_event_duration")
        if not 0.0 <= self.boundary_fraction < 1.0:
            raise ValueError("boundary_fraction must be in [0, 1)")


@dataclass(frozen=True)
class FaceEvent:
    """One emitted event. Stamps are ns; 0 means "not known yet" (e.g. offset of an onset).

    ``stamp_ns`` is the frame whose update produced the event (use its header when
    publishing); ``duration_ns`` is offset - onset for OFFSET events, else 0.
    """

    phase: Phase
    kind: EventKind
    stamp_ns: int
    onset_ns: int
    apex_ns: int = 0
    offset_ns: int = 0
    peak_score: float = 0.0
    label: str = ""
    confidence: float = 0.0
    class_probabilities: tuple[float, ...] = ()
    intensity: float = 0.0
    duration_ns: int = 0
    truncated: bool = False


class SegmentState(enum.Enum):
    """Where the open segment (a run of frames above the on-threshold) stands."""

    PENDING = "pending"  # shorter than min_duration so far: may still be noise
    RISING = "rising"  # confirmed (online: ONSET emitted); apex not reported yet
    FALLING = "falling"  # online: APEX emitted; waiting for the score to fall below off
    MACRO = "macro"  # deferred: longer than a micro-expression, reported as macro at its end
    IGNORED = "ignored"  # closed early (online macro, stuck-high): wait for score < off


@dataclass
class _Segment:
    onset_ns: int
    last_ns: int  # last frame of the segment (level above its boundary, or score above off)
    state: SegmentState = SegmentState.PENDING
    peak: float = -math.inf  # peak level (or score when there is no level)
    peak_ns: int = 0
    peak_score: float = -math.inf
    acc: np.ndarray | None = None
    acc_at_peak: np.ndarray | None = None
    intensity_max: float = 0.0
    intensity_at_peak: float = 0.0
    label: tuple[str, float, tuple[float, ...]] | None = field(default=None)

    def accumulate(
        self,
        stamp_ns: int,
        score: float,
        peak_value: float,
        class_probabilities: Sequence[float] | np.ndarray | None,
        intensity: float | None,
    ) -> None:
        """Add one frame's evidence for the label, the intensity and the peak."""
        if class_probabilities is not None:
            p = np.asarray(class_probabilities, np.float64).ravel()
            if np.isfinite(p).all():
                same = self.acc is not None and self.acc.shape == p.shape
                self.acc = self.acc + p * score if same else p * score
        if intensity is not None and math.isfinite(intensity):
            self.intensity_max = max(self.intensity_max, float(intensity))
        self.peak_score = max(self.peak_score, score)
        if peak_value > self.peak:
            self.peak, self.peak_ns = peak_value, stamp_ns
            self.acc_at_peak = None if self.acc is None else self.acc.copy()
            self.intensity_at_peak = self.intensity_max


class EventDetector:
    """Per-face event state machine; create one per tracked face, drop it when the face is lost."""

    def __init__(self, config: EventConfig | None = None) -> None:
        self.config = config or EventConfig()
        c = self.config
        self._min_ns = s_to_ns(c.min_duration_s)
        self._max_micro_ns = s_to_ns(c.max_micro_duration_s)
        self._max_event_ns = s_to_ns(c.max_event_duration_s)
        self._lookback_ns = s_to_ns(c.lookback_s)
        self._online = c.mode == "online"
        self._seg: _Segment | None = None
        self._last_ns: int | None = None
        self._recent: collections.deque[tuple[int, float]] = collections.deque()

    # -- state ----------------------------------------------------------------------------
    @property
    def phase(self) -> Phase:
        """Live per-frame phase: NONE, ONSET (rising, before apex) or APEX (after apex)."""
        state = self._seg.state if self._seg is not None else None
        if state is SegmentState.FALLING:
            return Phase.APEX
        if state in (SegmentState.RISING, SegmentState.MACRO):
            return Phase.ONSET
        return Phase.NONE

    def reset(self) -> list[FaceEvent]:
        """Forget all state; an open segment is closed with ``truncated=True``."""
        events: list[FaceEvent] = []
        if self._seg is not None:
            events = self._close(self._seg.last_ns, truncated=True)
        self._seg = None
        self._last_ns = None
        self._recent.clear()
        return events

    # -- helpers --------------------------------------------------------------------------
    def _label(self, acc: np.ndarray | None) -> tuple[str, float, tuple[float, ...]]:
        if acc is None or acc.size == 0 or not np.isfinite(acc).all() or acc.sum() <= 0:
            return "", 0.0, ()
        p = acc / acc.sum()
        k = int(np.argmax(p))
        names = self.config.class_names
        name = names[k] if k < len(names) else str(k)
        return name, float(p[k]), tuple(float(v) for v in p)

    def _event(self, s: _Segment, phase: Phase, kind: EventKind, **kw: object) -> FaceEvent:
        # Before the apex the label is undecided: consumers get "" rather than a guess.
        label, conf, probs = s.label if s.label is not None else ("", 0.0, ())
        base = {
            "kind": kind,
            "stamp_ns": self._last_ns or s.last_ns,
            "onset_ns": s.onset_ns,
            "peak_score": float(s.peak_score),
            "label": label,
            "confidence": conf,
            "class_probabilities": probs,
            "intensity": s.intensity_at_peak,
        }
        base.update(kw)
        return FaceEvent(phase=phase, **base)  # type: ignore[arg-type]

    def _kind(self, s: _Segment) -> EventKind:
        macro = s.state is SegmentState.MACRO or s.last_ns - s.onset_ns > self._max_micro_ns
        return EventKind.MACRO if macro else EventKind.MICRO

    def _apex(self, s: _Segment, kind: EventKind) -> FaceEvent:
        s.label = self._label(s.acc_at_peak)
        if s.state is not SegmentState.MACRO:
            s.state = SegmentState.FALLING
        return self._event(s, Phase.APEX, kind, apex_ns=s.peak_ns)

    def _close(self, end_ns: int, truncated: bool) -> list[FaceEvent]:
        """End the current segment at ``end_ns``; returns the events this produces."""
        s, self._seg = self._seg, None
        if s is None or s.state is SegmentState.IGNORED:
            return []
        s.last_ns = end_ns
        dur = end_ns - s.onset_ns
        if s.state is SegmentState.PENDING and dur < self._min_ns:
            return []
        kind = self._kind(s)
        if kind is EventKind.MACRO and not self.config.report_macro:
            return []
        if s.label is None:
            s.label = self._label(s.acc_at_peak)
        offset = self._event(
            s,
            Phase.OFFSET,
            kind,
            apex_ns=s.peak_ns,
            offset_ns=end_ns,
            duration_ns=dur,
            truncated=truncated,
        )
        if not self._online:
            apex = self._event(s, Phase.APEX, kind, apex_ns=s.peak_ns)
            return [self._event(s, Phase.ONSET, kind), apex, offset]
        out = []
        if s.state is SegmentState.PENDING:  # long enough only now: its ONSET was never sent
            out.append(self._event(s, Phase.ONSET, kind))
        if s.state is not SegmentState.FALLING:
            out.append(self._apex(s, kind))
        out.append(offset)
        return out

    def _advance(self, s: _Segment, stamp_ns: int, score: float) -> list[FaceEvent]:
        """Move the open segment's state on after this frame's evidence was added."""
        dur = s.last_ns - s.onset_ns
        events: list[FaceEvent] = []
        if s.state is SegmentState.PENDING and dur >= self._min_ns:
            s.state = SegmentState.RISING
            if self._online:
                events.append(self._event(s, Phase.ONSET, EventKind.MICRO))
        if dur > self._max_micro_ns and s.state in (SegmentState.RISING, SegmentState.FALLING):
            s.state = SegmentState.MACRO
            if self._online and self.config.report_macro:
                events.append(self._event(s, Phase.ONSET, EventKind.MACRO))
        if stamp_ns - s.onset_ns > self._max_event_ns:
            # Stuck-high signal: close and wait for the score to fall below off.
            events.extend(self._close(s.last_ns, truncated=True))
            self._seg = _Segment(stamp_ns, stamp_ns, SegmentState.IGNORED)
            return events
        if (
            s.state is SegmentState.RISING
            and self._online
            and score <= s.peak_score - self.config.apex_drop
        ):
            events.append(self._apex(s, EventKind.MICRO))
        return events

    def _boundary(self, peak: float) -> float:
        return max(1.0, self.config.boundary_fraction * peak) if math.isfinite(peak) else 1.0

    def _onset(self, stamp_ns: int, level: float) -> int:
        """Where the level rose above its boundary before this trigger frame."""
        if not math.isfinite(level):
            return stamp_ns
        bound = self._boundary(level)
        onset = stamp_ns
        for t, lv in reversed(self._recent):
            if not (math.isfinite(lv) and lv >= bound) or stamp_ns - t > self._lookback_ns:
                break
            onset = t
        return onset

    def _remember(self, stamp_ns: int, level: float) -> None:
        self._recent.append((stamp_ns, level))
        while self._recent and stamp_ns - self._recent[0][0] > self._lookback_ns:
            self._recent.popleft()

    # -- main entry -----------------------------------------------------------------------
    def update(
        self,
        stamp_ns: int,
        score: float,
        class_probabilities: Sequence[float] | np.ndarray | None = None,
        intensity: float | None = None,
        level: float = math.nan,
        reject: bool = False,
    ) -> list[FaceEvent]:
        """Feed one frame; returns the events it completes (often none).

        ``level`` (optional, >= 1 = above noise) places the boundaries; ``reject`` marks a frame
        of a movement that is not an expression. Stamps must increase from call to call (the
        stream clock filters repeated stamps and resets the detector when time goes backwards);
        anything else is a caller's bug.
        """
        stamp_ns = int(stamp_ns)
        if self._last_ns is not None and stamp_ns <= self._last_ns:
            raise ValueError(
                f"stamp {stamp_ns} does not follow {self._last_ns}: the stream clock decides "
                "what repeated or earlier stamps mean (reset the detector first)"
            )
        score, level = float(score), float(level)
        if not math.isfinite(score):
            return []
        self._last_ns = stamp_ns
        s = self._seg
        events: list[FaceEvent] = []
        if s is not None and reject and s.state is not SegmentState.IGNORED:
            if s.state is not SegmentState.PENDING:  # announced: withdrawn, not an expression
                events = [
                    self._event(
                        s,
                        Phase.OFFSET,
                        EventKind.WITHDRAWN,
                        apex_ns=s.peak_ns,
                        offset_ns=s.last_ns,
                        duration_ns=s.last_ns - s.onset_ns,
                        truncated=True,
                    )
                ]
            self._seg = s = _Segment(stamp_ns, stamp_ns, SegmentState.IGNORED)
        if s is None:
            self._remember(stamp_ns, level)
            if score < self.config.on_threshold or reject:
                return events
            s = self._seg = _Segment(onset_ns=self._onset(stamp_ns, level), last_ns=stamp_ns)
            self._recent.clear()
        elif self._ends(s, score, level):
            if s.state is SegmentState.IGNORED:
                self._seg = None
                self._remember(stamp_ns, level)
                return events
            end = s.last_ns if math.isfinite(level) else stamp_ns
            return events + self._close(end, truncated=False)
        if s.state is SegmentState.IGNORED:
            return events
        if not math.isfinite(level) or level >= self._boundary(s.peak):
            s.last_ns = stamp_ns
        peak_value = level if math.isfinite(level) else score
        s.accumulate(stamp_ns, score, peak_value, class_probabilities, intensity)
        return events + self._advance(s, stamp_ns, score)

    def _ends(self, s: _Segment, score: float, level: float) -> bool:
        """The segment is over: score below off and (with a level) the level below its
        boundary."""
        if score >= self.config.off_threshold:
            return False
        return not math.isfinite(level) or level < self._boundary(s.peak)
