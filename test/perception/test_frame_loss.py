"""Frames lost before they arrive, estimated from the gaps between stamps (no ROS)."""

from __future__ import annotations

import numpy as np

from me_perception.perception.frame_loss import LossConfig, StreamLossMonitor

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def _feed(monitor: StreamLossMonitor, stamps: list[int], t0: float = 0.0) -> float:
    """Observe ``stamps`` as if they arrived at their own pace; returns the last receipt time."""
    now = t0
    for s in stamps:
        now = t0 + (s - stamps[0]) / NS
        monitor.observe(s, now)
    return now


def test_a_complete_stream_loses_nothing_even_with_jitter() -> None:
    rng = np.random.default_rng(0)
    stamps = [T0 + round(i * NS / 30 + rng.normal(0, 2e6)) for i in range(300)]
    monitor = StreamLossMonitor(LossConfig(window_s=5.0))
    now = _feed(monitor, stamps)
    snap = monitor.snapshot(now)
    assert snap.lost_stamps_total == 0 and snap.fraction == 0.0
    assert abs(snap.rate_hz - 30.0) < 1.0


def test_heavy_random_loss_is_estimated_from_the_true_period() -> None:
    """70 % lost: the median interval of what arrives is 2-3 periods; the estimate must
    still find the 33 ms period and count the missing frames."""
    rng = np.random.default_rng(1)
    every = [T0 + round(i * NS / 30) for i in range(600)]
    kept = [s for s in every if rng.random() < 0.3]
    monitor = StreamLossMonitor(LossConfig(window_s=30.0))
    now = _feed(monitor, kept)
    snap = monitor.snapshot(now)
    true_lost = (kept[-1] - kept[0]) // round(NS / 30) + 1 - len(kept)
    assert abs(snap.rate_hz - 30.0) < 1.5, snap
    assert abs(snap.lost_stamps_total - true_lost) <= 0.1 * true_lost, (snap, true_lost)
    assert 0.6 < snap.fraction < 0.8, snap


def test_a_lower_camera_rate_is_adopted_not_reported_as_loss_for_long() -> None:
    """Auto-exposure halves a webcam's rate: after a few seconds at 15 Hz no more loss."""
    at30 = [T0 + round(i * NS / 30) for i in range(90)]
    at15 = [at30[-1] + round((i + 1) * NS / 15) for i in range(150)]
    monitor = StreamLossMonitor(LossConfig(window_s=5.0))
    _feed(monitor, at30 + at15[:45])  # 3 s at 15 Hz
    counted = monitor.lost_stamps_total
    now = _feed(monitor, at15[45:], t0=(at15[45] - at30[0]) / NS)
    assert monitor.lost_stamps_total == counted, "still counting after the rate was adopted"
    assert abs(monitor.snapshot(now).rate_hz - 15.0) < 1.0


def test_pauses_and_time_going_backwards_are_not_loss() -> None:
    monitor = StreamLossMonitor(LossConfig(pause_s=2.0))
    first = [T0 + round(i * NS / 30) for i in range(60)]
    after_pause = [first[-1] + 5 * NS + round(i * NS / 30) for i in range(60)]
    bag_loop = list(first)  # a bag played again from its start
    _feed(monitor, first + after_pause + bag_loop)
    assert monitor.lost_stamps_total == 0


def test_middleware_and_stamp_counts_of_the_same_frames_are_not_added() -> None:
    monitor = StreamLossMonitor(LossConfig(window_s=10.0))
    stamps = [T0 + round(i * NS / 30) for i in range(0, 300, 2)]  # every other frame lost
    now = _feed(monitor, stamps[:20])
    monitor.add_transport_lost(19, now)
    snap = monitor.snapshot(now)
    assert snap.lost_transport_total == 19
    assert snap.lost == max(snap.lost_stamps_total, 19)  # the same frames, seen twice
    monitor.add_transport_lost(100, now)  # a total loss the stamps cannot see
    assert monitor.snapshot(now).lost == 119
