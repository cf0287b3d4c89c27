"""Event scoring: the node's EventDetector over per-frame network outputs, and the choice of
its (on, off) thresholds on validation videos."""

from __future__ import annotations

import numpy as np

from me_perception.learning.event_scoring import (
    choose_event_thresholds,
    event_intervals,
    expression_score,
    score_events,
)
from me_perception.learning.preparation import PreparedVideo


def _video(n: int, fps: float, events: list, head: np.ndarray | None = None) -> PreparedVideo:
    z = np.zeros(n)
    return PreparedVideo("s1", "v1", fps, np.zeros((n, 4, 32, 32), np.float32), z.astype(int),
                         z.astype(int) - 1, z, events, head)  # fmt: skip


def test_durations_decide_micro_or_macro():
    score = np.zeros(90)
    score[10:16] = 0.9  # 0.2 s at 30 fps: micro
    score[40:70] = 0.9  # 1.0 s: macro
    got = event_intervals(score, 30.0, thresholds=(0.5, 0.2))
    assert [k for _, _, k in got] == ["micro", "macro"]
    (on1, off1, _), (on2, off2, _) = got
    assert abs(on1 - 10) <= 1 and abs(off1 - 15) <= 1 and abs(on2 - 40) <= 1 and abs(off2 - 69) <= 1
    assert event_intervals(score, 30.0, thresholds=(0.95, 0.2)) == []


def test_head_movement_frames_score_zero_and_reject():
    probs = np.tile([0.1, 0.8, 0.1], (60, 1))
    head = np.zeros(60, bool)
    head[30:] = True
    s = expression_score(probs, head)
    assert np.allclose(s[:30], 0.9) and np.all(s[30:] == 0)
    # an event running into a head movement ends there (truncated), none starts during it
    got = event_intervals(s, 30.0, head, (0.5, 0.2))
    assert len(got) == 1 and got[0][0] <= 1 and got[0][1] <= 30


def test_thresholds_are_chosen_where_the_events_match():
    """Output high (0.65) on the true micro-expression and a weaker bump (0.45) elsewhere: the
    chosen on-threshold must sit between the two, giving F1 1."""
    n, fps = 120, 30.0
    v = _video(n, fps, [(20, 24, 27, "micro", 0, 0.5)])
    p = np.tile([0.95, 0.03, 0.02], (n, 1))
    p[20:28] = [0.35, 0.6, 0.05]
    p[70:76] = [0.55, 0.4, 0.05]
    (on, off), score = choose_event_thresholds([(v, {"spot_probs": p})])
    assert 0.45 < on <= 0.65 and off <= on and score == 1.0
    counts = score_events([(v, {"spot_probs": p})], (0.3, 0.15))["overall"]["micro"]
    assert (counts["tp"], counts["fp"]) == (1, 1)
