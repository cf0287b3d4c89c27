"""The one owner of stream time: fresh, repeated, gap and backwards stamps; the frame rate."""

from __future__ import annotations

import pytest

from me_perception.perception.stream_clock import ClockConfig, StampKind, StreamClock

MS = 1_000_000
T0 = 1_700_000_000 * 1000 * MS


def kinds(clock: StreamClock, stamps: list[int]) -> list[StampKind]:
    return [clock.observe(s).kind for s in stamps]


def test_each_kind_of_stamp() -> None:
    clock = StreamClock()
    dt = 33 * MS
    stamps = [T0, T0 + dt, T0 + dt, T0 + 2 * dt, T0 + 2 * dt + 400 * MS, T0]
    assert kinds(clock, stamps) == [
        StampKind.FIRST,
        StampKind.FRESH,
        StampKind.DUPLICATE,
        StampKind.FRESH,
        StampKind.GAP,
        StampKind.BACKWARDS,
    ]


def test_ticks_say_what_advances_and_carry_notes() -> None:
    clock = StreamClock()
    first, fresh, dup = clock.observe(T0), clock.observe(T0 + 33 * MS), clock.observe(T0 + 33 * MS)
    assert first.advances and fresh.advances and not dup.advances
    assert first.note is None and fresh.note is None
    assert "repeated" in dup.note and "not advanced" in dup.note
    gap = clock.observe(T0 + 5033 * MS)
    assert gap.step_ns == 5000 * MS and gap.note == (
        "frame gap of 5000 ms: feature buffers restart, open events end"
    )
    back = clock.observe(T0)
    assert back.step_ns == -5033 * MS and back.note.startswith("time went backwards by 5033.0 ms")
    assert (
        clock.observe(T0 + 33 * MS).kind is StampKind.FRESH
    )  # the backwards frame is the new last


def test_gap_limit_is_a_quarter_second_or_three_frames() -> None:
    clock = StreamClock()
    assert clock.gap_ns == 250 * MS  # 30 fps: 3 frames = 100 ms < 250 ms
    assert kinds(clock, [T0, T0 + 250 * MS, T0 + 501 * MS]) == [
        StampKind.FIRST,
        StampKind.FRESH,
        StampKind.GAP,
    ]
    slow = StreamClock(ClockConfig(nominal_fps=5.0))
    assert slow.gap_ns == 600 * MS  # 3 frames at 5 fps
    assert kinds(slow, [T0, T0 + 400 * MS]) == [StampKind.FIRST, StampKind.FRESH]


@pytest.mark.parametrize("fps", [200.0, 4.0])
def test_frame_rate_is_measured_and_adopted_once(fps: float) -> None:
    """A 200 fps camera and a 4 fps one (whose first intervals look like gaps) both converge."""
    clock = StreamClock()
    step = round(1e9 / fps)
    ticks = [clock.observe(T0 + i * step) for i in range(40)]
    changed = [i for i, t in enumerate(ticks) if t.fps_changed]
    assert changed == [10]  # after ten intervals, then never again
    assert clock.fps == pytest.approx(fps, rel=1e-6)
    assert all(t.kind is StampKind.FRESH for t in ticks[11:])


def test_small_rate_changes_are_not_adopted() -> None:
    clock = StreamClock()
    for i in range(40):
        assert not clock.observe(T0 + i * 30 * MS).fps_changed  # 33.3 fps: within 20 %
    assert clock.fps == 30.0


def test_reset_forgets_the_last_stamp_but_keeps_the_rate() -> None:
    clock = StreamClock()
    for i in range(20):
        clock.observe(T0 + i * 5 * MS)
    assert clock.fps == pytest.approx(200.0)
    clock.reset()
    assert clock.observe(T0).kind is StampKind.FIRST and clock.fps == pytest.approx(200.0)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        ClockConfig(nominal_fps=0.0)
    with pytest.raises(ValueError):
        ClockConfig(max_gap_s=0.0)
