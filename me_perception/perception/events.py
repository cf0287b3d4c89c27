"""Turn per-frame spotting scores of one face into onset / apex / offset events.

Pure Python + numpy and deterministic: the same (stamp, score) sequence always gives the same
events, live or from a bag. All times are the *frame* stamps given by the caller (int ns), never
the wall clock, so replay at any speed gives identical results.

Rules (see docs/front_end.md for the rationale):

* Hysteresis: an expression starts at the first frame with ``score >= on_threshold`` and ends
  at the first frame with ``score < off_threshold`` (``off <= on``), so noise around one
  threshold does not flicker events.
* ``min_duration_s``: a segment shorter than this is noise and never reported. The ONSET is
  therefore emitted once the segment has lasted ``min_duration_s``, stamped with the first
  frame above threshold.
* ``max_micro_duration_s`` (0.5 s): longer segments are macro-expressions / ordinary movements.
  In ``mode="online"`` the ONSET and APEX go out as soon as known; a segment that outgrows the
  limit is closed at once by an OFFSET with ``kind="macro"`` (consumers drop the provisional
  micro onset) and ignored until the score falls below ``off_threshold``. In
  ``mode="deferred"`` nothing is emitted until the segment ends, then ONSET, APEX and OFFSET
  are emitted together (original stamps), macro segments with ``kind="macro"`` only if
  ``report_macro``; latency is at most the expression length, and no event is ever retracted.
* APEX is the frame of peak score. Online, it is emitted once the score has fallen
  ``apex_drop`` below the running peak (or at the offset, whichever is first).
* Label: class probabilities are accumulated, weighted by the spotting score, from onset to the
  apex frame; the label is decided at apex and repeated unchanged in the offset so consumers
  never see a label flip. Intensity is the maximum intensity from onset to apex.
* Time: the detector takes a strictly increasing sequence of frame stamps and keeps no rules
  about them; the pipeline's :class:`~me_perception.perception.stream_clock.StreamClock`
  decides. On a frame gap or time going backwards the caller calls :meth:`EventDetector.reset`,
  which ends an open segment with ``truncated=True`` at its last frame; a repeated stamp is
  not a new instant and is not fed at all. A NaN score counts as a missing frame.
"""

from __future__ import annotations

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
    """Whether the segment fits a micro-expression's duration."""

    MICRO = "micro"
    MACRO = "macro"


@dataclass(frozen=True)
class EventConfig:
    """Event rules; times in seconds (converted to ns once)."""

    on_threshold: float = 0.6
    off_threshold: float = 0.4
    min_duration_s: float = 0.04
    max_micro_duration_s: float = 0.5
    max_event_duration_s: float = 5.0
    apex_drop: float = 0.1
    mode: str = "online"
    report_macro: bool = True
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.off_threshold > self.on_threshold:
            raise ValueError("off_threshold must be <= on_threshold")
        if self.mode not in ("online", "deferred"):
            raise ValueError("mode must be 'online' or 'deferred'")
        if not 0 <= self.min_duration_s <= self.max_micro_duration_s <= self.max_event_duration_s:
            raise ValueError("need 0 <= min_duration <= max_micro_duration <= max_event_duration")


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
    last_ns: int
    state: SegmentState = SegmentState.PENDING
    peak_score: float = -math.inf
    peak_ns: int = 0
    acc: np.ndarray | None = None
    acc_at_peak: np.ndarray | None = None
    intensity_max: float = 0.0
    intensity_at_peak: float = 0.0
    label: tuple[str, float, tuple[float, ...]] | None = field(default=None)

    def accumulate(
        self,
        stamp_ns: int,
        score: float,
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
        if score > self.peak_score:
            self.peak_score, self.peak_ns = score, stamp_ns
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
        self._online = c.mode == "online"
        self._seg: _Segment | None = None
        self._last_ns: int | None = None

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
            events = self._close(self._seg.last_ns, self._seg.last_ns, truncated=True)
        self._seg = None
        self._last_ns = None
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

    @staticmethod
    def _event(
        s: _Segment, phase: Phase, stamp_ns: int, kind: EventKind = EventKind.MICRO, **kw: object
    ) -> FaceEvent:
        # Before the apex the label is undecided: consumers get "" rather than a guess.
        label, conf, probs = s.label if s.label is not None else ("", 0.0, ())
        base = {
            "kind": kind,
            "onset_ns": s.onset_ns,
            "peak_score": float(s.peak_score),
            "label": label,
            "confidence": conf,
            "class_probabilities": probs,
            "intensity": s.intensity_at_peak,
        }
        base.update(kw)
        return FaceEvent(phase=phase, stamp_ns=stamp_ns, **base)  # type: ignore[arg-type]

    def _apex(self, s: _Segment, stamp_ns: int) -> FaceEvent:
        s.label = self._label(s.acc_at_peak)
        s.state = SegmentState.FALLING
        return self._event(s, Phase.APEX, stamp_ns, apex_ns=s.peak_ns)

    def _close(self, end_ns: int, stamp_ns: int, truncated: bool) -> list[FaceEvent]:
        """End the current segment at ``end_ns``; returns the events this produces."""
        s, self._seg = self._seg, None
        if s is None:
            return []
        dur = end_ns - s.onset_ns
        if s.state is SegmentState.IGNORED or (
            s.state is SegmentState.PENDING and dur < self._min_ns
        ):
            return []
        macro = s.state is SegmentState.MACRO or dur > self._max_micro_ns
        kind = EventKind.MACRO if macro else EventKind.MICRO
        if s.label is None:
            s.label = self._label(s.acc_at_peak)
        offset = self._event(
            s,
            Phase.OFFSET,
            stamp_ns,
            kind,
            apex_ns=s.peak_ns,
            offset_ns=end_ns,
            duration_ns=dur,
            truncated=truncated,
        )
        if not self._online:
            if macro and not self.config.report_macro:
                return []
            apex = self._event(s, Phase.APEX, stamp_ns, kind, apex_ns=s.peak_ns)
            return [self._event(s, Phase.ONSET, stamp_ns, kind), apex, offset]
        out = []
        if s.state is SegmentState.PENDING:  # long enough only now: its ONSET was never sent
            if macro:
                return []
            out.append(self._event(s, Phase.ONSET, stamp_ns))
        if s.state is not SegmentState.FALLING and not macro:
            out.append(self._apex(s, stamp_ns))
        out.append(offset)
        return out

    def _advance(self, s: _Segment, stamp_ns: int, score: float) -> list[FaceEvent]:
        """Move the open segment's state on after this frame's evidence was added."""
        c = self.config
        dur = stamp_ns - s.onset_ns
        events: list[FaceEvent] = []
        if s.state is SegmentState.PENDING and dur >= self._min_ns:
            s.state = SegmentState.RISING
            if self._online:
                events.append(self._event(s, Phase.ONSET, stamp_ns))
        if dur > self._max_micro_ns and s.state is not SegmentState.MACRO:
            if not self._online:
                s.state = SegmentState.MACRO
            else:
                # Too long for a micro-expression: close the provisional micro event now.
                events.append(
                    self._event(
                        s,
                        Phase.OFFSET,
                        stamp_ns,
                        EventKind.MACRO,
                        apex_ns=s.peak_ns,
                        offset_ns=stamp_ns,
                        duration_ns=dur,
                    )
                )
                s.state = SegmentState.IGNORED
                return events
        if dur > self._max_event_ns:
            # Stuck-high score: close (deferred mode reports it) and wait for score < off.
            events.extend(self._close(stamp_ns, stamp_ns, truncated=True))
            self._seg = _Segment(stamp_ns, stamp_ns, SegmentState.IGNORED)
            return events
        if s.state is SegmentState.RISING and self._online and score <= s.peak_score - c.apex_drop:
            events.append(self._apex(s, stamp_ns))
        return events

    # -- main entry -----------------------------------------------------------------------
    def update(
        self,
        stamp_ns: int,
        score: float,
        class_probabilities: Sequence[float] | np.ndarray | None = None,
        intensity: float | None = None,
    ) -> list[FaceEvent]:
        """Feed one frame's spotting score; returns the events it completes (often none).

        Stamps must increase from call to call (the stream clock filters repeated stamps and
        resets the detector when time goes backwards); anything else is a caller's bug.
        """
        stamp_ns = int(stamp_ns)
        if self._last_ns is not None and stamp_ns <= self._last_ns:
            raise ValueError(
                f"stamp {stamp_ns} does not follow {self._last_ns}: the stream clock decides "
                "what repeated or earlier stamps mean (reset the detector first)"
            )
        score = float(score)
        if not math.isfinite(score):
            return []
        self._last_ns = stamp_ns
        s = self._seg
        if s is None:
            if score < self.config.on_threshold:
                return []
            s = self._seg = _Segment(onset_ns=stamp_ns, last_ns=stamp_ns)
        elif score < self.config.off_threshold:
            return self._close(stamp_ns, stamp_ns, truncated=False)
        s.last_ns = stamp_ns
        if s.state is SegmentState.IGNORED:
            return []
        s.accumulate(stamp_ns, score, class_probabilities, intensity)
        return self._advance(s, stamp_ns, score)
