"""Face detection behind a small interface, with a real trained detector shipped in a wheel.

Why OpenCV's Haar cascades: they are trained detectors that ship *inside* the
``opencv-python(-headless)`` 4.x wheel (``cv2.data.haarcascades``), need nothing downloaded at
run time, run on any CPU, and were measured (docs/front_end.md) to find the face in
``skimage.data.astronaut()`` with no false positive on ``coffee()`` or noise. MediaPipe's
BlazeFace (better on non-frontal faces) was tried and rejected: its wheel's generated protobuf
code fails against the protobuf 7 runtime that onnx/onnxruntime need here.

Why the ``rois`` argument and :class:`IntervalDetector`: a full-frame cascade pass over a
downscaled 640x480 frame costs tens of milliseconds on one core, too slow for 60 fps. The
pipeline therefore runs a full pass every n-th frame and, in between, re-detects only inside
enlarged boxes around the tracked faces (a few milliseconds), with the tracker coasting when
even that is skipped.

Landmarks: the cascade gives only a box. Eyes are refined with the eye cascade inside the upper
part of the box; the five points (eyes, nose tip, mouth corners) are then a canonical template
mapped by the similarity that puts the template eyes on the detected eyes, or, when the eyes are
not found, the template scaled into the box (:func:`landmarks_from_box`). ``FaceDetection``
says which (``landmark_source``) so alignment quality can be reported.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = [
    "BOX_LANDMARK_TEMPLATE",
    "ExternalRoiDetector",
    "FaceDetection",
    "FaceDetector",
    "HaarDetectorConfig",
    "HaarFaceDetector",
    "IntervalDetector",
    "landmarks_from_box",
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
    (all points measured), "eyes" (eyes measured, rest from the template) or "box" (all
    estimated from the box).
    """

    box: Box
    score: float
    landmarks: np.ndarray = field(repr=False)
    landmark_source: str = "box"


def landmarks_from_box(box: Box) -> np.ndarray:
    """Estimate the five landmarks from a face box (template scaled into the box)."""
    x, y, w, h = box
    pts = BOX_LANDMARK_TEMPLATE * np.array([w, h], np.float32) + np.array([x, y], np.float32)
    return pts.astype(np.float32)


def _landmarks_from_eyes(box: Box, left_eye: np.ndarray, right_eye: np.ndarray) -> np.ndarray:
    """Map the box template onto measured eyes with the similarity fixed by the two eyes."""
    tmpl = landmarks_from_box(box)
    src = tmpl[1] - tmpl[0]
    dst = right_eye - left_eye
    # Complex-number form of a 2-D similarity: z -> a*z + b.
    a = complex(dst[0], dst[1]) / complex(src[0], src[1])
    out = np.empty_like(tmpl)
    for i, p in enumerate(tmpl):
        z = a * complex(p[0] - tmpl[0][0], p[1] - tmpl[0][1]) + complex(*left_eye)
        out[i] = (z.real, z.imag)
    return out


class FaceDetector(abc.ABC):
    """Interface every face source implements (trained detector or external ROIs)."""

    @abc.abstractmethod
    def detect(self, gray: np.ndarray, rois: Sequence[Box] | None = None) -> list[FaceDetection]:
        """Detect faces in a grayscale uint8 image.

        ``rois`` (optional) restricts the search to these boxes (e.g. tracked faces, enlarged
        by the implementation); ``None`` means the whole image.
        """


@dataclass(frozen=True)
class HaarDetectorConfig:
    """Settings of :class:`HaarFaceDetector`.

    ``detect_width``: full-frame passes run on the image resized to this width (faces of a
    social robot's camera are large; halving 640 px costs little recall and saves ~4x time).
    ``min_face_px`` is in original pixels. ``roi_margin`` enlarges a tracked box on each side
    (fraction of its size) for ROI re-detection, enough for a face moving between passes.
    """

    cascade: str = "haarcascade_frontalface_alt2.xml"
    eye_cascade: str | None = "haarcascade_eye.xml"
    detect_width: int = 320
    scale_factor: float = 1.1
    min_neighbors: int = 3
    min_face_px: int = 40
    max_face_frac: float = 1.0
    roi_margin: float = 0.4
    roi_face_px: int = 64
    eyes: bool = True
    nms_iou: float = 0.3


def _cascade_path(name: str) -> str:
    if os.path.isabs(name) or os.path.exists(name):
        return name
    return os.path.join(cv2.data.haarcascades, name)


def _load_cascade(name: str) -> cv2.CascadeClassifier:
    path = _cascade_path(name)
    clf = cv2.CascadeClassifier(path)
    if clf.empty():
        raise FileNotFoundError(f"could not load cascade {path}")
    return clf


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def _nms(dets: list[FaceDetection], iou: float) -> list[FaceDetection]:
    keep: list[FaceDetection] = []
    for d in sorted(dets, key=lambda d: -d.score):
        if all(box_iou(d.box, k.box) < iou for k in keep):
            keep.append(d)
    return keep


class HaarFaceDetector(FaceDetector):
    """OpenCV Haar cascade face detector with eye-cascade landmark refinement.

    ``score`` is a monotone squashing of the cascade's neighbour count
    (``n / (n + min_neighbors)``): the count is what the cascade offers as evidence, and a
    [0, 1] value keeps the interface the same as for probabilistic detectors.
    """

    def __init__(self, config: HaarDetectorConfig | None = None) -> None:
        self.config = config or HaarDetectorConfig()
        self._face = _load_cascade(self.config.cascade)
        self._eye = (
            _load_cascade(self.config.eye_cascade)
            if self.config.eyes and self.config.eye_cascade
            else None
        )

    def _run(self, gray: np.ndarray, scale: float, min_px: int, max_px: int) -> list[tuple]:
        """Run the cascade on ``gray`` resized by ``scale``; boxes in input pixels."""
        cfg = self.config
        if scale != 1.0:
            small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        else:
            small = gray
        min_s = max(20, round(min_px * scale))
        max_s = max(min_s + 1, round(max_px * scale))
        if min(small.shape[:2]) < min_s:
            return []
        boxes, neighbours = self._face.detectMultiScale2(
            small,
            scaleFactor=cfg.scale_factor,
            minNeighbors=cfg.min_neighbors,
            minSize=(min_s, min_s),
            maxSize=(max_s, max_s),
        )
        out = []
        for (x, y, w, h), n in zip(
            np.asarray(boxes).reshape(-1, 4), np.ravel(neighbours), strict=True
        ):
            out.append((x / scale, y / scale, w / scale, h / scale, int(n)))
        return out

    def _eyes(self, gray: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray] | None:
        """Find the two eyes inside the upper part of ``box``; None when not both found."""
        if self._eye is None:
            return None
        x, y, w, h = box
        x0, y0 = int(max(0, x)), int(max(0, y + 0.15 * h))
        x1, y1 = int(min(gray.shape[1], x + w)), int(min(gray.shape[0], y + 0.6 * h))
        if x1 - x0 < 20 or y1 - y0 < 10:
            return None
        crop = gray[y0:y1, x0:x1]
        # Eyes are searched on a fixed-size face crop: cost independent of face size.
        s = min(1.0, 96.0 / crop.shape[1])
        if s < 1.0:
            crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        eye_min = max(8, int(0.15 * w * s))
        eyes = self._eye.detectMultiScale(
            crop, scaleFactor=1.1, minNeighbors=3, minSize=(eye_min, eye_min)
        )
        if len(eyes) < 2:
            return None
        centers = [
            (np.array([ex + ew / 2, ey + eh / 2], np.float32) / s + (x0, y0), ew * eh)
            for ex, ey, ew, eh in eyes
        ]
        mid = x + w / 2
        left = [c for c in centers if c[0][0] < mid]
        right = [c for c in centers if c[0][0] >= mid]
        if not left or not right:
            return None
        le = max(left, key=lambda c: c[1])[0]
        re_ = max(right, key=lambda c: c[1])[0]
        dist = float(np.linalg.norm(re_ - le))
        if not 0.25 * w <= dist <= 0.65 * w or abs(float(re_[1] - le[1])) > 0.25 * w:
            return None
        return le, re_

    def _to_detection(self, gray: np.ndarray, raw: tuple) -> FaceDetection:
        x, y, w, h, n = raw
        box = (float(x), float(y), float(w), float(h))
        score = n / (n + self.config.min_neighbors)
        eyes = self._eyes(gray, box) if self.config.eyes else None
        if eyes is not None:
            return FaceDetection(box, score, _landmarks_from_eyes(box, *eyes), "eyes")
        return FaceDetection(box, score, landmarks_from_box(box), "box")

    def detect(self, gray: np.ndarray, rois: Sequence[Box] | None = None) -> list[FaceDetection]:
        """Detect faces in the full image (``rois=None``) or only inside enlarged ``rois``."""
        cfg = self.config
        if gray.ndim != 2:
            raise ValueError("HaarFaceDetector.detect expects a 2-D grayscale image")
        ih, iw = gray.shape
        max_px = int(cfg.max_face_frac * min(ih, iw))
        raws: list[tuple] = []
        if rois is None:
            scale = min(1.0, cfg.detect_width / float(iw))
            raws = self._run(gray, scale, cfg.min_face_px, max_px)
        else:
            for rx, ry, rw, rh in rois:
                m = cfg.roi_margin
                x0 = int(max(0, rx - m * rw))
                y0 = int(max(0, ry - m * rh))
                x1 = int(min(iw, rx + rw * (1 + m)))
                y1 = int(min(ih, ry + rh * (1 + m)))
                if x1 - x0 < 20 or y1 - y0 < 20:
                    continue
                # Scale so the expected face is ~roi_face_px: cheap and size independent.
                scale = min(1.0, cfg.roi_face_px / max(rw, rh, 1.0))
                sub = self._run(
                    gray[y0:y1, x0:x1],
                    scale,
                    max(cfg.min_face_px, int(0.6 * max(rw, rh))),
                    min(max_px, int(1.6 * max(rw, rh)) + 1),
                )
                raws.extend((x + x0, y + y0, w, h, n) for x, y, w, h, n in sub)
        dets = [self._to_detection(gray, r) for r in raws]
        return _nms(dets, cfg.nms_iou)


class IntervalDetector(FaceDetector):
    """Runs a full-frame pass every ``full_every`` calls and ROI passes in between.

    The caller passes the tracker's current boxes as ``rois``; with none (no faces tracked)
    every call is a full pass, so a new face is picked up at most ``full_every`` frames late
    while faces are tracked and immediately otherwise.
    """

    def __init__(self, detector: FaceDetector, full_every: int = 5) -> None:
        if full_every < 1:
            raise ValueError("full_every must be >= 1")
        self.detector = detector
        self.full_every = full_every
        self._count = 0
        self.last_was_full = False

    def detect(self, gray: np.ndarray, rois: Sequence[Box] | None = None) -> list[FaceDetection]:
        """Full pass on schedule or when there are no ROIs; ROI pass otherwise."""
        full = not rois or self._count % self.full_every == 0
        self._count += 1
        self.last_was_full = full
        if full:
            dets = self.detector.detect(gray, None)
            return dets
        return self.detector.detect(gray, rois)

    def reset(self) -> None:
        """Force a full pass on the next call (e.g. after a time jump)."""
        self._count = 0


class ExternalRoiDetector(FaceDetector):
    """Feeds face boxes from another node (e.g. ROS4HRI ``/humans/faces/<id>/roi``).

    The ROS side calls :meth:`set_rois` with the boxes received for the current image (plain
    pixel tuples or via :meth:`roi_from_normalized`); :meth:`detect` returns them with
    landmarks estimated from the box (or refined by an optional ``refiner`` detector's eye
    search). Boxes older than ``max_age_ns`` relative to the image are ignored, so a stopped
    upstream node does not freeze faces in place.
    """

    def __init__(self, max_age_ns: int = 200_000_000, refine_eyes: bool = False) -> None:
        self.max_age_ns = max_age_ns
        self._rois: list[tuple[Box, float]] = []
        self._stamp_ns: int | None = None
        self._refiner = HaarFaceDetector() if refine_eyes else None
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
            eyes = self._refiner._eyes(gray, box) if self._refiner is not None else None
            if eyes is not None:
                out.append(FaceDetection(box, s, _landmarks_from_eyes(box, *eyes), "eyes"))
            else:
                out.append(FaceDetection(box, s, landmarks_from_box(box), "box"))
        return out
