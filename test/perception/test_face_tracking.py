"""Tracker rules: ids, confirmation, misses, coasting, matching, smoothing, determinism."""

from __future__ import annotations

import re

import numpy as np
import pytest

from me_perception.perception.detection import FaceDetection, landmarks_from_box
from me_perception.perception.face_tracking import FaceTracker, TrackerConfig


def det(x: float, y: float, s: float = 100.0, score: float = 0.9) -> FaceDetection:
    box = (float(x), float(y), float(s), float(s))
    return FaceDetection(box, score, landmarks_from_box(box), "box")


def test_confirmation_and_ids():
    tr = FaceTracker(TrackerConfig(confirm_hits=3, seed=1))
    u1 = tr.update([det(100, 100)])
    assert u1.tracks == [] and u1.appeared == []
    tr.update([det(101, 100)])
    u3 = tr.update([det(102, 101)])
    assert len(u3.tracks) == 1 and u3.appeared == [u3.tracks[0].id]
    assert re.fullmatch(r"[a-z]{5}", u3.tracks[0].id)
    assert u3.assignments == {0: u3.tracks[0].id}


def test_ids_deterministic_and_unique():
    def run(seed: int) -> list[str]:
        tr = FaceTracker(TrackerConfig(confirm_hits=1, seed=seed))
        ids = []
        for k in range(20):  # a new face far away each time, old one lost
            ids += tr.update([det(1000 * k, 0)]).appeared
        return ids

    a, b = run(7), run(7)
    assert a == b and len(set(a)) == 20
    assert run(8) != a


def test_tentative_false_positive_never_reported():
    tr = FaceTracker(TrackerConfig(confirm_hits=2))
    u = tr.update([det(0, 0), det(300, 0)])
    u = tr.update([det(0, 0)])
    assert len(u.tracks) == 1 and len(u.appeared) == 1 and u.lost == []
    assert len(tr.rois) == 1  # the one-frame false positive is gone


def test_lost_after_max_misses_and_coasting():
    tr = FaceTracker(TrackerConfig(confirm_hits=1, max_misses=2))
    fid = tr.update([det(0, 0)]).appeared[0]
    for _ in range(10):  # detector not run: no misses
        assert [t.id for t in tr.update(None).tracks] == [fid]
    assert tr.update([]).lost == []
    assert tr.update([]).lost == []
    u = tr.update([])
    assert u.lost == [fid] and u.tracks == []


def test_two_faces_crossing_keep_ids():
    tr = FaceTracker(TrackerConfig(confirm_hits=1))
    u = tr.update([det(0, 0), det(300, 0)])
    left, right = (t.id for t in sorted(u.tracks, key=lambda t: t.box[0]))
    for k in range(1, 8):  # move towards each other in steps of 20 px
        u = tr.update([det(300 - 20 * k, 0), det(20 * k, 0)])  # order swapped on purpose
        boxes = {t.id: t.raw_box[0] for t in u.tracks}
        assert boxes[left] == 20 * k and boxes[right] == 300 - 20 * k


@pytest.mark.parametrize("hungarian", [True, False])
def test_matching_optimal_or_greedy(hungarian):
    tr = FaceTracker(TrackerConfig(confirm_hits=1, use_hungarian=hungarian))
    u = tr.update([det(0, 0), det(90, 0)])
    ids = {round(t.box[0]): t.id for t in u.tracks}
    u = tr.update([det(5, 0), det(95, 0)])
    assert {t.id for t in u.tracks} == set(ids.values())
    assert u.assignments == {0: ids[0], 1: ids[90]}


def test_fast_motion_matched_by_centre_gate():
    tr = FaceTracker(TrackerConfig(confirm_hits=1, iou_threshold=0.3, center_gate=0.5))
    fid = tr.update([det(0, 0)]).appeared[0]
    u = tr.update([det(45, 0)])  # IoU 0.38 -> matched by IoU
    assert u.appeared == [] and u.tracks[0].id == fid
    u = tr.update([det(90, 0)])  # IoU ~0.2 but centre 45 px < 50 px gate
    assert u.appeared == [] and u.tracks[0].id == fid


def test_smoothing_damps_jitter_but_follows_motion():
    tr = FaceTracker(TrackerConfig(confirm_hits=1, smoothing_min=0.3, smoothing_motion=0.1))
    tr.update([det(100, 100)])
    rng = np.random.default_rng(0)
    xs = []
    for _ in range(50):
        x = 100 + rng.normal(0, 1.5)
        xs.append(tr.update([det(x, 100)]).tracks[0].box[0])
    assert np.std(xs) < 1.0  # raw jitter std 1.5 px
    x_big = tr.update([det(140, 100)]).tracks[0].box[0]
    assert x_big == pytest.approx(140, abs=1)  # a real move is followed without lag
    lm = tr.tracks[0].landmarks
    np.testing.assert_allclose(lm, landmarks_from_box((140, 100, 100, 100)), atol=1)


def test_reset_reports_lost_and_keeps_ids_unique():
    tr = FaceTracker(TrackerConfig(confirm_hits=1, seed=3))
    a = tr.update([det(0, 0)]).appeared
    assert tr.reset() == a
    b = tr.update([det(0, 0)]).appeared
    assert b != a and tr.tracks[0].id == b[0]


def test_measured_landmarks_carried_when_detector_falls_back_to_box():
    tr = FaceTracker(TrackerConfig(confirm_hits=1, carry_landmarks=2, smoothing_min=1.0))
    box = (100.0, 100.0, 100.0, 100.0)
    measured = landmarks_from_box(box) + np.float32(3.0)  # "eyes" geometry differs from box
    tr.update([FaceDetection(box, 0.9, measured, "eyes")])
    moved = (110.0, 100.0, 100.0, 100.0)
    t = tr.update([det(110, 100)]).tracks[0]
    assert t.landmark_source == "eyes"
    np.testing.assert_allclose(t.landmarks, measured + np.float32([10.0, 0.0]), atol=1e-4)
    tr.update([det(110, 100)])
    t = tr.update([det(110, 100)]).tracks[0]  # carried twice: now the box template
    assert t.landmark_source == "box"
    np.testing.assert_allclose(t.landmarks, landmarks_from_box(moved), atol=1e-4)
