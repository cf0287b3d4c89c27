"""Stamp conversions, one set for the whole package.

Inside the package a stamp is an ``int`` of nanoseconds (exact, totally ordered, what the
pipeline, the event logic and the bag files use). It travels as ``builtin_interfaces/Time``
(``sec``, ``nanosec``) in messages, and as float seconds in reports and plots. Nothing here
imports ROS: message stamps are read duck-typed, so rclpy and rosbags messages both work.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "NS_PER_S",
    "nearest_index",
    "ns_to_s",
    "ns_to_time",
    "s_to_ns",
    "time_to_ns",
    "to_ns",
]

NS_PER_S = 1_000_000_000


def to_ns(sec: int, nanosec: int) -> int:
    """Nanoseconds of a (sec, nanosec) pair."""
    return int(sec) * NS_PER_S + int(nanosec)


def time_to_ns(stamp: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time`` (anything with ``sec`` and ``nanosec``)."""
    return to_ns(stamp.sec, stamp.nanosec)


def ns_to_time(ns: int) -> tuple[int, int]:
    """(sec, nanosec) of a nanosecond stamp; 0 gives (0, 0), "unknown" in our messages."""
    sec, nanosec = divmod(int(ns), NS_PER_S)
    return sec, nanosec


def ns_to_s(ns: int) -> float:
    """Seconds of a nanosecond duration or stamp (exact integer division, then rounded once)."""
    return int(ns) / NS_PER_S


def s_to_ns(seconds: float) -> int:
    """Whole nanoseconds of a time in seconds (rounded to the nearest)."""
    return round(float(seconds) * NS_PER_S)


def nearest_index(stamps_ns: np.ndarray, ns: int) -> int:
    """Index of the frame whose stamp is nearest to ``ns`` in sorted ``stamps_ns`` (ties go to
    the earlier frame); -1 for an unknown stamp (``ns <= 0``) or no frames."""
    if ns <= 0 or stamps_ns.size == 0:
        return -1
    i = int(np.searchsorted(stamps_ns, ns))
    if i >= stamps_ns.size:
        return int(stamps_ns.size - 1)
    if i > 0 and abs(stamps_ns[i - 1] - ns) <= abs(stamps_ns[i] - ns):
        return i - 1
    return i
