"""Leave-one-subject-out training of the micro-expression network, with resumable folds.

Why it looks like this:

* **LOSO** is the protocol of every CASME II / SAMM / MEGC result; a number trained on a subject
  it is tested on is not comparable. Each test subject gets its own fold.
* **No test leakage**: the epoch to keep (model selection) and the spotting threshold are chosen
  on *validation subjects drawn from the fold's training subjects only*.
* **Fixed seeds** (torch and numpy, per fold) so a run is reproducible on one machine.
* **Resumable**: after every epoch a fold writes ``last.safetensors`` (weights + metadata, via
  ``me_perception.model.checkpoint``), ``optim.pt`` (optimizer and torch RNG; loaded with
  ``weights_only=True``, never by unpickling arbitrary objects) and ``state.json`` (epoch,
  history, best epoch, numpy RNG state). Running again continues where it stopped; finished
  folds are skipped.
* **Export at the end**: a final model is trained on all subjects (same recipe, validation
  subjects for selection and threshold), saved as ``model.safetensors`` and exported to
  ``model.onnx`` for the node's backends.

Inputs are aligned face crops. For synthetic clips the landmarks are known, so crops are cut
with the node's own alignment (``face_alignment.align_face``, five points, same zoom) at the
model's ``crop_size`` - no face detector needed, and train and live crops agree.
Targets per frame: spotting {0 neutral, 1 micro, 2 macro}; blinks count as neutral by
default (they are not expressions and MEGC does not annotate them, so the network must learn
to ignore them); the class of the expression on its frames; intensity as a triangle
onset -> apex (ground-truth intensity) -> offset.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from me_perception.learning.datasets.common import LongVideo, MESample, load_frames
from me_perception.learning.evaluation import (
    PreparedVideo,
    SpotParams,
    choose_threshold,
    evaluate_video,
    predict_video,
    summarise,
    temporal_constants,
    write_report,
)
from me_perception.learning.synthetic import (
    ClipConfig,
    SyntheticClip,
    SyntheticFaceGenerator,
)
from me_perception.perception.front_end import FrontEnd, FrontEndConfig
from me_perception.perception.image_decoding import (
    DecodedImage,
    decode_compressed_image,
    decode_raw_image,
)

# The five landmarks the node's face front end aligns with, in its order (image-left eye,
# image-right eye, nose tip, image-left and image-right mouth corner).
ALIGN_POINTS = ("eye_l", "eye_r", "nose_tip", "mouth_l", "mouth_r")


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


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation recipe, identical for every fold."""

    epochs: int = 10
    steps_per_epoch: int = 50
    batch_size: int = 8
    window_s: float = 2.0
    lr: float = 2e-3
    weight_decay: float = 1e-4
    class_loss_weight: float = 1.0
    intensity_loss_weight: float = 1.0
    event_window_fraction: float = 0.7
    """Fraction of training windows that are centred on an expression (they are rare)."""
    n_val_subjects: int = 1
    seed: int = 0
    blink_label: str = "neutral"  # or "macro" (treat blinks as rapid movements)
    spot_score: str = "any"
    """Spotting score for evaluation and threshold choice: ``any`` = p_micro + p_macro (MEGC
    spotting of both kinds), ``micro`` = p_micro alone, which is what the node's event logic
    thresholds (so the chosen threshold is its ``events.on_threshold``)."""
    train_final: bool = True
    threads: int = 2


# --------------------------------------------------------------------------------------------
# Data preparation
# --------------------------------------------------------------------------------------------
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
    classes = model_cfg.classes  # type: ignore[attr-defined]
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
    spot = np.zeros(n, np.int64)
    cls = np.full(n, -1, np.int64)
    inten = np.full(n, np.nan, np.float32)
    events = []
    for e in clip.events:
        if e.kind == "blink":
            if blink_label == "macro":
                spot[e.onset : e.offset + 1] = 2
            continue
        spot[e.onset : e.offset + 1] = 1 if e.kind == "micro" else 2
        ci = _class_index(e.label5, e.label3, classes)
        cls[e.onset : e.offset + 1] = ci
        _triangle(inten, e.onset, e.apex, e.offset, e.intensity)
        events.append((e.onset, e.apex, e.offset, e.kind, ci, e.intensity))
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
    n = len(frames)
    spot = np.zeros(n, np.int64)
    cls = np.full(n, -1, np.int64)
    inten = np.full(n, np.nan, np.float32)
    events = []
    for iv in video.intervals:
        if iv.kind == "blink":
            if blink_label == "macro":
                spot[iv.onset : iv.offset + 1] = 2
            continue
        spot[iv.onset : iv.offset + 1] = 1 if iv.kind == "micro" else 2
        ci = _class_index(iv.label5, iv.label3, classes)
        cls[iv.onset : iv.offset + 1] = ci
        apex = iv.apex if iv.apex is not None else (iv.onset + iv.offset) // 2
        value = math.nan if iv.intensity is None else float(iv.intensity)
        if not math.isnan(value):
            _triangle(inten, iv.onset, apex, iv.offset, value)
        events.append((iv.onset, apex, iv.offset, iv.kind, ci, value))
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


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
def _sample_batch(
    videos: Sequence[PreparedVideo], rng: np.random.Generator, cfg: TrainConfig
) -> tuple[np.ndarray, ...]:
    """Random windows of one common length (trimmed samples may be shorter than window_s:
    the batch then uses the shortest picked video's length)."""
    fps = videos[0].fps
    t = max(4, round(cfg.window_s * fps))
    picks = [videos[int(rng.integers(len(videos)))] for _ in range(cfg.batch_size)]
    tw = min(t, *(len(v.crops) for v in picks))
    xs, sp, cl, it = [], [], [], []
    for v in picks:
        n = len(v.crops)
        if v.events and rng.random() < cfg.event_window_fraction:
            _on, _apex, off, *_ = v.events[int(rng.integers(len(v.events)))]
            # The window ends some time after the apex so the memory has seen the expression.
            end = int(np.clip(off + rng.integers(0, max(tw // 4, 1)), tw - 1, n - 1))
            start = end - tw + 1
        else:
            start = int(rng.integers(0, n - tw + 1))
        sl = slice(start, start + tw)
        xs.append(v.crops[sl])
        sp.append(v.spot_target[sl])
        cl.append(v.class_target[sl])
        it.append(v.intensity_target[sl])
    return np.stack(xs), np.stack(sp), np.stack(cl), np.stack(it)


def _spot_weights(videos: Sequence[PreparedVideo]) -> np.ndarray:
    counts = np.bincount(np.concatenate([v.spot_target for v in videos]), minlength=3) + 1.0
    w = counts.sum() / (3 * counts)
    return np.clip(w, 0.2, 20.0).astype(np.float32)


def _loss(
    model: object, batch: tuple[np.ndarray, ...], weights: object, cfg: TrainConfig, fps: float
) -> object:
    import torch
    import torch.nn.functional as F

    x, sp, cl, it = (torch.from_numpy(a) for a in batch)
    k, alpha = temporal_constants(model.cfg, fps)  # type: ignore[attr-defined]
    out = model.window(x, k, alpha)  # type: ignore[attr-defined]
    eps = 1e-6
    lsp = F.nll_loss(torch.log(out["spot_probs"] + eps).flatten(0, 1), sp.flatten(), weight=weights)
    loss = lsp
    m = cl.flatten() >= 0
    if bool(m.any()):
        lcl = F.nll_loss(torch.log(out["class_probs"] + eps).flatten(0, 1)[m], cl.flatten()[m])
        loss = loss + cfg.class_loss_weight * lcl
    mi = ~torch.isnan(it.flatten())
    if bool(mi.any()):
        li = F.mse_loss(out["intensity"].flatten()[mi], it.flatten()[mi])
        loss = loss + cfg.intensity_loss_weight * li
    return loss


def _split_val(subjects: Sequence[str], n_val: int, seed: int) -> tuple[list[str], list[str]]:
    subs = sorted(set(subjects))
    rng = np.random.default_rng([seed, 0x7A1])
    order = list(rng.permutation(len(subs)))
    n_val = min(n_val, max(len(subs) - 1, 0))
    val = sorted(subs[i] for i in order[:n_val])
    return [s for s in subs if s not in val], val


@dataclass
class FoldResult:
    name: str
    best_epoch: int
    threshold: float
    val_score: float
    checkpoint: Path
    history: list[dict]


def train_fold(
    name: str,
    train_videos: Sequence[PreparedVideo],
    val_videos: Sequence[PreparedVideo],
    model_cfg: object,
    cfg: TrainConfig,
    out_dir: Path,
    seed: int,
    training_data: str = "",
) -> FoldResult:
    """Train one fold (resuming from ``out_dir`` if it holds an unfinished run)."""
    import torch

    from me_perception.model.checkpoint import CheckpointMetadata, load_checkpoint, save_checkpoint
    from me_perception.model.network import build_model

    torch.set_num_threads(cfg.threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / "state.json"
    classes = model_cfg.classes  # type: ignore[attr-defined]
    fps = train_videos[0].fps
    if any(v.fps != fps for v in [*train_videos, *val_videos]):
        raise ValueError("all videos of a run must share one frame rate (resample first)")

    state = json.loads(state_path.read_text()) if state_path.exists() else None
    # Everything but the epoch count must match to resume (more epochs may be asked for later).
    recipe = json.dumps(
        {
            "train": {**asdict(cfg), "epochs": None},
            "model": model_cfg.to_dict(),
            "seed": seed,  # type: ignore[attr-defined]
            "train_videos": [v.video for v in train_videos],
            "val_videos": [v.video for v in val_videos],
        },
        sort_keys=True,
    )
    if state is not None and state.get("recipe") != recipe:
        raise ValueError(
            f"{state_path}: written by a different recipe or data split; "
            "use another output folder (or delete it) to start over"
        )
    if state is not None and state["epoch"] >= cfg.epochs:
        return FoldResult(
            name,
            state["best_epoch"],
            state["threshold"],
            state["best_score"],
            out_dir / "best.safetensors",
            state["history"],
        )

    torch.manual_seed(seed)
    model = build_model(model_cfg, seed=seed).train()  # type: ignore[arg-type]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng([seed, 0xBA7C])
    start_epoch, history = 0, []
    best = {"score": -1.0, "epoch": -1, "threshold": 0.5}
    if state is not None:
        model, _ = load_checkpoint(out_dir / "last.safetensors")
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        extra = torch.load(out_dir / "optim.pt", weights_only=True)
        opt.load_state_dict(extra["optimizer"])
        torch.set_rng_state(extra["torch_rng"])
        rng.bit_generator.state = state["np_rng"]
        start_epoch, history = state["epoch"], state["history"]
        best = {
            "score": state["best_score"],
            "epoch": state["best_epoch"],
            "threshold": state["threshold"],
        }

    weights = torch.from_numpy(_spot_weights(train_videos))

    def meta(model_id: str, metrics: dict | None = None) -> CheckpointMetadata:
        # model.cfg, not model_cfg: a reloaded model's config spells its class names out.
        return CheckpointMetadata(
            config=model.cfg,
            model_id=model_id,
            training_data=training_data,
            metrics=metrics or {},
        )

    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        losses = []
        for _ in range(cfg.steps_per_epoch):
            batch = _sample_batch(train_videos, rng, cfg)
            loss = _loss(model, batch, weights, cfg, fps)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            losses.append(float(loss.detach()))
        model.eval()
        if val_videos:
            outs = [(v, predict_video(model, v)) for v in val_videos]
            thr, score = choose_threshold(outs, classes, base=SpotParams(score=cfg.spot_score))
        else:
            thr, score = 0.5, -float(np.mean(losses))  # no validation: lowest training loss
        history.append(
            {
                "epoch": epoch + 1,
                "loss": float(np.mean(losses)),
                "val_score": score,
                "threshold": thr,
            }
        )
        if score > best["score"]:
            best = {"score": score, "epoch": epoch + 1, "threshold": thr}
            save_checkpoint(
                out_dir / "best.safetensors",
                model,
                meta(f"{name}-epoch{epoch + 1}", {"val_score": score}),
            )
        # Resume point: weights, optimizer + torch RNG, then state.json last (commit marker).
        save_checkpoint(out_dir / "last.safetensors", model, meta(f"{name}-last"))
        torch.save(
            {"optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state()},
            out_dir / "optim.pt",
        )
        st = {
            "epoch": epoch + 1,
            "history": history,
            "best_score": best["score"],
            "best_epoch": best["epoch"],
            "threshold": best["threshold"],
            "np_rng": rng.bit_generator.state,
            "recipe": recipe,
        }
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(st))
        tmp.replace(state_path)
    return FoldResult(
        name, best["epoch"], best["threshold"], best["score"], out_dir / "best.safetensors", history
    )


def run_loso(
    videos: Sequence[PreparedVideo],
    model_cfg: object,
    cfg: TrainConfig,
    out_dir: Path,
    training_data: str = "synthetic",
    max_folds: int | None = None,
) -> dict:
    """Leave-one-subject-out training + evaluation; writes the report and the final export.

    Returns the report dict (also written to ``out_dir/report.json`` with ``confusion.png`` and
    ``per_subject.md``).
    """
    from me_perception.model.checkpoint import load_checkpoint

    out_dir = Path(out_dir)
    classes = model_cfg.classes  # type: ignore[attr-defined]
    subjects = sorted({v.subject for v in videos})
    if len(subjects) < 2:
        raise ValueError("leave-one-subject-out needs at least two subjects")
    results, folds = [], []
    for fi, test_sub in enumerate(subjects[:max_folds] if max_folds else subjects):
        rest = [s for s in subjects if s != test_sub]
        train_s, val_s = _split_val(rest, cfg.n_val_subjects, cfg.seed + fi)
        tr = [v for v in videos if v.subject in train_s]
        va = [v for v in videos if v.subject in val_s]
        te = [v for v in videos if v.subject == test_sub]
        fold = train_fold(
            f"fold-{test_sub}",
            tr,
            va,
            model_cfg,
            cfg,
            out_dir / "folds" / test_sub,
            seed=cfg.seed + fi,
            training_data=f"{training_data}; LOSO fold, test {test_sub}",
        )
        model, _ = load_checkpoint(fold.checkpoint)
        params = SpotParams(threshold=fold.threshold, score=cfg.spot_score)
        results.extend(evaluate_video(model, v, params) for v in te)
        folds.append(
            {
                "test_subject": test_sub,
                "train_subjects": train_s,
                "val_subjects": val_s,
                "best_epoch": fold.best_epoch,
                "threshold": fold.threshold,
                "val_score": fold.val_score,
                "history": fold.history,
            }
        )
    report = {
        "protocol": "leave-one-subject-out; selection and threshold on validation subjects "
        "drawn from the training subjects; recognition on oracle micro intervals, pooled",
        "classes": list(classes),
        "model_config": model_cfg.to_dict(),  # type: ignore[attr-defined]
        "train_config": asdict(cfg),
        "training_data": training_data,
        "folds": folds,
        "test": summarise(results, classes),
    }
    if cfg.train_final:
        report["final"] = _train_final(videos, model_cfg, cfg, out_dir, training_data, report)
    write_report(report, out_dir)
    return report


def _train_final(
    videos: Sequence[PreparedVideo],
    model_cfg: object,
    cfg: TrainConfig,
    out_dir: Path,
    training_data: str,
    report: dict,
) -> dict:
    """All subjects (minus validation ones) -> model.safetensors + model.onnx."""
    from me_perception.model.checkpoint import CheckpointMetadata, load_checkpoint, save_checkpoint
    from me_perception.model.export import export_onnx

    subjects = sorted({v.subject for v in videos})
    train_s, val_s = _split_val(subjects, cfg.n_val_subjects, cfg.seed + 10_000)
    fold = train_fold(
        "final",
        [v for v in videos if v.subject in train_s],
        [v for v in videos if v.subject in val_s],
        model_cfg,
        cfg,
        out_dir / "final",
        seed=cfg.seed + 10_000,
        training_data=f"{training_data}; final model",
    )
    model, _ = load_checkpoint(fold.checkpoint)
    t = report["test"]
    metrics = {
        "loso_spot_f1": t["spotting"]["overall"]["all"]["f1"],
        "loso_uf1": t["recognition"]["uf1"],
        "loso_uar": t["recognition"]["uar"],
        "threshold": fold.threshold,
    }
    metrics = {k: float(v) for k, v in metrics.items() if v is not None and not math.isnan(v)}
    meta = CheckpointMetadata(
        config=model.cfg,
        model_id="me-" + re.sub(r"[^A-Za-z0-9]+", "-", training_data.split(";")[0].strip()),
        training_data=f"{training_data}; subjects {train_s}, validation {val_s}",
        metrics=metrics,
        notes="intensity target: normalised peak motion onset->apex (docs/data.md)",
    )
    ckpt = save_checkpoint(out_dir / "model.safetensors", model, meta)
    onnx_path = export_onnx(model, out_dir / "model.onnx", meta)
    return {
        "checkpoint": str(ckpt),
        "onnx": str(onnx_path),
        "threshold": fold.threshold,
        "best_epoch": fold.best_epoch,
        "train_subjects": train_s,
        "val_subjects": val_s,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: leave-one-subject-out training on synthetic data, or on a CASME II / SAMM copy
    (``--dataset casme2|samm --root DIR``: the trimmed onset..offset samples; faces found by the
    project's detector on each sample's first frame, intensity target from optical flow).

    The defaults are a quick smoke recipe; ``scripts/train_default_model.sh`` spells out the
    recipe of the shipped default model.
    """
    import time

    from me_perception.model.config import ModelConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--dataset",
        choices=("synthetic", "casme2", "samm"),
        default="synthetic",
        help="training data: the synthetic generator, or your own CASME II / SAMM copy",
    )
    ap.add_argument("--root", type=Path, help="data set folder (with --dataset casme2 | samm)")
    ap.add_argument("--subjects", type=int, default=4, help="number of synthetic subjects")
    ap.add_argument(
        "--first-subject", type=int, default=1, help="first subject id (0 = the unmodified photo)"
    )
    ap.add_argument("--clips-per-subject", type=int, default=2)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--window-s", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--label-set", default="casme2_5")
    ap.add_argument("--crop-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-subjects", type=int, default=1)
    ap.add_argument("--max-folds", type=int, default=None, help="only the first N LOSO folds")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument(
        "--clip-preset",
        choices=("small", "webcam"),
        default="small",
        help="small: 320x240 tight faces (fast); webcam: 640x480 like the shipped sample, "
        "with more events per clip",
    )
    ap.add_argument("--duration-s", type=float, default=None, help="clip length (preset default)")
    ap.add_argument("--crop-source", choices=("landmarks", "front_end"), default="landmarks")
    ap.add_argument("--jpeg-quality", type=int, default=80)
    ap.add_argument("--blink-label", choices=("neutral", "macro"), default="neutral")
    ap.add_argument("--spot-score", choices=("any", "micro"), default="any")
    a = ap.parse_args(argv)
    mcfg = ModelConfig(crop_size=a.crop_size, label_set=a.label_set)
    if a.clip_preset == "small":
        clip = replace(SyntheticDataConfig().clip, fps=a.fps)
    else:
        # Like the shipped sample's recording (sample_recording.sample_config) but with more
        # micro-expressions per clip, since they are what the network must learn.
        clip = ClipConfig(
            fps=a.fps,
            duration_s=10.0,
            min_gap_s=0.6,
            n_micro=5,
            n_macro=1,
            blink_rate_hz=0.3,
            head_translation_px=4.0,
            head_rotation_deg=2.0,
        )
    if a.duration_s is not None:
        clip = replace(clip, duration_s=a.duration_s)
    data = SyntheticDataConfig(
        subjects=tuple(range(a.first_subject, a.first_subject + a.subjects)),
        clips_per_subject=a.clips_per_subject,
        clip=clip,
        seed=a.seed,
        crop_source=a.crop_source,
        jpeg_quality=a.jpeg_quality,
    )
    tcfg = TrainConfig(
        epochs=a.epochs,
        steps_per_epoch=a.steps,
        batch_size=a.batch_size,
        window_s=a.window_s,
        lr=a.lr,
        seed=a.seed,
        n_val_subjects=a.val_subjects,
        blink_label=a.blink_label,
        spot_score=a.spot_score,
        threads=a.threads,
    )
    t0 = time.perf_counter()
    if a.dataset == "synthetic":
        videos = make_synthetic_videos(
            data, mcfg, tcfg.blink_label, log=lambda m: print(m, flush=True)
        )
        desc = (
            f"synthetic seed {a.seed}; astronaut photograph, subjects {list(data.subjects)}, "
            f"{a.clips_per_subject} clips each, {clip.width}x{clip.height} @ {clip.fps:g} fps, "
            f"crops from {a.crop_source}, blinks as {a.blink_label}"
        )
    else:
        if a.root is None:
            ap.error(f"--dataset {a.dataset} needs --root")
        from me_perception.learning.datasets import load_casme2, load_samm

        samples = (load_casme2 if a.dataset == "casme2" else load_samm)(a.root)
        videos = [prepare_sample(sample, mcfg) for sample in samples]
        desc = f"{a.dataset} at {a.root}: {len(videos)} trimmed samples (onset..offset)"
    print(f"data ready: {len(videos)} videos in {time.perf_counter() - t0:.0f} s", flush=True)
    rep = run_loso(videos, mcfg, tcfg, a.out, training_data=desc, max_folds=a.max_folds)
    t = rep["test"]
    print(
        json.dumps(
            {
                "spot_f1": t["spotting"]["overall"]["all"]["f1"],
                "uf1": t["recognition"]["uf1"],
                "uar": t["recognition"]["uar"],
                "threshold": rep.get("final", {}).get("threshold"),
                "wall_s": round(time.perf_counter() - t0, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
