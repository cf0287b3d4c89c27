"""The diagnostics verdict: level and message from the recent window, totals kept (no ROS)."""

from __future__ import annotations

from me_perception.perception.frame_loss import LossConfig, StreamLossMonitor
from me_perception.ros.node_health import (
    ERROR,
    OK,
    WARN,
    FrameStats,
    HealthThresholds,
    NodeCondition,
    as_key_values,
    assess,
)

ACTIVE = NodeCondition(configured=True, active=True, input_topic="/cam", input_publishers=1)
LIMITS = HealthThresholds(window_s=5.0)


def _verdict(stats: FrameStats, now: float, node: NodeCondition = ACTIVE) -> tuple[int, str]:
    loss = StreamLossMonitor(LossConfig(window_s=5.0)).snapshot(now)
    return assess(stats.snapshot(now), loss, node, LIMITS)


def _frames(stats: FrameStats, start: float, n: int, latency: float = 0.01) -> float:
    t = start
    for i in range(n):
        t = start + i / 30
        stats.count_received(t)
        stats.count_processed(latency, [], t)
    return t


def test_one_bad_frame_warns_for_the_window_then_ok_again() -> None:
    stats = FrameStats(window_s=5.0)
    t = _frames(stats, 0.0, 30)
    stats.count_received(t)
    stats.count_dropped("decode_unsupported_encoding", "image dropped: 32FC1", t)
    level, message = _verdict(stats, t + 0.1)
    assert level == WARN and "32FC1" in message and "decode_unsupported_encoding" in message
    t = _frames(stats, t + 0.1, 200)  # more than 5 s of good frames
    level, message = _verdict(stats, t)
    assert level == OK and message.startswith("running"), message
    snap = stats.snapshot(t)
    assert snap.dropped == {"decode_unsupported_encoding": 1}  # totals are kept
    assert snap.received == snap.processed + 1


def test_latency_thresholds_are_ros4hri_s() -> None:
    for latency, expected in ((0.3, OK), (0.8, WARN), (2.5, ERROR)):
        stats = FrameStats(window_s=5.0)
        t = _frames(stats, 0.0, 30, latency)
        level, message = _verdict(stats, t)
        assert level == expected, (latency, message)


def test_message_is_every_current_problem_most_severe_first() -> None:
    stats = FrameStats(window_s=5.0)
    t = _frames(stats, 0.0, 30, latency=2.5)
    stats.count_processed(0.01, ["abcde"], t)
    level, message = _verdict(stats, t)
    assert level == ERROR
    first, second = message.split("; ", 1)
    assert first.startswith("latency") and "non-finite" in second and "abcde" in second


def test_not_configured_says_why_and_benign_drops_are_not_faults() -> None:
    stats = FrameStats(window_s=5.0)
    level, message = _verdict(
        stats, 1.0, NodeCondition(configured=False, active=False, config_error="max_faces: ...")
    )
    assert level == ERROR and message == "not configured: max_faces: ..."
    t = _frames(stats, 0.0, 30)
    stats.count_dropped("superseded", "", t)  # one skipped frame: by design
    assert _verdict(stats, t)[0] == OK
    for _ in range(60):  # but skipping most frames is not keeping up
        stats.count_received(t)
        stats.count_dropped("superseded", "", t)
    level, message = _verdict(stats, t)
    assert level == WARN and "cannot keep up" in message


def test_silence_with_a_matched_publisher_warns() -> None:
    quiet = NodeCondition(
        configured=True,
        active=True,
        input_topic="/cam",
        input_publishers=1,
        seconds_without_frames=4.0,
    )
    level, message = _verdict(FrameStats(), 10.0, quiet)
    assert level == WARN and "no frame from /cam for 4 s" in message


def test_pipeline_notes_are_shown_for_the_window_and_never_set_the_level() -> None:
    stats = FrameStats(window_s=5.0)
    t = _frames(stats, 0.0, 30)
    backwards = "time went backwards by 266.7 ms: state reset"
    gap = "frame gap of 5000 ms: feature buffers restart, open events end"
    stats.count_processed(0.01, [], t, [backwards])
    stats.count_processed(0.01, [], t + 0.1, [gap, backwards])  # repeated: shown once, newest last
    loss = StreamLossMonitor(LossConfig(window_s=5.0)).snapshot(t + 0.2)
    values = as_key_values(stats.snapshot(t + 0.2), loss, pending=0)
    assert values["recent_notes"] == f"{gap}; {backwards}", values
    assert values["last_error"] == "", "notes are not errors"
    level, message = _verdict(stats, t + 0.2)
    assert level == OK and message.startswith("running"), message
    t = _frames(stats, t + 0.3, 200)  # more than 5 s later
    values = as_key_values(stats.snapshot(t), loss, pending=0)
    assert values["recent_notes"] == "", values
