"""Faces from another node (e.g. ROS4HRI) instead of our own detector."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from me_perception.perception.detection.base import (
    Box,
    FaceDetection,
    FaceDetector,
    landmarks_from_box,
)
from me_perception.perception.detection.haar import HaarDetectorConfig, HaarFaceDetector

__all__ = ["ExternalRoiDetector"]


class ExternalRoiDetector(FaceDetector):
    """Feeds face boxes from another node (e.g. ROS4HRI ``/humans/faces/<id>/roi``).

    The ROS side calls :meth:`set_rois` with the boxes received for the current image (plain
    pixel tuples or via :meth:`roi_from_normalized`); :meth:`detect` returns them with
    landmarks estimated from the box, or measured with ``refine="onet"`` / ``"eyes"`` by
    :class:`HaarFaceDetector`'s landmark stage (O-Net then also drops boxes that hold no
    face, and its probability becomes the score). Boxes older than ``max_age_ns`` relative
    to the image are ignored, so a stopped upstream node does not freeze faces in place.
    """

    def __init__(self, max_age_ns: int = 200_000_000, refine: str = "box") -> None:
        self.max_age_ns = max_age_ns
        self._rois: list[tuple[Box, float]] = []
        self._stamp_ns: int | None = None
        self._refiner = (
            HaarFaceDetector(HaarDetectorConfig(landmarks=refine)) if refine != "box" else None
        )
        self.image_stamp_ns: int | None = None

    @staticmethod
    def roi_from_normalized(
        xmin: float, ymin: float, xmax: float, ymax: float, width: int, height: int
    ) -> Box:
        """Convert a ``hri_msgs/NormalizedRegionOfInterest2D`` to a pixel box."""
        return (xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height)

    @staticmethod
    def roi_from_region_of_interest(x_offset: int, y_offset: int, width: int, height: int) -> Box:
        """Convert a ``sensor_msgs/RegionOfInterest`` to a pixel box."""
        return (float(x_offset), float(y_offset), float(width), float(height))

    def set_rois(
        self, rois: Sequence[Box], stamp_ns: int | None = None, score: float = 1.0
    ) -> None:
        """Replace the current external boxes (all from one upstream message set)."""
        self._rois = [(tuple(map(float, r)), score) for r in rois if r[2] > 0 and r[3] > 0]
        self._stamp_ns = stamp_ns

    def detect(self, gray: np.ndarray, rois: Sequence[Box] | None = None) -> list[FaceDetection]:
        """Return the external boxes (``rois`` is ignored: the upstream node decides)."""
        if (
            self._stamp_ns is not None
            and self.image_stamp_ns is not None
            and abs(self.image_stamp_ns - self._stamp_ns) > self.max_age_ns
        ):
            return []
        ih, iw = gray.shape[:2]
        out = []
        for (x, y, w, h), s in self._rois:
            x0, y0 = max(0.0, x), max(0.0, y)
            x1, y1 = min(float(iw), x + w), min(float(ih), y + h)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            box = (x0, y0, x1 - x0, y1 - y0)
            out.append(FaceDetection(box, s, landmarks_from_box(box), "box"))
        if self._refiner is not None:
            out = self._refiner.refine(gray, out)
        return out
