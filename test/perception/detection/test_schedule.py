"""The detection schedule: full passes split over frames, ROI passes in between."""

from __future__ import annotations

import pytest

from me_perception.perception.detection import FaceDetector, IntervalDetector


def test_interval_detector_schedule(astronaut_gray):
    calls = []

    class Spy(FaceDetector):
        def detect(self, gray, rois=None):
            calls.append("full" if rois is None else "roi")
            return []

    sched = IntervalDetector(Spy(), full_every=3)
    rois = [(10.0, 10.0, 50.0, 50.0)]
    for _ in range(6):
        sched.detect(astronaut_gray, rois)
    # Full-pass frames also re-detect the tracked ROIs.
    assert calls == ["full", "roi", "roi", "roi", "full", "roi", "roi", "roi"]
    calls.clear()
    sched.detect(astronaut_gray, [])  # nothing tracked: always a full pass
    assert calls == ["full"]
    with pytest.raises(ValueError):
        IntervalDetector(Spy(), full_every=2, slices=3)


def test_interval_detector_with_slices_tracks_a_face(detector, astronaut_gray):
    sched = IntervalDetector(detector, full_every=6, slices=3)
    found = []
    for _ in range(3):  # nothing tracked yet: the three slices run back to back
        found += sched.detect(astronaut_gray, None)
    assert 1 <= len(found) <= 2  # the face may sit on an octave boundary: found twice
    roi = [found[0].box]
    passes = []
    for _ in range(6):
        dets = sched.detect(astronaut_gray, roi)
        passes.append(sched.last_pass)
        assert len(dets) == 1  # the tracked face is re-found on every frame
    # The schedule counts every call: calls 0-2 were the idle slices, so 3-5 are ROI-only.
    assert passes == ["roi", "roi", "roi", "full:0/3+roi", "full:1/3+roi", "full:2/3+roi"]
