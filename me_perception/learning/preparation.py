"""Data preparation: videos -> the network's per-frame input and per-frame targets.

One code path: every video (synthetic clip, on-disk clip, trimmed CASME II / SAMM sample) goes
frame by frame through :class:`~me_perception.perception.measurement.FaceMeasurement`, the very
front end + motion measurement the pipeline runs (detector schedule, tracker, face choice,
alignment, Farneback flow from the neutral reference, head motion removed). Synthetic clips go
through a JPEG round trip first (:func:`camera_image`), as a ``CompressedImage`` camera stream
reaches the node. The network input of a frame is what the model's contract names:

* a motion model (``ModelConfig.in_channels == 4``, the shipped kind): the motion map
  ``(4, 32, 32)`` (D_b x, y and D_k x, y in IOD) - the same quantity for every face, so the
  model cannot learn who its training faces were;
* an appearance model (1 or 3 channels): the front end's aligned crop of the same pass.

A video starts at the first frame with a tracked face (the node's per-face state starts when
the tracker confirms the face). Per frame ``head_moving`` records the motion front end's head
verdict: the network spotter reports no expression on such frames and marks them rejected, so
the event scoring of training (:mod:`.event_scoring`) does the same.

Targets per frame: spotting {0 neutral, 1 micro, 2 macro}. Blinks and ground-truth head
movements are *neutral* (they are not expressions, MEGC does not annotate them, and the
pipeline's events are driven by the expression score p_micro + p_macro, so a blink learnt as
"macro" would become a false event); ``blink_label="macro"`` keeps the former option for
blinks. The class of the expression on its frames; intensity as a triangle onset -> apex
(ground-truth intensity) -> offset.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from me_perception.learning.datasets.common import LongVideo, MESample
from me_perception.learning.datasets.frames import load_frames
from me_perception.learning.synthetic import SyntheticClip
from me_perception.perception.front_end import FrontEndConfig
from me_perception.perception.image_decoding import (
    DecodedImage,
    decode_compressed_image,
    decode_raw_image,
)
from me_perception.perception.measurement import FaceMeasurement
from me_perception.perception.motion import MotionConfig
from me_perception.perception.pipeline import PipelineConfig, analysis_step

__all__ = [
    "MeasuredVideo",
    "PreparedVideo",
    "align_crop",
    "camera_image",
    "crop_iod",
    "frame_targets",
    "measure_frames",
    "prepare_clip",
    "prepare_long_video",
    "prepare_sample",
]

#: kinds of ground-truth interval that are never expressions (neutral targets, no event)
NON_EXPRESSIONS = ("blink", "head")


@dataclass
class PreparedVideo:
    """One video ready for the network: per-frame inputs and targets.

    ``inputs``: (T, C, S, S) float32, motion maps (motion model) or crops in [0, 1].
    ``spot_target``: 0 neutral, 1 micro, 2 macro per frame. ``class_target``: index into the
    model's classes, -1 where undefined. ``intensity_target``: NaN where undefined.
    ``events``: ground truth as (onset, apex, offset, kind, class index or -1, intensity).
    ``head_moving``: (T,) bool, the motion front end's head verdict (the spotter rejects those
    frames). ``identity``: the face photograph a synthetic video was made from ("" if unknown).
    """

    subject: str
    video: str
    fps: float
    inputs: np.ndarray
    spot_target: np.ndarray
    class_target: np.ndarray
    intensity_target: np.ndarray
    events: list[tuple[int, int, int, str, int, float]] = field(default_factory=list)
    head_moving: np.ndarray | None = None
    identity: str = ""

    def __post_init__(self) -> None:
        if self.head_moving is None:
            self.head_moving = np.zeros(len(self.inputs), bool)

    def trimmed(self, start: int) -> PreparedVideo:
        """Without the first ``start`` frames (events before them dropped, later ones shifted)."""
        if start <= 0:
            return self
        events = [
            (on - start, ap - start, off - start, kind, ci, inten)
            for on, ap, off, kind, ci, inten in self.events
            if on >= start
        ]
        return replace(
            self,
            inputs=self.inputs[start:],
            spot_target=self.spot_target[start:],
            class_target=self.class_target[start:],
            intensity_target=self.intensity_target[start:],
            events=events,
            head_moving=self.head_moving[start:],  # type: ignore[index]
        )


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


@dataclass
class MeasuredVideo:
    """What the pipeline's measurement made of one video's frames (one face)."""

    inputs: np.ndarray  # (T, C, S, S) float32: the network input of each frame
    head_moving: np.ndarray  # (T,) bool
    tracked: np.ndarray  # (T,) bool: a processed face on this frame
    first_tracked: int  # -1: never
    face_changes: int  # times the processed face's id changed after the first (track lost)


def measure_frames(
    frames: Sequence[np.ndarray],
    stamps_s: Sequence[float],
    model_cfg: Any,
    jpeg_quality: int = 80,
    motion: MotionConfig | None = None,
    front_end: FrontEndConfig | None = None,
) -> MeasuredVideo:
    """Run BGR frames through :class:`FaceMeasurement` as the pipeline does (its defaults,
    ``crop_size`` and colour from the model, frames as :func:`camera_image` delivers them) and
    keep the network input of the first processed face. Frames without a face get zeros."""
    size, ch = model_cfg.crop_size, model_cfg.in_channels
    motion_model = bool(getattr(model_cfg, "reads_motion", False))
    meas = FaceMeasurement(front_end, motion, crop_size=size, gray=ch != 3)
    n = len(frames)
    inputs = np.zeros((n, ch, size, size), np.float32)
    head = np.zeros(n, bool)
    tracked = np.zeros(n, bool)
    face_id, changes = None, 0
    for i, (frame, stamp) in enumerate(zip(frames, stamps_s, strict=True)):
        out = meas.process(camera_image(frame, jpeg_quality), float(stamp))
        if not out.motion:
            continue
        sample = out.motion[0]
        if motion_model and sample.motion_map.shape != inputs.shape[1:]:
            raise ValueError(
                f"motion map {sample.motion_map.shape} does not fit the model input "
                f"{inputs.shape[1:]} (crop_size must equal MotionConfig.map_px)"
            )
        inputs[i] = sample.motion_map if motion_model else out.frame.crops[0]
        head[i], tracked[i] = sample.head_moving, True
        fid = out.frame.faces[0].id
        changes += int(face_id is not None and fid != face_id)
        face_id = fid
    first = int(np.argmax(tracked)) if tracked.any() else -1
    return MeasuredVideo(inputs, head, tracked, first, changes)


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
    middle frame; a missing intensity leaves the target undefined (NaN). Blinks and head
    movements are neutral (blinks macro with ``blink_label="macro"``) and never events.
    """
    if blink_label not in ("neutral", "macro"):
        raise ValueError(f"blink_label must be 'neutral' or 'macro', not {blink_label!r}")
    spot = np.zeros(n, np.int64)
    cls = np.full(n, -1, np.int64)
    inten = np.full(n, np.nan, np.float32)
    events = []
    for iv in intervals:
        frames = slice(iv.onset, iv.offset + 1)
        if iv.kind in NON_EXPRESSIONS:
            if iv.kind == "blink" and blink_label == "macro":
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


def _prepared(
    subject: str,
    video: str,
    fps: float,
    measured: MeasuredVideo,
    intervals: Sequence[Any],
    model_cfg: Any,
    blink_label: str,
    identity: str = "",
) -> PreparedVideo:
    n = len(measured.inputs)
    spot, cls, inten, events = frame_targets(n, intervals, model_cfg.classes, blink_label)
    v = PreparedVideo(
        subject, video, fps, measured.inputs, spot, cls, inten, events, measured.head_moving
    )
    v.identity = identity
    return v.trimmed(max(measured.first_tracked, 0))


def prepare_clip(
    clip: SyntheticClip,
    model_cfg: Any,
    blink_label: str = "neutral",
    jpeg_quality: int = 80,
    identity: str = "",
) -> PreparedVideo:
    """Network inputs and per-frame targets of one rendered clip (JPEG round trip, then the
    pipeline's measurement); the video starts at its first tracked frame. A fast camera is
    measured at the pipeline's analysis rate (200 fps: every 3rd frame, as the node runs it),
    so the network's frame-counted memory sees the rate it will see live."""
    step = analysis_step(clip.fps, PipelineConfig().analysis_rate_hz)
    measured = measure_frames(clip.frames[::step], clip.stamps[::step], model_cfg, jpeg_quality)
    ident = identity or str(clip.meta.get("identity", ""))
    events = [_every_nth(e, step) for e in clip.events]
    return _prepared(
        clip.subject, clip.clip_id, clip.fps / step, measured, events, model_cfg, blink_label,
        ident,
    )  # fmt: skip


def _every_nth(event: Any, step: int) -> Any:
    """An annotated interval in the frame numbers of every ``step``-th frame."""
    if step == 1:
        return event
    apex = None if event.apex is None else event.apex // step
    return replace(event, onset=event.onset // step, apex=apex, offset=event.offset // step)


def prepare_long_video(
    video: LongVideo, model_cfg: Any, blink_label: str = "neutral", jpeg_quality: int = 0
) -> PreparedVideo:
    """Network inputs and targets of a :class:`LongVideo` (frames on disk, e.g. an on-disk
    synthetic clip), measured as :func:`prepare_clip` measures; frames are used as stored
    (``jpeg_quality=0``) unless a JPEG round trip is asked for."""
    frames = load_frames(video.frames)
    stamps = np.arange(len(frames)) / float(video.fps)
    measured = measure_frames(frames, stamps, model_cfg, jpeg_quality)
    ident = str(video.extra.get("identity", ""))
    return _prepared(
        video.subject, video.video, video.fps, measured, video.intervals, model_cfg, blink_label,
        ident,
    )  # fmt: skip


def _triangle(out: np.ndarray, onset: int, apex: int, offset: int, value: float) -> None:
    idx = np.arange(onset, offset + 1)
    up = (idx - onset) / max(apex - onset, 1)
    down = (offset - idx) / max(offset - apex, 1)
    out[idx] = value * np.clip(np.where(idx <= apex, up, down), 0, 1)
    out[apex] = value


def align_crop(
    frame: np.ndarray, points5: np.ndarray, size: int, channels: int, zoom: float = 0.9
) -> np.ndarray:
    """Aligned face crop (channels, size, size) float32 in [0, 1] (``face_alignment``), used for
    the flow-based intensity of trimmed samples (not a network input)."""
    from me_perception.perception.face_alignment import AlignmentConfig, align_face, to_nchw

    cfg = AlignmentConfig(size=size, gray=channels == 1, zoom=zoom)
    crop = align_face(frame, None, np.asarray(points5, np.float64), cfg).crop
    return np.ascontiguousarray(to_nchw(crop[None])[0])


def detect_first_frame_landmarks(frame: np.ndarray, detector: object | None = None) -> np.ndarray:
    """Five landmarks (5, 2) of the largest face in ``frame`` (BGR), with the node's detector."""
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


#: a trimmed sample starts at its onset; its onset frame is held still this long before it so
#: the motion front end has a neutral reference and warmed-up statistics (head hold 0.3 s,
#: warm-up 0.5 s, with margin)
LEAD_IN_S = 1.0


def prepare_sample(
    sample: MESample,
    model_cfg: Any,
    zoom: float = 0.9,
    detector: object | None = None,
    intensity_crop: int = 128,
) -> PreparedVideo:
    """Network inputs and targets of a trimmed sample (onset..offset), for recognition.

    The onset frame is repeated for :data:`LEAD_IN_S` before the sample (the motion front end
    needs a still neutral lead-in; a trimmed sample has none) and the sample is measured as
    every video is; the lead-in is dropped. All frames are labelled micro (the sample *is* the
    expression); the class comes from the sample's label. The intensity target is computed with
    :func:`me_perception.learning.synthetic.motion_intensity` on aligned crops of
    ``intensity_crop`` pixels (these data sets have no intensity labels).
    """
    from me_perception.learning.synthetic import motion_intensity

    frames = load_frames(sample.frames)
    if not len(frames):
        raise ValueError(f"{sample.dataset}/{sample.clip}: no frames")
    lead = max(1, round(LEAD_IN_S * sample.fps))
    padded = np.concatenate([np.repeat(frames[:1], lead, axis=0), frames])
    measured = measure_frames(padded, np.arange(len(padded)) / sample.fps, model_cfg, 0)
    if not measured.tracked[lead:].any():
        raise ValueError(f"{sample.dataset}/{sample.clip}: no face tracked")
    pts = detect_first_frame_landmarks(frames[0], detector)
    apex = sample.apex_index
    big = [
        (align_crop(f, pts, intensity_crop, 1, zoom)[0] * 255).astype(np.uint8)
        for f in frames[: apex + 1]
    ]
    inten_value = motion_intensity(big, crop_iod(intensity_crop, zoom))
    n = len(frames)
    ci = _class_index(sample.label5, sample.label3, model_cfg.classes)
    spot = np.ones(n, np.int64)
    cls = np.full(n, ci, np.int64)
    inten = np.full(n, np.nan, np.float32)
    _triangle(inten, 0, apex, n - 1, inten_value)
    events = [(0, apex, n - 1, "micro", ci, inten_value)]
    return PreparedVideo(
        sample.subject, sample.clip, sample.fps, measured.inputs[lead:], spot, cls, inten,
        events, measured.head_moving[lead:],
    )  # fmt: skip
