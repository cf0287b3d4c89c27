"""Score a network's per-frame outputs the way the node turns them into events.

Why: what a user gets from the network is the pipeline's events, not thresholded frames. The
pipeline's :class:`~me_perception.perception.network_spotter.NetworkSpotter` feeds the
expression score (p_micro + p_macro, zero on frames where the head moves, those frames marked
rejected, no level) to the real :class:`~me_perception.perception.events.EventDetector`; here
the same detector runs over the same per-frame series of a prepared video, so thresholds chosen
on validation videos are the node's (``on_threshold``, ``off_threshold``) and the F1 matches
what ``me_perception_pipeline_eval`` counts (finished events, an event still open at the end
closes at the last frame; MEGC matching IoU >= 0.5 per kind).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from me_perception.learning import metrics as M
from me_perception.learning.preparation import PreparedVideo
from me_perception.perception.events import EventConfig, EventDetector, Phase

__all__ = [
    "THRESHOLD_PAIRS",
    "choose_event_thresholds",
    "event_intervals",
    "event_score",
    "expression_score",
    "score_events",
    "video_events",
]

#: (on, off) pairs tried when choosing the node's event thresholds on validation videos
#: (high off thresholds too: a segment must be able to end where a model's neutral level is high)
THRESHOLD_PAIRS: tuple[tuple[float, float], ...] = tuple(
    (on, off)
    for on in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
    for off in (0.15, 0.3, 0.5, 0.7, 0.85)
    if off < on
)


def expression_score(spot_probs: np.ndarray, head_moving: np.ndarray) -> np.ndarray:
    """The score the network spotter hands the event logic: p_micro + p_macro, 0 while the
    head moves (same rule as ``NetworkSpotter.step``)."""
    p = np.asarray(spot_probs, np.float64)
    return np.where(np.asarray(head_moving, bool), 0.0, p[:, 1] + p[:, 2])


def event_intervals(
    score: np.ndarray,
    fps: float,
    reject: np.ndarray | None = None,
    thresholds: tuple[float, float] = (0.5, 0.2),
    events: EventConfig | None = None,
) -> list[tuple[int, int, str]]:
    """(onset, offset, kind) frame intervals of the events the node's detector emits for a
    per-frame score series at ``fps`` (frame i has stamp i / fps)."""
    cfg = replace(events or EventConfig(), on_threshold=thresholds[0], off_threshold=thresholds[1])
    det = EventDetector(cfg)
    n = len(score)
    stamps = np.round(np.arange(n) * (1e9 / fps)).astype(np.int64)
    rej = np.zeros(n, bool) if reject is None else np.asarray(reject, bool)
    offsets = []
    for i in range(n):
        for ev in det.update(int(stamps[i]), float(score[i]), None, None, reject=bool(rej[i])):
            if ev.phase == Phase.OFFSET:
                offsets.append(ev)
    offsets += [ev for ev in det.reset() if ev.phase == Phase.OFFSET]

    def index(ns: int) -> int:
        return int(np.clip(round(ns * fps / 1e9), 0, n - 1))

    return [(index(e.onset_ns), index(e.offset_ns), e.kind.value) for e in offsets]


def video_events(
    video: PreparedVideo,
    outputs: dict[str, np.ndarray],
    thresholds: tuple[float, float],
    events: EventConfig | None = None,
) -> list[tuple[int, int, str]]:
    """The node's events (frame intervals) on one prepared video from its network outputs."""
    score = expression_score(outputs["spot_probs"], video.head_moving)  # type: ignore[arg-type]
    return event_intervals(score, video.fps, video.head_moving, thresholds, events)


def score_events(
    outputs: Sequence[tuple[PreparedVideo, dict[str, np.ndarray]]],
    thresholds: tuple[float, float],
    events: EventConfig | None = None,
) -> dict:
    """MEGC spotting counts (per kind and 'all', pooled) of the node's events on videos with
    their network outputs (``spot_probs`` per frame)."""
    spot = []
    for v, out in outputs:
        gt = [(on, off, kind) for on, _, off, kind, _, _ in v.events if kind in ("micro", "macro")]
        spot.append(M.SpotVideo(v.subject, v.video, gt, video_events(v, out, thresholds, events)))
    return M.evaluate_spotting(spot)


def event_score(summary: dict) -> float:
    """Selection score of a spotting summary: the mean of micro and macro F1 (NaN-safe; a
    kind absent from the ground truth is left out)."""
    vals = [summary["overall"][k]["f1"] for k in ("micro", "macro") if k in summary["overall"]]
    vals = [v for v in vals if v is not None and not math.isnan(v)]
    return float(np.mean(vals)) if vals else 0.0


def choose_event_thresholds(
    outputs: Sequence[tuple[PreparedVideo, dict[str, np.ndarray]]],
    pairs: Sequence[tuple[float, float]] = THRESHOLD_PAIRS,
    events: EventConfig | None = None,
) -> tuple[tuple[float, float], float]:
    """Best (on, off) event thresholds on (validation) outputs and their :func:`event_score`.
    Ties go to the higher thresholds (fewer false alarms on a robot)."""
    best: tuple[tuple[float, float], float] = (tuple(pairs[0]), -1.0)  # type: ignore[assignment]
    for on, off in sorted(pairs):
        s = event_score(score_events(outputs, (on, off), events))
        if s >= best[1]:
            best = ((float(on), float(off)), s)
    return best
