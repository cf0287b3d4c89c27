"""Data preparation: videos -> aligned face crops and per-frame targets for the network.

Inputs are aligned face crops. For synthetic clips the landmarks are known, so crops can be cut
with the node's own alignment (``face_alignment.align_face``, five points, same zoom) at the
model's ``crop_size`` - no face detector needed; or (``crop_source="front_end"``) they come from
the node's own front end (:class:`~me_perception.perception.front_end.FrontEnd`) after a JPEG
round trip, so the network learns the jitter of live crops. Trimmed CASME II / SAMM samples are
aligned once from their first frame with the node's detector.

Targets per frame: spotting {0 neutral, 1 micro, 2 macro}; blinks count as neutral by
default (they are not expressions and MEGC does not annotate them, so the network must learn
to ignore them); the class of the expression on its frames; intensity as a triangle
onset -> apex (ground-truth intensity) -> offset.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from me_perception.learning.datasets.common import LongVideo, MESample
from me_perception.learning.datasets.frames import load_frames
from me_perception.learning.synthetic import ClipConfig, SyntheticClip, SyntheticFaceGenerator
from me_perception.perception.front_end import FrontEnd, FrontEndConfig
from me_perception.perception.image_decoding import (
    DecodedImage,
    decode_compressed_image,
    decode_raw_image,
)

# The five landmarks the node's face front end aligns with, in its order (image-left eye,
# image-right eye, nose tip, image-left and image-right mouth corner).
ALIGN_POINTS = ("eye_l", "eye_r", "nose_tip", "mouth_l", "mouth_r")


@dataclass
class PreparedVideo:
    """One video ready for the network: aligned crops and per-frame targets.

    ``spot_target``: 0 neutral, 1 micro, 2 macro per frame. ``class_target``: index into the
    model's classes, -1 where undefined. ``intensity_target``: NaN where undefined.
    ``events``: ground truth as (onset, apex, offset, kind, class index or -1, intensity).
    """

    subject: str
    video: str
    fps: float
    crops: np.ndarray  # (T, C, S, S) float32 in [0, 1]
    spot_target: np.ndarray
    class_target: np.ndarray
    intensity_target: np.ndarray
    events: list[tuple[int, int, int, str, int, float]] = field(default_factory=list)


@dataclass(frozen=True)
class SyntheticDataConfig:
    """Which synthetic subjects and clips to render for training/evaluation."""

    subjects: tuple[int, ...] = (1, 2, 3, 4)
    clips_per_subject: int = 2
    clip: ClipConfig = field(
        default_factory=lambda: ClipConfig(
            fps=30.0, duration_s=6.0, width=320, height=240, face_fraction=0.45
        )
    )
    seed: int = 0
    crop_source: str = "landmarks"
    """``landmarks``: crops from the generator's exact landmarks (fast, for tests);
    ``front_end``: crops made by the node's own front end (JPEG round trip, Haar detector +
    O-Net landmarks + tracker smoothing + alignment, as in ``pipeline.Pipeline``), so the
    network learns to ignore the frame-to-frame jitter of live crops."""
    jpeg_quality: int = 80
    """JPEG quality of the round trip for ``front_end`` crops (the shipped sample uses 80);
    0 = no compression."""


def align_crop(
    frame: np.ndarray, points5: np.ndarray, size: int, channels: int, zoom: float = 0.9
) -> np.ndarray:
    """Aligned face crop (channels, size, size) float32 in [0, 1], made exactly as the node's
    front end makes it (``face_alignment.align_face``: 5-point similarity to the canonical
    template, same zoom), so the network sees the same kind of crop in training and live."""
    from me_perception.perception.face_alignment import AlignmentConfig, align_face, to_nchw

    cfg = AlignmentConfig(size=size, gray=channels == 1, zoom=zoom)
    crop = align_face(frame, None, np.asarray(points5, np.float64), cfg).crop
    return np.ascontiguousarray(to_nchw(crop[None])[0])


def _class_index(label5: str | None, label3: str | None, classes: Sequence[str]) -> int:
    for lab in (label5, label3):
        if lab is not None and lab in classes:
            return list(classes).index(lab)
    return -1


def frame_targets(
    n: int, intervals: Sequence[Any], classes: Sequence[str], blink_label: str = "neutral"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int, int, str, int, float]]]:
    """Per-frame targets of ``n`` frames from annotated intervals: (spot, class, intensity,
    events), see :class:`PreparedVideo`.

    ``intervals`` are synthetic :class:`~me_perception.learning.synthetic.Event` or data-set
    :class:`~me_perception.learning.datasets.Interval` records (``onset``, ``apex`` or None,
    ``offset``, ``kind``, ``label5``, ``label3``, ``intensity`` or None). A missing apex is the
    middle frame; a missing intensity leaves the target undefined (NaN).
    """
    spot = np.zeros(n, np.int64)
    cls = np.full(n, -1, np.int64)
    inten = np.full(n, np.nan, np.float32)
    events = []
    for iv in intervals:
        frames = slice(iv.onset, iv.offset + 1)
        if iv.kind == "blink":
            if blink_label == "macro":
                spot[frames] = 2
            continue
        spot[frames] = 1 if iv.kind == "micro" else 2
        ci = _class_index(iv.label5, iv.label3, classes)
        cls[frames] = ci
        apex = iv.apex if iv.apex is not None else (iv.onset + iv.offset) // 2
        value = math.nan if iv.intensity is None else float(iv.intensity)
        if not math.isnan(value):
            _triangle(inten, iv.onset, apex, iv.offset, value)
        events.append((iv.onset, apex, iv.offset, iv.kind, ci, value))
    return spot, cls, inten, events


def prepare_clip(
    clip: SyntheticClip,
    model_cfg: object,
    blink_label: str = "neutral",
    zoom: float = 0.9,
    crops: np.ndarray | None = None,
) -> PreparedVideo:
    """Crops and per-frame targets of one synthetic clip for a model config.

    ``crops`` (T, C, S, S): crops made elsewhere (e.g. :func:`front_end_crops`); by default
    they are cut with the generator's exact landmarks.
    """
    names = list(clip.landmark_names)
    idx5 = [names.index(k) for k in ALIGN_POINTS]
    size, ch = model_cfg.crop_size, model_cfg.in_channels  # type: ignore[attr-defined]
    n = len(clip.frames)
    if crops is None:
        crops = np.stack(
            [
                align_crop(f, clip.landmarks[i, idx5], size, ch, zoom)
                for i, f in enumerate(clip.frames)
            ]
        )
    elif len(crops) != n:
        raise ValueError(f"{clip.clip_id}: {len(crops)} crops for {n} frames")
    spot, cls, inten, events = frame_targets(n, clip.events, model_cfg.classes, blink_label)  # type: ignore[attr-defined]
    return PreparedVideo(clip.subject, clip.clip_id, clip.fps, crops, spot, cls, inten, events)


def prepare_long_video(
    video: LongVideo, model_cfg: object, blink_label: str = "neutral", zoom: float = 0.9
) -> PreparedVideo:
    """Crops and targets of a :class:`LongVideo` whose ``extra`` holds per-frame landmarks.

    This is the on-disk path (``datasets.load_synthetic``); real data sets need their landmarks
    from the face front end first (``extra['landmarks']``, (T, K, 2), with
    ``extra['landmark_names']`` naming at least the five alignment points).
    """
    lms = video.extra.get("landmarks")
    names = list(video.extra.get("landmark_names", ()))
    if lms is None or not all(k in names for k in ALIGN_POINTS):
        raise ValueError(
            f"{video.dataset}/{video.video}: no per-frame landmarks in extra; run the face "
            "front end first to add extra['landmarks'] and extra['landmark_names']"
        )
    idx5 = [names.index(k) for k in ALIGN_POINTS]
    size, ch = model_cfg.crop_size, model_cfg.in_channels  # type: ignore[attr-defined]
    classes = model_cfg.classes  # type: ignore[attr-defined]
    frames = load_frames(video.frames)
    crops = np.stack([align_crop(f, lms[i, idx5], size, ch, zoom) for i, f in enumerate(frames)])
    spot, cls, inten, events = frame_targets(len(frames), video.intervals, classes, blink_label)
    return PreparedVideo(video.subject, video.video, video.fps, crops, spot, cls, inten, events)


def _triangle(out: np.ndarray, onset: int, apex: int, offset: int, value: float) -> None:
    idx = np.arange(onset, offset + 1)
    up = (idx - onset) / max(apex - onset, 1)
    down = (offset - idx) / max(offset - apex, 1)
    out[idx] = value * np.clip(np.where(idx <= apex, up, down), 0, 1)
    out[apex] = value


def detect_first_frame_landmarks(frame: np.ndarray, detector: object | None = None) -> np.ndarray:
    """Five landmarks (5, 2) of the largest face in ``frame`` (BGR), with the node's detector.

    Trimmed CASME II / SAMM samples are filmed with the head nearly still, so one alignment
    for the whole sample (from its onset frame) is the usual practice: per-frame landmark jitter
    would add motion the network would read as expression.
    """
    import cv2

    from me_perception.perception.detection import HaarFaceDetector

    det = detector or HaarFaceDetector()
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    faces = det.detect(gray)  # type: ignore[attr-defined]
    if not faces:
        raise ValueError("no face found in the first frame")
    best = max(faces, key=lambda d: d.box[2] * d.box[3])
    return np.asarray(best.landmarks, np.float64)


def crop_iod(size: int, zoom: float = 0.9) -> float:
    """Inter-ocular distance in pixels of an aligned crop (from the alignment template)."""
    from me_perception.perception.face_alignment import CANONICAL_TEMPLATE

    return float(np.linalg.norm(CANONICAL_TEMPLATE[1] - CANONICAL_TEMPLATE[0]) * zoom * size)


def prepare_sample(
    sample: MESample,
    model_cfg: object,
    zoom: float = 0.9,
    detector: object | None = None,
    intensity_crop: int = 128,
) -> PreparedVideo:
    """Crops and targets of a trimmed sample (onset..offset), for recognition training.

    All frames are labelled micro (the sample *is* the expression); the class comes from the
    sample's label in the model's class set. The intensity target is computed from the frames
    with :func:`me_perception.learning.synthetic.intensity.motion_intensity` on aligned crops of
    ``intensity_crop`` pixels (the documented definition; these data sets have no intensity
    labels).
    """
    from me_perception.learning.synthetic import motion_intensity

    frames = load_frames(sample.frames)
    if not len(frames):
        raise ValueError(f"{sample.dataset}/{sample.clip}: no frames")
    pts = detect_first_frame_landmarks(frames[0], detector)
    size, ch = model_cfg.crop_size, model_cfg.in_channels  # type: ignore[attr-defined]
    crops = np.stack([align_crop(f, pts, size, ch, zoom) for f in frames])
    apex = sample.apex_index
    big = [
        (align_crop(f, pts, intensity_crop, 1, zoom)[0] * 255).astype(np.uint8)
        for f in frames[: apex + 1]
    ]
    inten_value = motion_intensity(big, crop_iod(intensity_crop, zoom))
    n = len(frames)
    ci = _class_index(sample.label5, sample.label3, model_cfg.classes)  # type: ignore[attr-defined]
    spot = np.ones(n, np.int64)
    cls = np.full(n, ci, np.int64)
    inten = np.full(n, np.nan, np.float32)
    _triangle(inten, 0, apex, n - 1, inten_value)
    events = [(0, apex, n - 1, "micro", ci, inten_value)]
    return PreparedVideo(sample.subject, sample.clip, sample.fps, crops, spot, cls, inten, events)


@dataclass
class FrontEndCrops:
    """Crops of one clip made by the live front end, with how often it had to fall back."""

    crops: np.ndarray  # (T, C, S, S) float32 in [0, 1]
    tracked: np.ndarray  # (T,) bool: a confirmed track gave this frame's crop
    first_tracked: int  # index of the first frame with a confirmed track (-1: never)


def camera_image(frame: np.ndarray, jpeg_quality: int = 80) -> DecodedImage:
    """A BGR frame as the node receives it: through a JPEG round trip (a ``CompressedImage``
    camera stream) and the node's decoder, or raw ``bgr8`` with ``jpeg_quality=0``."""
    import cv2

    if jpeg_quality <= 0:
        h, w = frame.shape[:2]
        return decode_raw_image("bgr8", w, h, w * 3, False, np.ascontiguousarray(frame).tobytes())
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return decode_compressed_image("jpeg", buf.tobytes())


def front_end_crops(
    frames: Sequence[np.ndarray],
    model_cfg: object,
    zoom: float = 0.9,
    jpeg_quality: int = 80,
    fallback_points: np.ndarray | None = None,
) -> FrontEndCrops:
    """Crops of a BGR clip made by the node's own front end
    (:class:`~me_perception.perception.front_end.FrontEnd`, default settings, one face).

    Why: live crops come from Haar boxes + O-Net landmarks smoothed by the tracker, so they
    jitter by a pixel or two from frame to frame. A network trained on crops cut with perfect
    landmarks reads that jitter as facial motion (false micro-expressions). Here each frame
    goes through :func:`camera_image` and the very front end the pipeline runs: detector
    schedule, tracker, face choice (the largest face, kept while tracked), alignment, layout.

    Frames without a processed face (the first few, while the tracker confirms the face, or a
    dropped detection) keep the last tracked box and landmarks, or ``fallback_points`` (T, 5, 2)
    before the first track, so every frame has a crop; ``tracked`` says which ones are real.
    """
    size, ch = model_cfg.crop_size, model_cfg.in_channels  # type: ignore[attr-defined]
    fe = FrontEnd(FrontEndConfig(max_faces=1, alignment_zoom=zoom), crop_size=size, gray=ch == 1)
    n = len(frames)
    crops = np.zeros((n, ch, size, size), np.float32)
    tracked = np.zeros(n, bool)
    last: tuple | None = None
    for i, frame in enumerate(frames):
        img = camera_image(frame, jpeg_quality)
        out = fe.process(img)
        if out.faces:
            last = (out.faces[0].box, out.faces[0].landmarks)
            tracked[i] = True
            crops[i] = out.crops[0]
        elif last is not None:
            crops[i] = fe.crops(img, [last])[0]
        elif fallback_points is not None:
            crops[i] = fe.crops(img, [(None, np.asarray(fallback_points[i], np.float64))])[0]
    first = int(np.argmax(tracked)) if tracked.any() else -1
    return FrontEndCrops(crops, tracked, first)


def make_synthetic_videos(
    data: SyntheticDataConfig,
    model_cfg: object,
    blink_label: str = "neutral",
    zoom: float = 0.9,
    log: object | None = None,
) -> list[PreparedVideo]:
    """Render and prepare the synthetic data set (deterministic for ``data.seed``).

    Clip ``j`` of subject ``s`` uses generator seed ``data.seed * 1000 + j``. With
    ``data.crop_source == "front_end"`` the crops come from :func:`front_end_crops` and each
    video starts at its first tracked frame (the node's buffers start when the tracker
    confirms a face); ``log`` (a print-like callable) reports progress.
    """
    if data.crop_source not in ("landmarks", "front_end"):
        raise ValueError(f"crop_source must be 'landmarks' or 'front_end', not {data.crop_source}")
    gen = SyntheticFaceGenerator()
    out = []
    for s in data.subjects:
        for j in range(data.clips_per_subject):
            clip = gen.render(data.clip, subject_id=s, seed=data.seed * 1000 + j)
            if data.crop_source == "landmarks":
                out.append(prepare_clip(clip, model_cfg, blink_label, zoom))
                continue
            idx5 = [list(clip.landmark_names).index(k) for k in ALIGN_POINTS]
            fe = front_end_crops(
                clip.frames, model_cfg, zoom, data.jpeg_quality, clip.landmarks[:, idx5]
            )
            video = prepare_clip(clip, model_cfg, blink_label, zoom, crops=fe.crops)
            video = _trim_front(video, max(fe.first_tracked, 0))
            if log is not None:
                log(  # type: ignore[operator]
                    f"{clip.clip_id}: {int(fe.tracked.sum())}/{len(fe.tracked)} frames tracked, "
                    f"first at {fe.first_tracked}"
                )
            out.append(video)
    return out


def _trim_front(video: PreparedVideo, start: int) -> PreparedVideo:
    """Drop the first ``start`` frames (events before them are dropped, later ones shifted)."""
    if start <= 0:
        return video
    events = [
        (on - start, ap - start, off - start, kind, ci, inten)
        for on, ap, off, kind, ci, inten in video.events
        if on >= start
    ]
    return PreparedVideo(
        video.subject,
        video.video,
        video.fps,
        video.crops[start:],
        video.spot_target[start:],
        video.class_target[start:],
        video.intensity_target[start:],
        events,
    )
