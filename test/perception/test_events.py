"""Event logic: hysteresis, level boundaries, durations, kinds, rejection, apex, labels, gaps and
time going backwards."""

from __future__ import annotations

import numpy as np
import pytest

from me_perception.perception.events import EventConfig, EventDetector, EventKind, FaceEvent, Phase

MS = 1_000_000
FPS30 = 33 * MS


def run(
    det: EventDetector,
    scores: list[float],
    dt: int = FPS30,
    t0: int = 10**12,
    probs: list[float] | None = None,
    intensity: list[float] | None = None,
) -> list[tuple[int, FaceEvent]]:
    out = []
    for i, s in enumerate(scores):
        p = probs[i] if probs is not None else None
        it = intensity[i] if intensity is not None else None
        out += [(i, e) for e in det.update(t0 + i * dt, s, p, it)]
    return out


def phases(evts):
    return [(i, e.phase, e.kind) for i, e in evts]


T0 = 10**12
#: score-only settings of these tests (the defaults are the roi_flow spotter's 0.5 / 0.2)
SCORES = {"on_threshold": 0.6, "off_threshold": 0.4}


def test_micro_expression_online():
    det = EventDetector(EventConfig(**SCORES, class_names=("pos", "neg", "sur")))
    scores = [0.1, 0.7, 0.8, 0.95, 0.75, 0.5, 0.3, 0.1]
    probs = [[0.1, 0.8, 0.1]] * 4 + [[0.8, 0.1, 0.1]] * 4
    evts = run(det, scores, probs=probs, intensity=[0, 0.2, 0.4, 0.6, 0.9, 0, 0, 0])
    assert phases(evts) == [
        (3, Phase.ONSET, EventKind.MICRO),  # 66 ms >= 40 ms min duration
        (4, Phase.APEX, EventKind.MICRO),  # 0.75 <= 0.95 - 0.1
        (6, Phase.OFFSET, EventKind.MICRO),  # 0.3 < off 0.4
    ]
    on, apex, off = (e for _, e in evts)
    assert on.onset_ns == T0 + FPS30 and on.label == ""
    assert apex.apex_ns == T0 + 3 * FPS30 and apex.peak_score == 0.95
    assert apex.label == "neg" and apex.confidence == pytest.approx(0.8)
    assert apex.intensity == pytest.approx(0.6)  # max intensity from onset to apex frame
    assert off.label == "neg"  # decided at apex, not changed by later frames
    assert off.offset_ns == T0 + 6 * FPS30 and off.duration_ns == 5 * FPS30
    assert off.apex_ns == apex.apex_ns and not off.truncated


def test_phase_property():
    det = EventDetector(EventConfig(**SCORES))
    seen = []
    for i, s in enumerate([0.1, 0.7, 0.8, 0.9, 0.75, 0.2]):
        det.update(T0 + i * FPS30, s)
        seen.append(det.phase)
    # 0.7 at frame 1 starts the segment; it is confirmed at frame 3 (66 ms >= 40 ms).
    assert seen == [Phase.NONE, Phase.NONE, Phase.NONE, Phase.ONSET, Phase.APEX, Phase.NONE]


def test_hysteresis_no_flicker():
    det = EventDetector(EventConfig(on_threshold=0.6, off_threshold=0.4, apex_drop=0.5))
    scores = [0.1, 0.65, 0.55, 0.62, 0.45, 0.61, 0.59, 0.3]
    evts = run(det, scores)
    assert [e.phase for _, e in evts] == [Phase.ONSET, Phase.APEX, Phase.OFFSET]
    assert evts[-1][0] == 7


def test_too_short_is_ignored():
    det = EventDetector(EventConfig(**SCORES, min_duration_s=0.1))
    assert run(det, [0.1, 0.9, 0.9, 0.1, 0.1]) == []
    assert det.phase is Phase.NONE


def test_macro_online_is_reannounced_and_ends_at_its_true_end():
    det = EventDetector(EventConfig(**SCORES))
    scores = [0.1] + [0.9] * 20 + [0.1, 0.9, 0.9, 0.9, 0.7, 0.1]  # 20 frames = 0.66 s, then micro
    evts = run(det, scores)
    # Onset provisional micro; beyond 0.5 s an ONSET kind=macro re-announces the same
    # expression; it ends with an OFFSET kind=macro when the score falls (frame 21).
    assert phases(evts)[:4] == [
        (3, Phase.ONSET, EventKind.MICRO),
        (17, Phase.ONSET, EventKind.MACRO),  # 16 frames * 33 ms = 528 ms > 500 ms
        (21, Phase.APEX, EventKind.MACRO),
        (21, Phase.OFFSET, EventKind.MACRO),
    ]
    assert evts[1][1].onset_ns == evts[0][1].onset_ns == T0 + FPS30
    assert evts[3][1].offset_ns == T0 + 21 * FPS30 and not evts[3][1].truncated
    assert [p for _, p, _ in phases(evts)[4:]] == [Phase.ONSET, Phase.APEX, Phase.OFFSET]
    assert all(k is EventKind.MICRO for _, _, k in phases(evts)[4:])


def test_report_macro_false_drops_macro_events_online():
    det = EventDetector(EventConfig(**SCORES, report_macro=False))
    evts = run(det, [0.1] + [0.9] * 20 + [0.1])
    assert phases(evts) == [(3, Phase.ONSET, EventKind.MICRO)]  # provisional only


def test_level_places_onset_and_offset_where_motion_starts_and_ends():
    """A score threshold alone cuts the slow start and tail off; the level (>= 1 = moving
    above noise) takes the onset back and keeps the event open to the end of the motion."""
    det = EventDetector(EventConfig(on_threshold=0.5, off_threshold=0.2))
    level = [0.2, 0.5, 1.2, 2.0, 4.0, 8.0, 6.0, 3.0, 1.5, 1.1, 0.6, 0.3, 0.2]
    score = [0.0, 0.0, 0.0, 0.1, 0.4, 0.9, 0.7, 0.3, 0.1, 0.0, 0.0, 0.0, 0.0]
    out = []
    for i, (sc, lv) in enumerate(zip(score, level, strict=True)):
        out += [(i, e) for e in det.update(T0 + i * FPS30, sc, level=lv)]
    offset = next(e for _, e in out if e.phase is Phase.OFFSET)
    assert offset.onset_ns == T0 + 2 * FPS30  # level first >= 1 at frame 2
    assert offset.offset_ns == T0 + 9 * FPS30  # last frame with level >= 1
    assert offset.apex_ns == T0 + 5 * FPS30 and offset.kind is EventKind.MICRO
    # the boundary follows large peaks: max(1, 0.05 x peak)
    det = EventDetector(EventConfig(on_threshold=0.5, off_threshold=0.2))
    level = [0.0, 3.0, 10.0, 60.0, 20.0, 2.5, 2.0, 0.5]
    score = [0.0, 0.0, 0.5, 1.0, 1.0, 0.1, 0.1, 0.0]
    ev = [e for i in range(8) for e in det.update(T0 + i * FPS30, score[i], level=level[i])]
    assert ev[-1].onset_ns == T0 + FPS30 and ev[-1].offset_ns == T0 + 4 * FPS30  # 3.0 >= 3


def test_rejected_frames_never_make_an_event():
    """A blink or a head movement (the spotter's reject flag) is never an expression."""
    det = EventDetector(EventConfig(**SCORES))
    out = []
    for i, sc in enumerate([0.1, 0.9, 0.9, 0.9, 0.9, 0.1]):
        out += det.update(T0 + i * FPS30, sc, reject=i in (1, 2, 3, 4))
    assert out == []
    # rejected after its onset was announced: withdrawn at once, the rest ignored
    det = EventDetector(EventConfig(**SCORES))
    out = []
    for i, sc in enumerate([0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.9, 0.9, 0.9, 0.1]):
        out += [(i, e) for e in det.update(T0 + i * FPS30, sc, reject=i == 4)]
    assert [(i, e.phase, e.kind) for i, e in out][:2] == [
        (3, Phase.ONSET, EventKind.MICRO),
        (4, Phase.OFFSET, EventKind.WITHDRAWN),
    ]
    assert out[1][1].truncated and out[1][1].onset_ns == out[0][1].onset_ns
    assert [(e.phase, e.kind) for _, e in out[2:]] == [
        (Phase.ONSET, EventKind.MICRO),
        (Phase.APEX, EventKind.MICRO),
        (Phase.OFFSET, EventKind.MICRO),
    ]


@pytest.mark.parametrize("report_macro", [True, False])
def test_deferred_mode(report_macro):
    det = EventDetector(EventConfig(**SCORES, mode="deferred", report_macro=report_macro))
    scores = [0.1, 0.7, 0.9, 0.7, 0.2] + [0.9] * 20 + [0.1]
    evts = run(det, scores)
    micro = [e for _, e in evts if e.kind is EventKind.MICRO]
    assert [e.phase for e in micro] == [Phase.ONSET, Phase.APEX, Phase.OFFSET]
    assert {i for i, e in evts if e.kind is EventKind.MICRO} == {4}  # all at the offset frame
    assert micro[1].apex_ns == T0 + 2 * FPS30 and micro[0].label == micro[2].label
    macro = [e for _, e in evts if e.kind is EventKind.MACRO]
    if report_macro:
        assert [e.phase for e in macro] == [Phase.ONSET, Phase.APEX, Phase.OFFSET]
        assert macro[2].duration_ns == 20 * FPS30
    else:
        assert macro == []


def test_reset_truncates_an_open_segment_at_its_last_frame():
    """What the pipeline does on a frame gap or time going backwards (the clock decides)."""
    det = EventDetector(EventConfig(**SCORES))
    run(det, [0.1, 0.8, 0.9, 0.95])
    evts = det.reset()
    assert [e.phase for e in evts] == [Phase.APEX, Phase.OFFSET]
    assert evts[-1].truncated and evts[-1].offset_ns == T0 + 3 * FPS30
    assert evts[-1].stamp_ns == T0 + 3 * FPS30 and det.phase is Phase.NONE
    # After a reset any stamp may follow (a bag loop): a fresh segment.
    evts = run(det, [0.1, 0.7, 0.8, 0.95, 0.75, 0.2], t0=T0 - 9 * FPS30)
    assert [e.phase for _, e in evts] == [Phase.ONSET, Phase.APEX, Phase.OFFSET]
    assert det.reset() == []  # nothing open


def test_stamps_must_increase_and_nan_is_a_missing_frame():
    det = EventDetector(EventConfig(**SCORES))
    assert det.update(T0, 0.9) == []
    with pytest.raises(ValueError, match="stream clock"):
        det.update(T0, 0.1)  # a repeated stamp is the clock's business, never fed
    with pytest.raises(ValueError, match="stream clock"):
        det.update(T0 - FPS30, 0.1)
    assert det.update(T0 + FPS30, float("nan")) == []
    assert det.update(T0 + 2 * FPS30, 0.9)[0].phase is Phase.ONSET


def test_stuck_high_score_is_bounded():
    det = EventDetector(EventConfig(**SCORES, mode="deferred", max_event_duration_s=1.0))
    evts = run(det, [0.9] * 60 + [0.1] + [0.8, 0.9, 0.7, 0.1])
    macro = [(i, e) for i, e in evts if e.kind is EventKind.MACRO]
    assert macro[-1][1].truncated and macro[0][0] < 40
    assert [e.phase for _, e in evts if e.kind is EventKind.MICRO] == [
        Phase.ONSET,
        Phase.APEX,
        Phase.OFFSET,
    ]


def test_deterministic_and_rate_independent():
    rng = np.random.default_rng(0)
    t = np.arange(0, 3.5, 1 / 200)
    clean = np.exp(-(((t - 1.0) / 0.08) ** 2)) + np.exp(-(((t - 2.0) / 0.8) ** 2))
    scores = list(np.clip(clean + rng.normal(0, 0.02, t.size), 0, 1))
    a = run(EventDetector(EventConfig(**SCORES)), scores, dt=5 * MS)
    b = run(EventDetector(EventConfig(**SCORES)), scores, dt=5 * MS)
    assert a == b
    kinds = [(e.phase, e.kind) for _, e in a]
    assert kinds[:3] == [(p, EventKind.MICRO) for p in (Phase.ONSET, Phase.APEX, Phase.OFFSET)]
    assert kinds[3:] == [
        (Phase.ONSET, EventKind.MICRO),
        (Phase.ONSET, EventKind.MACRO),
        (Phase.APEX, EventKind.MACRO),
        (Phase.OFFSET, EventKind.MACRO),
    ]
    apex = a[1][1]
    assert abs(apex.apex_ns - (T0 + 1.0e9)) < 50 * MS  # noise + clipping flatten the top
    # Same expression sampled at 30 fps gives the same verdicts.
    sub = scores[::7]
    b30 = run(EventDetector(EventConfig(**SCORES)), sub, dt=35 * MS)
    assert [(e.phase, e.kind) for _, e in b30] == kinds


def test_config_validation():
    with pytest.raises(ValueError):
        EventConfig(on_threshold=0.3, off_threshold=0.5)
    with pytest.raises(ValueError):
        EventConfig(mode="batch")
    with pytest.raises(ValueError):
        EventConfig(min_duration_s=1.0)
    with pytest.raises(ValueError):
        EventConfig(boundary_fraction=1.0)
