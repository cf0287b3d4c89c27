"""OpenCV Haar cascade face detector, a real trained detector shipped in a wheel.

Why OpenCV's Haar cascades: they are trained detectors that ship *inside* the
``opencv-python(-headless)`` 4.x wheel (``cv2.data.haarcascades``), need nothing downloaded at
run time, run on any CPU, and were measured (docs/front_end.md) to find the face in
``skimage.data.astronaut()`` with no false positive on ``coffee()`` or noise. MediaPipe's
BlazeFace (better on non-frontal faces) was tried and rejected: its wheel's generated protobuf
code fails against the protobuf 7 runtime that onnx/onnxruntime need here.

Why the ``rois`` argument and ``detect_slice``: a full-frame cascade pass over a downscaled
640x480 frame costs tens of milliseconds on one core, too slow for 60 fps. The front end
therefore runs a full pass every n-th frame, split over several frames so no single frame pays
for all of it (:class:`~me_perception.perception.detection.schedule.IntervalDetector`), and on
every frame re-detects the tracked faces only inside enlarged boxes around them (1-3 ms per
face), rotating those boxes when a tracked head tilts beyond what the frontal cascade covers.

Landmarks: the cascade gives only a box. By default (``landmarks="auto"``) the five points
(eyes, nose tip, mouth corners) come from MTCNN's O-Net (:mod:`.onet`), whose face probability
also rejects cascade false positives and becomes the detection score. Without that package (or
with ``landmarks="eyes"``) the eyes are searched with OpenCV's eye cascade and the other points
come from a template moved onto the eyes; when that fails too, the template is scaled into the
box (:func:`~me_perception.perception.detection.base.landmarks_from_box`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from me_perception.perception.detection.base import (
    Box,
    FaceDetection,
    FaceDetector,
    box_iou,
    landmarks_from_box,
    outside_rois,
    roll_from_landmarks,
)
from me_perception.perception.detection.onet import OnetLandmarker, find_onet_model

__all__ = ["HaarDetectorConfig", "HaarFaceDetector"]


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


@dataclass(frozen=True)
class HaarDetectorConfig:
    """Settings of :class:`HaarFaceDetector`.

    ``detect_width``: full-frame passes run on the image resized to this width (faces of a
    social robot's camera are large; halving 640 px costs little recall and saves ~4x time).
    ``min_face_px`` is in original pixels. ``scale_factor`` is the pyramid step of full passes
    (1.15 or 1.2 halve the cost but lost 5-15 % recall on our check, docs/front_end.md);
    ``roi_scale_factor`` that of ROI passes.
    ``roi_margin`` enlarges a tracked box on each side (fraction of its size) for ROI
    re-detection, enough for a face moving between passes; ``roi_size_range`` bounds the face
    size searched there relative to the tracked box. ``roi_rolls_deg``: when the upright
    cascade misses a tracked face in its ROI, the ROI is rotated by these angles in turn
    (the last angle that worked for a nearby face is tried first), so a tracked head that
    tilts is not lost although the frontal cascade only covers about +-15 degrees.
    ``landmarks``: "auto" (O-Net when its
    model file is installed, else "eyes"), "onet", "eyes" or "box". ``onet_min_score``:
    cascade detections whose O-Net face probability is below this are dropped.
    """

    cascade: str = "haarcascade_frontalface_alt2.xml"
    eye_cascade: str | None = "haarcascade_eye.xml"
    detect_width: int = 320
    scale_factor: float = 1.1
    roi_scale_factor: float = 1.1
    min_neighbors: int = 3
    min_face_px: int = 40
    max_face_frac: float = 1.0
    roi_margin: float = 0.4
    roi_face_px: int = 36
    roi_size_range: tuple[float, float] = (0.7, 1.45)
    roi_rolls_deg: tuple[float, ...] = (0.0, 20.0, -20.0, 40.0, -40.0)
    landmarks: str = "auto"
    onet_min_score: float = 0.3
    onet_model: str | None = None
    onnx_threads: int = 1
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


def _nms(dets: list[FaceDetection], iou: float) -> list[FaceDetection]:
    keep: list[FaceDetection] = []
    for d in sorted(dets, key=lambda d: -d.score):
        if all(box_iou(d.box, k.box) < iou for k in keep):
            keep.append(d)
    return keep


@dataclass(frozen=True)
class _Job:
    """One piece of a full pass: an octave image (``scale``) and a band of its rows."""

    scale: float
    y0: int
    y1: int
    min_s: int
    max_s: int
    cost: int


class HaarFaceDetector(FaceDetector):
    """OpenCV Haar cascade face detector with O-Net (or eye cascade) landmarks.

    ``score`` is the O-Net face probability when O-Net is used; otherwise a monotone squashing
    of the cascade's neighbour count (``n / (n + min_neighbors)``), the evidence the cascade
    offers, so that the interface stays a [0, 1] score as for probabilistic detectors.
    """

    def __init__(self, config: HaarDetectorConfig | None = None) -> None:
        self.config = config or HaarDetectorConfig()
        self._face = _load_cascade(self.config.cascade)
        mode = self.config.landmarks
        if mode not in ("auto", "onet", "eyes", "box"):
            raise ValueError(f"landmarks must be auto/onet/eyes/box, not {mode!r}")
        self._onet: OnetLandmarker | None = None
        if mode == "onet":
            self._onet = OnetLandmarker(self.config.onet_model, self.config.onnx_threads)
        elif mode == "auto" and (self.config.onet_model or find_onet_model()) is not None:
            try:
                self._onet = OnetLandmarker(self.config.onet_model, self.config.onnx_threads)
            except ImportError:  # model file present but no onnxruntime: use the eye cascade
                self._onet = None
        use_eyes = self._onet is None and mode != "box"
        self._eye = (
            _load_cascade(self.config.eye_cascade) if use_eyes and self.config.eye_cascade else None
        )
        self._win = tuple(int(v) for v in self._face.getOriginalWindowSize())
        self._job_cache: dict[tuple[int, int, int], list[list[_Job]]] = {}

    def _run(
        self, gray: np.ndarray, scale: float, min_px: int, max_px: int, step: float
    ) -> list[tuple]:
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
            scaleFactor=step,
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

    @property
    def landmark_mode(self) -> str:
        """The landmark source in use: "onet", "eyes" or "box"."""
        return "onet" if self._onet is not None else "eyes" if self._eye is not None else "box"

    def _boxes(self, raws: list[tuple]) -> list[FaceDetection]:
        """Cascade hits as detections with box landmarks and the neighbour-count score."""
        k = self.config.min_neighbors
        out = []
        for x, y, w, h, n, *roll in raws:
            box = (float(x), float(y), float(w), float(h))
            r = float(roll[0]) if roll else 0.0
            lm = landmarks_from_box(box)
            if r:
                c = np.array([x + w / 2.0, y + h / 2.0], np.float32)
                rot = cv2.getRotationMatrix2D((0.0, 0.0), r, 1.0)[:, :2].astype(np.float32)
                lm = (lm - c) @ rot.T + c
            out.append(FaceDetection(box, n / (n + k), lm, "box", r))
        return out

    def refine(self, gray: np.ndarray, dets: list[FaceDetection]) -> list[FaceDetection]:
        """Add measured landmarks (and, with O-Net, verify the face and set its score)."""
        if not dets:
            return dets
        if self._onet is not None:
            probs, lms = self._onet(gray, [d.box for d in dets], [d.roll_deg for d in dets])
            return [
                FaceDetection(d.box, float(p), lm, "detector", roll_from_landmarks(lm))
                for d, p, lm in zip(dets, probs, lms, strict=True)
                if p >= self.config.onet_min_score
            ]
        out = []
        for d in dets:
            eyes = self._eyes(gray, d.box)
            if eyes is not None and d.roll_deg == 0.0:
                lm = _landmarks_from_eyes(d.box, *eyes)
                out.append(FaceDetection(d.box, d.score, lm, "eyes", roll_from_landmarks(lm)))
            else:
                out.append(d)
        return out

    def detect(self, gray: np.ndarray, rois: Sequence[Box] | None = None) -> list[FaceDetection]:
        """Detect faces in the full image (``rois=None``) or only inside enlarged ``rois``."""
        cfg = self.config
        if gray.ndim != 2:
            raise ValueError("HaarFaceDetector.detect expects a 2-D grayscale image")
        raws: list[tuple] = []
        if rois is None:
            for job in self._jobs(gray.shape, 1)[0]:
                raws.extend(self._run_job(gray, job))
        else:
            raws = self._roi_raws(gray, rois)
        return self.refine(gray, _nms(self._boxes(raws), cfg.nms_iou))

    def detect_slice(
        self, gray: np.ndarray, rois: Sequence[Box] | None, index: int, count: int
    ) -> list[FaceDetection]:
        """ROI passes plus slice ``index`` of a full pass split into ``count`` balanced parts."""
        if gray.ndim != 2:
            raise ValueError("HaarFaceDetector.detect expects a 2-D grayscale image")
        full: list[tuple] = []
        for job in self._jobs(gray.shape, count)[index % count]:
            full.extend(self._run_job(gray, job))
        nms = self.config.nms_iou
        dets = outside_rois(_nms(self._boxes(full), nms), rois)
        if rois:
            dets = _nms(self._boxes(self._roi_raws(gray, rois)), nms) + dets
        return self.refine(gray, dets)

    def _jobs(self, shape: tuple[int, ...], count: int) -> list[list[_Job]]:
        """Split a full pass into ``count`` parts of similar cost (cached per image shape).

        Octave k searches faces of ``F*2^k .. 2.2*F*2^k`` original pixels (F = smallest face)
        on the image scaled by ``s0/2^k``, so the cascade always scans windows of the same
        few sizes; octaves overlap by 10 % so no face size falls between two. Large octave
        images are cut into row bands overlapping by the largest face, so a face lies whole
        in some band. Parts are filled largest job first into the lightest part.
        """
        key = (shape[0], shape[1], count)
        cached = self._job_cache.get(key)
        if cached is not None:
            return cached
        cfg = self.config
        ih, iw = shape[0], shape[1]
        s0 = min(1.0, cfg.detect_width / float(iw))
        win = max(self._win)
        f_s = max(float(win), cfg.min_face_px * s0)  # smallest face in octave-0 pixels
        max_px = cfg.max_face_frac * min(ih, iw)
        octaves = []
        k = 0
        while (f_s / s0) * 2**k <= max_px:
            sk = s0 / 2**k
            hk, wk = round(ih * sk), round(iw * sk)
            min_s = int(np.floor(f_s))
            max_s = int(min(np.ceil(2.2 * f_s), max_px * sk, min(hk, wk)))
            if min(hk, wk) < min_s or max_s < min_s:
                break
            octaves.append((sk, hk, wk, min_s, max_s))
            k += 1
        total = sum(hk * wk for _, hk, wk, _, _ in octaves)
        target = total / max(1, count)
        jobs: list[_Job] = []
        for sk, hk, wk, min_s, max_s in octaves:
            bands = max(1, int(np.ceil(hk * wk / target - 1e-9))) if count > 1 else 1
            band_h = int(np.ceil(hk / bands))
            if bands > 1 and band_h < max_s:
                bands, band_h = 1, hk
            for b in range(bands):
                y0 = b * band_h
                y1 = min(hk, y0 + band_h + max_s)
                if y0 >= hk:
                    break
                jobs.append(_Job(sk, y0, y1, min_s, max_s, (y1 - y0) * wk))
        parts: list[list[_Job]] = [[] for _ in range(max(1, count))]
        loads = [0] * len(parts)
        for job in sorted(jobs, key=lambda j: (-j.cost, j.scale, j.y0)):
            i = loads.index(min(loads))
            parts[i].append(job)
            loads[i] += job.cost
        self._job_cache[key] = parts
        return parts

    def _run_job(self, gray: np.ndarray, job: _Job) -> list[tuple]:
        cfg = self.config
        ih, iw = gray.shape
        wk = round(iw * job.scale)
        # Resize only the rows of the band (plus a pixel of context for INTER_AREA).
        r0 = int(np.floor(job.y0 / job.scale))
        r1 = min(ih, int(np.ceil(job.y1 / job.scale)))
        src = gray[r0:r1]
        if job.scale != 1.0:
            small = cv2.resize(
                src, (wk, max(1, round((r1 - r0) * job.scale))), interpolation=cv2.INTER_AREA
            )
        else:
            small = src
        if min(small.shape[:2]) < job.min_s:
            return []
        boxes, neighbours = self._face.detectMultiScale2(
            small,
            scaleFactor=cfg.scale_factor,
            minNeighbors=cfg.min_neighbors,
            minSize=(job.min_s, job.min_s),
            maxSize=(job.max_s, job.max_s),
        )
        sx = iw / float(wk)
        sy = (r1 - r0) / float(small.shape[0])
        out = []
        for (x, y, w, h), n in zip(
            np.asarray(boxes).reshape(-1, 4), np.ravel(neighbours), strict=True
        ):
            out.append((x * sx, r0 + y * sy, w * sx, h * sy, int(n)))
        return out

    def _roi_raws(self, gray: np.ndarray, rois: Sequence[Box]) -> list[tuple]:
        cfg = self.config
        ih, iw = gray.shape
        max_px = int(cfg.max_face_frac * min(ih, iw))
        raws: list[tuple] = []
        memory: list[tuple[float, float, float]] = []
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
            lo = max(cfg.min_face_px, int(cfg.roi_size_range[0] * max(rw, rh)))
            hi = min(max_px, int(cfg.roi_size_range[1] * max(rw, rh)) + 1)
            crop = gray[y0:y1, x0:x1]
            cx, cy = rx + rw / 2.0, ry + rh / 2.0
            for roll in self._roll_order(cx, cy, rw):
                if roll == 0.0:
                    sub = self._run(crop, scale, lo, hi, cfg.roi_scale_factor)
                    found = [(x + x0, y + y0, w, h, n, 0.0) for x, y, w, h, n in sub]
                else:
                    found = self._run_rotated(crop, (x0, y0), roll, scale, lo, hi)
                if found:
                    raws.extend(found)
                    memory.append((cx, cy, roll))
                    break
        self._roll_memory = memory
        return raws

    def _roll_order(self, cx: float, cy: float, size: float) -> list[float]:
        """ROI rotation angles to try, the one that last worked near (cx, cy) first."""
        order = list(self.config.roi_rolls_deg)
        for mx, my, roll in getattr(self, "_roll_memory", []):
            if abs(mx - cx) < 0.5 * size and abs(my - cy) < 0.5 * size and roll in order:
                order.remove(roll)
                order.insert(0, roll)
                break
        return order

    def _run_rotated(
        self,
        crop: np.ndarray,
        origin: tuple[int, int],
        roll: float,
        scale: float,
        lo: int,
        hi: int,
    ) -> list[tuple]:
        """Cascade on ``crop`` rotated by ``-roll`` (uprighting a face rolled by ``roll``).

        Boxes are mapped back as axis-aligned boxes of the same size around the back-rotated
        centre, tagged with ``roll`` so the landmark stage can upright its crop too.
        """
        h, w = crop.shape
        c = (w / 2.0, h / 2.0)
        m = cv2.getRotationMatrix2D(c, -roll, scale)
        out_w, out_h = max(1, round(w * scale)), max(1, round(h * scale))
        m[:, 2] += (out_w / 2.0 - c[0], out_h / 2.0 - c[1])
        warped = cv2.warpAffine(
            crop, m, (out_w, out_h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
        )
        inv = cv2.invertAffineTransform(m)
        found = []
        for bx, by, bw, bh, n in self._run(
            warped, 1.0, round(lo * scale), round(hi * scale), self.config.roi_scale_factor
        ):
            px, py = inv @ np.array([bx + bw / 2.0, by + bh / 2.0, 1.0])
            fw, fh = bw / scale, bh / scale
            found.append(
                (px + origin[0] - fw / 2.0, py + origin[1] - fh / 2.0, fw, fh, n, float(roll))
            )
        return found
