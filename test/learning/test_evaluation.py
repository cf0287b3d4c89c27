"""Evaluation: spotting intervals read from per-frame probabilities as the node reads them."""

from __future__ import annotations

import numpy as np
import pytest

from me_perception.learning.evaluation import SpotParams, extract_intervals


def test_extract_intervals_duration_rule():
    p = np.zeros((60, 3), np.float32)
    p[:, 0] = 1
    p[10:14] = (0, 0.9, 0.1)  # 4 frames at 30 fps: micro
    p[30:50] = (0, 0.9, 0.1)  # 20 frames = 0.67 s > 0.5 s: macro whatever the probabilities
    assert extract_intervals(p, 30.0, SpotParams(0.5)) == [(10, 13, "micro"), (30, 49, "macro")]


def test_micro_score_reads_p_micro_only_like_the_node():
    # Frames 0-4: macro-like (p_macro high), frames 10-13: micro; 20-40: a long p_micro run.
    p = np.tile([1.0, 0.0, 0.0], (50, 1))
    p[0:5] = [0.1, 0.1, 0.8]
    p[10:14] = [0.1, 0.8, 0.1]
    p[20:41] = [0.1, 0.8, 0.1]
    node_like = extract_intervals(p, 30.0, SpotParams(threshold=0.5, score="micro"))
    assert node_like == [(10, 13, "micro"), (20, 40, "macro")]  # > 0.5 s -> macro
    both = extract_intervals(p, 30.0, SpotParams(threshold=0.5, score="any"))
    assert (0, 4, "macro") in both
    with pytest.raises(ValueError, match="score"):
        extract_intervals(p, 30.0, SpotParams(score="bogus"))
