"""The one set of stamp conversions: exact in nanoseconds, (sec, nanosec) for messages."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from me_perception.perception.stamps import (
    nearest_index,
    ns_to_s,
    ns_to_time,
    s_to_ns,
    time_to_ns,
    to_ns,
)


def test_round_trips_are_exact() -> None:
    for ns in (0, 1, 999_999_999, 1_700_000_000_123_456_789):
        sec, nanosec = ns_to_time(ns)
        assert 0 <= nanosec < 1_000_000_000 and to_ns(sec, nanosec) == ns
        assert time_to_ns(SimpleNamespace(sec=sec, nanosec=nanosec)) == ns
    assert ns_to_time(1_700_000_000_123_456_789) == (1_700_000_000, 123_456_789)
    assert s_to_ns(1 / 30) == 33_333_333 and ns_to_s(33_333_333) == 0.033333333
    assert ns_to_s(1_700_000_000_000_000_001) == 1.700000000000000001e9  # exact, then rounded


def test_nearest_index() -> None:
    stamps = np.array([100, 200, 300], np.int64)
    assert [nearest_index(stamps, ns) for ns in (90, 149, 150, 151, 299, 10_000)] == [
        0,
        0,
        0,  # a tie goes to the earlier frame
        1,
        2,
        2,
    ]
    assert nearest_index(stamps, 0) == -1 and nearest_index(np.array([], np.int64), 5) == -1
