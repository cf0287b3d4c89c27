"""Evaluate a trained network on prepared videos: MEGC spotting, recognition, intensity.

Why a separate module: training (model selection, threshold choice on validation subjects) and
the final leave-one-subject-out report must compute the *same* numbers the same way, with the
metrics of :mod:`me_perception.learning.metrics`.

Protocol
--------
* The network runs in its window form over the whole video from a reset state (identical to the
  streaming step, see ``me_perception.model.network``).
* Spotting: a frame is "active" when ``p_micro + p_macro >= threshold``; active runs become
  intervals, labelled micro or macro by their mean probabilities, and a run longer than
  ``micro_max_s`` (0.5 s) is macro whatever the probabilities (a micro-expression cannot be
  that long). Runs shorter than ``min_len_s`` are dropped. Ground truth is the micro and macro
  expressions (blinks are not expressions, MEGC does not annotate them). Matching: IoU >= 0.5.
* Recognition (MEGC convention, "oracle" intervals): for every ground-truth *micro* expression
  whose label is in the model's class set, the class is the argmax of the class probabilities
  averaged over its onset..offset frames. UF1/UAR are computed on predictions pooled over all
  test subjects.
* Intensity: for the same events, the predicted intensity is the maximum over onset..offset;
  the report gives the mean absolute error against the ground-truth intensity.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from me_perception.learning import metrics as M
from me_perception.learning.event_scoring import video_events
from me_perception.learning.preparation import PreparedVideo


@dataclass(frozen=True)
class SpotParams:
    """How spotting intervals are read from per-frame probabilities.

    ``score``: ``any`` thresholds p_micro + p_macro (MEGC spotting of both kinds); ``micro``
    thresholds p_micro alone, as the node's event logic does (``pipeline`` feeds p_micro to
    ``events.EventDetector``), so a threshold chosen with it is the node's ``on_threshold``.
    """

    threshold: float = 0.5
    micro_max_s: float = 0.5
    min_len_s: float = 0.03
    score: str = "any"


def temporal_constants(cfg: object, fps: float) -> tuple[int, float]:
    """(k in frames, baseline EMA alpha) for a model config at a frame rate."""
    k = max(1, round(cfg.k_seconds * fps))  # type: ignore[attr-defined]
    alpha = 1.0 - math.exp(-1.0 / (cfg.baseline_tau_s * fps))  # type: ignore[attr-defined]
    return k, alpha


def predict_video(model: object, video: PreparedVideo) -> dict[str, np.ndarray]:
    """Per-frame outputs (numpy): spot_probs (T, 3), class_probs (T, K), intensity (T,)."""
    import torch

    k, alpha = temporal_constants(model.cfg, video.fps)  # type: ignore[attr-defined]
    was_training = model.training  # type: ignore[attr-defined]
    model.eval()  # type: ignore[attr-defined]
    with torch.no_grad():
        out = model.window(torch.from_numpy(video.inputs)[None], k, alpha)  # type: ignore[attr-defined]
    if was_training:
        model.train()  # type: ignore[attr-defined]
    return {
        "spot_probs": out["spot_probs"][0].numpy(),
        "class_probs": out["class_probs"][0].numpy(),
        "intensity": out["intensity"][0, :, 0].numpy(),
    }


def extract_intervals(
    spot_probs: np.ndarray, fps: float, params: SpotParams = SpotParams()
) -> list[tuple[int, int, str]]:
    """Active runs -> (onset, offset, kind) intervals (see module docstring)."""
    p = np.asarray(spot_probs)
    if params.score == "micro":
        active = p[:, 1] >= params.threshold
    elif params.score == "any":
        active = (p[:, 1] + p[:, 2]) >= params.threshold
    else:
        raise ValueError(f"SpotParams.score must be 'any' or 'micro', not {params.score!r}")
    out = []
    t, n = 0, len(active)
    min_len = max(1, round(params.min_len_s * fps))
    while t < n:
        if not active[t]:
            t += 1
            continue
        s = t
        while t < n and active[t]:
            t += 1
        e = t - 1
        if e - s + 1 < min_len:
            continue
        dur = (e - s + 1) / fps
        if params.score == "micro":
            kind = "micro"  # the node: a p_micro run is micro unless it is too long
        else:
            kind = "micro" if p[s : e + 1, 1].mean() >= p[s : e + 1, 2].mean() else "macro"
        if dur > params.micro_max_s:
            kind = "macro"
        out.append((s, e, kind))
    return out


@dataclass
class VideoResult:
    subject: str
    video: str
    spot: M.SpotVideo
    rec_true: list[int]
    rec_pred: list[int]
    int_true: list[float]
    int_pred: list[float]
    outputs: dict[str, np.ndarray] | None = None


def evaluate_video(
    model: object, video: PreparedVideo, params: SpotParams, keep_outputs: bool = False
) -> VideoResult:
    out = predict_video(model, video)
    return score_outputs(video, out, params, keep_outputs)


def score_outputs(
    video: PreparedVideo,
    out: dict[str, np.ndarray],
    params: SpotParams,
    keep_outputs: bool = False,
) -> VideoResult:
    """Compare network outputs of one video with its ground truth."""
    gt = [(on, off, kind) for on, _, off, kind, _, _ in video.events if kind in ("micro", "macro")]
    pred = extract_intervals(out["spot_probs"], video.fps, params)
    rt, rp, it, ip = [], [], [], []
    for on, _, off, kind, cls, inten in video.events:
        if kind != "micro":
            continue
        if cls >= 0:
            rt.append(int(cls))
            rp.append(int(np.argmax(out["class_probs"][on : off + 1].mean(axis=0))))
        if not math.isnan(inten):
            it.append(float(inten))
            ip.append(float(out["intensity"][on : off + 1].max()))
    return VideoResult(
        subject=video.subject,
        video=video.video,
        spot=M.SpotVideo(video.subject, video.video, gt, pred),
        rec_true=rt,
        rec_pred=rp,
        int_true=it,
        int_pred=ip,
        outputs=out if keep_outputs else None,
    )


def summarise(results: Sequence[VideoResult], classes: Sequence[str]) -> dict:
    """Pooled spotting, recognition and intensity metrics plus per-subject tables."""
    spot = M.evaluate_spotting([r.spot for r in results])
    names = list(classes)
    yt = [names[i] for r in results for i in r.rec_true]
    yp = [names[i] for r in results for i in r.rec_pred]
    subj = [r.subject for r in results for _ in r.rec_true]
    rec = M.recognition_report(yt, yp, names)
    it = np.array([v for r in results for v in r.int_true])
    ip = np.array([v for r in results for v in r.int_pred])
    intensity = {
        "n": len(it),
        "mae": float(np.abs(it - ip).mean()) if len(it) else math.nan,
        "pearson": float(np.corrcoef(it, ip)[0, 1])
        if len(it) > 1 and it.std() > 0 and ip.std() > 0
        else math.nan,
    }
    return {
        "spotting": spot,
        "recognition": rec,
        "recognition_per_subject": M.per_subject_table(subj, yt, yp, names),
        "intensity": intensity,
    }


def selection_score(summary: dict) -> float:
    """Validation score for model/threshold selection: mean of spotting F1 and UF1 (NaN-safe)."""
    vals = [summary["spotting"]["overall"]["all"]["f1"], summary["recognition"]["uf1"]]
    vals = [v for v in vals if not math.isnan(v)]
    return float(np.mean(vals)) if vals else 0.0


def choose_threshold(
    outputs: Sequence[tuple[PreparedVideo, dict[str, np.ndarray]]],
    classes: Sequence[str],
    grid: Sequence[float] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    base: SpotParams = SpotParams(),
) -> tuple[float, float]:
    """Best spotting threshold on (validation) outputs: (threshold, selection score).

    ``base`` gives the other spotting parameters (e.g. ``score="micro"``). Ties go to the
    higher threshold (fewer false alarms on a robot).
    """
    best = (float(grid[0]), -1.0)
    for thr in grid:
        res = [score_outputs(v, o, replace(base, threshold=thr)) for v, o in outputs]
        s = selection_score(summarise(res, classes))
        if s >= best[1]:
            best = (float(thr), s)
    return best


TestResult = tuple[PreparedVideo, VideoResult, tuple[float, float]]


def run_test_videos(
    model: Any,
    videos: Sequence[PreparedVideo],
    thresholds: tuple[float, float],
    spot_score: str = "any",
) -> list[TestResult]:
    """Run a trained model over test videos (outputs and thresholds kept for
    :func:`summarise_test`)."""
    params = SpotParams(threshold=thresholds[0], score=spot_score)
    return [(v, evaluate_video(model, v, params, keep_outputs=True), thresholds) for v in videos]


def summarise_test(results: Sequence[TestResult], classes: Sequence[str]) -> dict:
    """Test metrics: ``spotting`` = the node's events (event logic over the outputs, each
    video with its fold's thresholds), ``frame_spotting`` = runs of frames above the on
    threshold, recognition and intensity on oracle intervals (:func:`evaluation.summarise`)."""
    summary = summarise([r for _, r, _ in results], classes)
    summary["frame_spotting"] = summary["spotting"]
    spot = [
        M.SpotVideo(v.subject, v.video, r.spot.gt, video_events(v, r.outputs, thr))  # type: ignore[arg-type]
        for v, r, thr in results
    ]
    summary["spotting"] = M.evaluate_spotting(spot)
    return summary


def save_confusion_png(report: dict, path: Path, title: str = "Confusion matrix") -> Path:
    """Confusion matrix (rows true, columns predicted) as a PNG, counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = report["labels"]
    cm = np.asarray(report["confusion"], dtype=float).reshape(len(labels), len(labels))
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.2 * len(labels) + 1.5), dpi=100)
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            dark = cm[i, j] > 0.5 * max(cm.max(), 1)
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}",
                ha="center",
                va="center",
                color="white" if dark else "black",
            )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _json_safe(obj: object) -> object:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if math.isnan(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_report(report: dict, out_dir: Path) -> dict[str, Path]:
    """report.json (NaN -> null), confusion.png and per_subject.md under ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json"}
    tmp = out_dir / "report.json.tmp"
    tmp.write_text(json.dumps(_json_safe(report), indent=1, sort_keys=True))
    tmp.replace(paths["json"])
    summ = report["test"]
    paths["confusion"] = save_confusion_png(summ["recognition"], out_dir / "confusion.png")
    lines = ["# Per-subject results (leave-one-subject-out test folds)", ""]
    lines.append("## Recognition (oracle intervals, micro-expressions)")
    lines.append(M.format_table(summ["recognition_per_subject"], ["n", "accuracy", "uf1", "uar"]))
    lines.append("")
    lines.append("## Spotting (IoU >= 0.5)")
    rows = {s: d["all"] for s, d in summ["spotting"]["per_subject"].items()}
    lines.append(M.format_table(rows, ["tp", "fp", "fn", "precision", "recall", "f1"]))
    paths["per_subject"] = out_dir / "per_subject.md"
    paths["per_subject"].write_text("\n".join(lines) + "\n")
    return paths


def evaluate_model(
    checkpoint: Path,
    videos: Sequence[PreparedVideo],
    params: SpotParams,
    description: str,
) -> dict:
    """Evaluate one trained model on prepared videos (no training): the report that
    :func:`write_report` writes, with the metrics of a leave-one-subject-out test."""
    from me_perception.model.checkpoint import load_checkpoint

    model, meta = load_checkpoint(checkpoint)
    results = [evaluate_video(model, v, params) for v in videos]
    return {
        "model_id": meta.model_id,
        "model_training_data": meta.training_data,
        "data": description,
        "spot_params": {
            "threshold": params.threshold,
            "score": params.score,
            "micro_max_s": params.micro_max_s,
            "min_len_s": params.min_len_s,
        },
        "n_videos": len(videos),
        "test": summarise(results, model.cfg.classes),
    }
