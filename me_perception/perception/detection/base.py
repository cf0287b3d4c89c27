"""The face-detection interface and what every detector shares.

A detector returns :class:`FaceDetection` records (box, score, five landmarks, where the
landmarks came from, head roll); the rest of the pipeline depends only on this module, so a
better detector (or faces from an upstream ROS4HRI node) plugs in without touching the rest.
``FaceDetection.landmark_source`` says how the landmarks were measured ("detector", "eyes",
"box") so alignment quality can be reported.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "BOX_LANDMARK_TEMPLATE",
    "Box",
    "FaceDetection",
    "FaceDetector",
    "box_iou",
    "landmarks_from_box",
    "outside_rois",
    "roll_from_landmarks",
]

Box = tuple[float, float, float, float]  # x, y, width, height in pixels

# Five points (image-left eye, image-right eye, nose tip, left mouth corner, right mouth corner)
# as fractions of a frontal-face Haar box. Measured on frontal faces detected by
# haarcascade_frontalface_alt2 (eye rows at ~0.38 of the box height); a fallback, not a landmark
# detector.
BOX_LANDMARK_TEMPLATE = np.array(
    [[0.31, 0.38], [0.69, 0.38], [0.50, 0.58], [0.35, 0.76], [0.65, 0.76]], dtype=np.float32
)


@dataclass(frozen=True)
class FaceDetection:
    """One detected face in full-image pixel coordinates.

    ``landmarks`` is ``(5, 2)`` float32 ordered: image-left eye, image-right eye, nose tip,
    image-left mouth corner, image-right mouth corner. ``landmark_source`` is "detector"
    (all points measured by a landmark model), "eyes" (eyes measured, rest from the
    template) or "box" (all estimated from the box). ``roll_deg`` is the in-plane rotation
    of the face (counter-clockwise as seen in the image, OpenCV's convention) when known
    (measured landmarks, or the angle a rotated ROI pass found it at), else 0.
    """

    box: Box
    score: float
    landmarks: np.ndarray = field(repr=False)
    landmark_source: str = "box"
    roll_deg: float = 0.0


def landmarks_from_box(box: Box) -> np.ndarray:
    """Estimate the five landmarks from a face box (template scaled into the box)."""
    x, y, w, h = box
    pts = BOX_LANDMARK_TEMPLATE * np.array([w, h], np.float32) + np.array([x, y], np.float32)
    return pts.astype(np.float32)


def roll_from_landmarks(landmarks: np.ndarray) -> float:
    """In-plane rotation (degrees, counter-clockwise as seen) from the two eye landmarks."""
    d = np.asarray(landmarks, np.float64)[1] - np.asarray(landmarks, np.float64)[0]
    return float(-np.degrees(np.arctan2(d[1], d[0])))


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def outside_rois(dets: list[FaceDetection], rois: Sequence[Box] | None) -> list[FaceDetection]:
    """Drop full-pass detections whose centre lies in a tracked ROI.

    The ROI pass is authoritative for tracked faces: a full pass may find the same face at
    another pyramid octave with a different box size, which would make the tracked box (and
    so the aligned crop) jump between frames.
    """
    if not rois:
        return dets
    out = []
    for d in dets:
        cx, cy = d.box[0] + d.box[2] / 2, d.box[1] + d.box[3] / 2
        if not any(x <= cx <= x + w and y <= cy <= y + h for x, y, w, h in rois):
            out.append(d)
    return out


class FaceDetector(abc.ABC):
    """Interface every face source implements (trained detector or external ROIs)."""

    @abc.abstractmethod
    def detect(self, gray: np.ndarray, rois: Sequence[Box] | None = None) -> list[FaceDetection]:
        """Detect faces in a grayscale uint8 image.

        ``rois`` (optional) restricts the search to these boxes (e.g. tracked faces, enlarged
        by the implementation); ``None`` means the whole image.
        """

    def detect_slice(
        self, gray: np.ndarray, rois: Sequence[Box] | None, index: int, count: int
    ) -> list[FaceDetection]:
        """Search ``rois`` plus part ``index`` of ``count`` of a full-frame pass.

        Splitting the full pass over ``count`` frames bounds the per-frame cost (and so the
        p99 latency) instead of paying it all on one frame. The default (for detectors that
        cannot split) does the whole full pass on part 0 and only the ROIs otherwise.
        """
        if index % count == 0:
            return self.detect(gray, None)
        return self.detect(gray, rois) if rois else []

    def reset(self) -> None:  # noqa: B027 - a hook: most detectors keep no state
        """Forget any state kept between frames (e.g. a schedule) after a time jump."""
