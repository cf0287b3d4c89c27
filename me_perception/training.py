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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .datasets.common import LongVideo, MESample, load_frames
from .evaluation import (
    PreparedVideo,
    SpotParams,
    choose_threshold,
    evaluate_video,
    predict_video,
    summarise,
    temporal_constants,
    write_report,
)
from .synthetic import ClipConfig, SyntheticClip, SyntheticFaceGenerator

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
    from .face_alignment import AlignmentConfig, align_face

    cfg = AlignmentConfig(size=size, gray=channels == 1, zoom=zoom)
    crop = align_face(frame, None, np.asarray(points5, np.float64), cfg).crop
    if crop.ndim == 2:
        return crop[None]
    return np.ascontiguousarray(crop.transpose(2, 0, 1))


def _class_index(label5: str | None, label3: str | None, classes: Sequence[str]) -> int:
    for lab in (label5, label3):
        if lab is not None and lab in classes:
            return list(classes).index(lab)
    return -1


def prepare_clip(
    clip: SyntheticClip, model_cfg: object, blink_label: str = "neutral", zoom: float = 0.9
) -> PreparedVideo:
    """Crops and per-frame targets of one synthetic clip for a model config."""
    names = list(clip.landmark_names)
    idx5 = [names.index(k) for k in ALIGN_POINTS]
    size, ch = model_cfg.crop_size, model_cfg.in_channels  # type: ignore[attr-defined]
    classes = model_cfg.classes  # type: ignore[attr-defined]
    n = len(clip.frames)
    crops = np.stack(
        [align_crop(f, clip.landmarks[i, idx5], size, ch, zoom) for i, f in enumerate(clip.frames)]
    )
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

    from .face_detection import HaarFaceDetector

    det = detector or HaarFaceDetector()
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    faces = det.detect(gray)  # type: ignore[attr-defined]
    if not faces:
        raise ValueError("no face found in the first frame")
    best = max(faces, key=lambda d: d.box[2] * d.box[3])
    return np.asarray(best.landmarks, np.float64)


def crop_iod(size: int, zoom: float = 0.9) -> float:
    """Inter-ocular distance in pixels of an aligned crop (from the alignment template)."""
    from .face_alignment import CANONICAL_TEMPLATE

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
    with :func:`me_perception.synthetic.motion_intensity` on aligned crops of
    ``intensity_crop`` pixels (the documented definition; these data sets have no intensity
    labels).
    """
    from .synthetic import motion_intensity

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


def make_synthetic_videos(
    data: SyntheticDataConfig, model_cfg: object, blink_label: str = "neutral", zoom: float = 0.9
) -> list[PreparedVideo]:
    """Render and prepare the synthetic data set (deterministic for ``data.seed``)."""
    gen = SyntheticFaceGenerator()
    out = []
    for s in data.subjects:
        for j in range(data.clips_per_subject):
            clip = gen.render(data.clip, subject_id=s, seed=data.seed * 1000 + j)
            out.append(prepare_clip(clip, model_cfg, blink_label, zoom))
    return out


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

    from .model.checkpoint import CheckpointMetadata, load_checkpoint, save_checkpoint
    from .model.network import build_model

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
            thr, score = choose_threshold(outs, classes)
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
    from .model.checkpoint import load_checkpoint

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
        params = SpotParams(threshold=fold.threshold)
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
    from .model.checkpoint import CheckpointMetadata, load_checkpoint, save_checkpoint
    from .model.export import export_onnx

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
        model_id=f"me-{training_data.split(';')[0].strip()}-seed{cfg.seed}",
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
    """CLI: LOSO on synthetic data (real data sets need the face front end for crops)."""
    from .model.config import ModelConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--clips-per-subject", type=int, default=2)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--label-set", default="casme2_5")
    ap.add_argument("--crop-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    mcfg = ModelConfig(crop_size=a.crop_size, label_set=a.label_set)
    data = SyntheticDataConfig(
        subjects=tuple(range(1, a.subjects + 1)),
        clips_per_subject=a.clips_per_subject,
        clip=replace(SyntheticDataConfig().clip, fps=a.fps),
        seed=a.seed,
    )
    tcfg = TrainConfig(epochs=a.epochs, steps_per_epoch=a.steps, seed=a.seed)
    videos = make_synthetic_videos(data, mcfg, tcfg.blink_label)
    rep = run_loso(videos, mcfg, tcfg, a.out, training_data=f"synthetic seed {a.seed}")
    t = rep["test"]
    print(
        json.dumps(
            {
                "spot_f1": t["spotting"]["overall"]["all"]["f1"],
                "uf1": t["recognition"]["uf1"],
                "uar": t["recognition"]["uar"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
