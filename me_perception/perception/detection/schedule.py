"""When to run full-frame and ROI detection passes: a bounded cost per frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from me_perception.perception.detection.base import Box, FaceDetection, FaceDetector, outside_rois

__all__ = ["IntervalDetector"]


class IntervalDetector(FaceDetector):
    """Schedules full-frame and ROI passes over frames for a bounded per-frame cost.

    Every ``full_every`` frames a full pass starts; it is split over ``slices`` consecutive
    frames (:meth:`FaceDetector.detect_slice`), each of which also re-detects the tracked faces
    in their ROIs; the other frames do ROI passes only. With no ROIs (no face tracked) the
    slices run back to back, so a new face is found within ``slices`` frames when nothing is
    tracked and within ``full_every + slices`` frames otherwise. Deterministic: the schedule
    depends only on the call count, so bag replays give the same detections.
    """

    def __init__(self, detector: FaceDetector, full_every: int = 10, slices: int = 1) -> None:
        if full_every < 1 or slices < 1 or slices > full_every:
            raise ValueError("need 1 <= slices <= full_every")
        self.detector = detector
        self.full_every = full_every
        self.slices = slices
        self._count = 0
        self._idle_slice = 0
        self.last_pass = ""

    def detect(self, gray: np.ndarray, rois: Sequence[Box] | None = None) -> list[FaceDetection]:
        """Run this frame's share of the schedule; ``last_pass`` says what ran."""
        phase = self._count % self.full_every
        self._count += 1
        if not rois:
            index = self._idle_slice % self.slices
            self._idle_slice += 1
            self.last_pass = f"full:{index}/{self.slices}"
            if self.slices == 1:
                return self.detector.detect(gray, None)
            return self.detector.detect_slice(gray, None, index, self.slices)
        self._idle_slice = 0
        if phase < self.slices:
            self.last_pass = f"full:{phase}/{self.slices}+roi"
            if self.slices == 1:
                full = self.detector.detect(gray, None)
                return self.detector.detect(gray, rois) + outside_rois(full, rois)
            return self.detector.detect_slice(gray, rois, phase, self.slices)
        self.last_pass = "roi"
        return self.detector.detect(gray, rois)

    def reset(self) -> None:
        """Restart the schedule (e.g. after a time jump): the next call starts a full pass."""
        self._count = 0
        self._idle_slice = 0
