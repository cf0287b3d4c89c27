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

Inputs and per-frame targets come from :mod:`me_perception.learning.preparation`; the numbers
from :mod:`me_perception.learning.evaluation`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from me_perception.learning.evaluation import (
    predict_video,
    run_test_videos,
    summarise_test,
    temporal_constants,
    write_report,
)
from me_perception.learning.event_scoring import choose_event_thresholds
from me_perception.learning.preparation import PreparedVideo

#: (on, off) event thresholds of a model trained without validation videos
DEFAULT_THRESHOLDS = (0.6, 0.3)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation recipe, identical for every fold."""

    epochs: int = 10
    steps_per_epoch: int = 50
    batch_size: int = 8
    window_s: float = 2.0
    max_window_frames: int = 120
    """Cap of a training window in frames (the recurrence runs frame by frame)."""
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
    """Score of the frame-run spotting summary in the report (``evaluation.extract_intervals``:
    ``any`` = p_micro + p_macro, ``micro`` = p_micro). Model selection and the event thresholds
    do not use it: they run the node's event logic (:mod:`.event_scoring`)."""
    train_final: bool = True
    threads: int = 2


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
def _sample_batch(
    videos: Sequence[PreparedVideo], rng: np.random.Generator, cfg: TrainConfig
) -> tuple[tuple[np.ndarray, ...], float]:
    """Random windows of one common length and one frame rate, and that rate.

    Videos of several frame rates train one model (its temporal constants are in seconds and
    converted per rate): each batch is drawn from one rate, the rates taking turns at random.
    A window is ``window_s`` long, at most ``max_window_frames`` frames (a 200 fps window is
    shorter in seconds, so a batch costs about the same at any rate). Trimmed samples may be
    shorter: the batch then uses the shortest picked video's length.
    """
    rates = sorted({v.fps for v in videos})
    fps = rates[int(rng.integers(len(rates)))] if len(rates) > 1 else rates[0]
    pool = [v for v in videos if v.fps == fps]
    t = max(4, min(round(cfg.window_s * fps), cfg.max_window_frames))
    picks = [pool[int(rng.integers(len(pool)))] for _ in range(cfg.batch_size)]
    tw = min(t, *(len(v.inputs) for v in picks))
    xs, sp, cl, it = [], [], [], []
    for v in picks:
        n = len(v.inputs)
        if v.events and rng.random() < cfg.event_window_fraction:
            _on, _apex, off, *_ = v.events[int(rng.integers(len(v.events)))]
            # The window ends some time after the apex so the memory has seen the expression.
            end = int(np.clip(off + rng.integers(0, max(tw // 4, 1)), tw - 1, n - 1))
            start = end - tw + 1
        else:
            start = int(rng.integers(0, n - tw + 1))
        sl = slice(start, start + tw)
        xs.append(v.inputs[sl])
        sp.append(v.spot_target[sl])
        cl.append(v.class_target[sl])
        it.append(v.intensity_target[sl])
    return (np.stack(xs), np.stack(sp), np.stack(cl), np.stack(it)), fps


def _spot_weights(videos: Sequence[PreparedVideo]) -> np.ndarray:
    """Class weights of the spotting loss: the square root of inverse frequency, clipped to
    [1, 5] (neutral keeps weight 1).

    The windows are already centred on expressions most of the time
    (``event_window_fraction``); full inverse-frequency weights on top of that made a model
    call most neutral frames expressive (its score on neutral frames averaged 0.7).
    """
    counts = np.bincount(np.concatenate([v.spot_target for v in videos]), minlength=3) + 1.0
    w = np.sqrt(counts.sum() / (3 * counts))
    return np.clip(w, 1.0, 5.0).astype(np.float32)


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
    """A trained fold: the kept epoch, the node's (on, off) event thresholds chosen with it on
    the validation videos, and their selection score."""

    name: str
    best_epoch: int
    thresholds: tuple[float, float]
    val_score: float
    checkpoint: Path
    history: list[dict]


def _recipe(
    cfg: TrainConfig,
    model_cfg: object,
    seed: int,
    train_videos: Sequence[PreparedVideo],
    val_videos: Sequence[PreparedVideo],
) -> str:
    """What must match to resume a fold: everything but the epoch count (more epochs may be
    asked for later)."""
    return json.dumps(
        {
            "train": {**asdict(cfg), "epochs": None},
            "model": model_cfg.to_dict(),  # type: ignore[attr-defined]
            "seed": seed,
            "train_videos": [v.video for v in train_videos],
            "val_videos": [v.video for v in val_videos],
        },
        sort_keys=True,
    )


@dataclass
class _FoldRun:
    """The state of one fold's training: what a resume point saves and restores."""

    model: Any
    opt: Any
    rng: np.random.Generator
    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    best: dict = field(
        default_factory=lambda: {"score": -math.inf, "epoch": -1, "threshold": DEFAULT_THRESHOLDS}
    )

    @staticmethod
    def start(model_cfg: object, cfg: TrainConfig, seed: int) -> _FoldRun:
        """A fresh, seeded model and optimizer."""
        import torch

        from me_perception.model.network import build_model

        torch.manual_seed(seed)
        model = build_model(model_cfg, seed=seed).train()  # type: ignore[arg-type]
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        return _FoldRun(model, opt, np.random.default_rng([seed, 0xBA7C]))

    def resume(self, out_dir: Path, state: dict, cfg: TrainConfig) -> None:
        """Continue from the last resume point written by :meth:`save`."""
        import torch

        from me_perception.model.checkpoint import load_checkpoint

        self.model, _ = load_checkpoint(out_dir / "last.safetensors")
        self.model.train()
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        extra = torch.load(out_dir / "optim.pt", weights_only=True)
        self.opt.load_state_dict(extra["optimizer"])
        torch.set_rng_state(extra["torch_rng"])
        self.rng.bit_generator.state = state["np_rng"]
        self.epoch, self.history = state["epoch"], state["history"]
        self.best = {
            "score": state["best_score"],
            "epoch": state["best_epoch"],
            "threshold": state["threshold"],
        }

    def save(self, out_dir: Path, recipe: str, meta: Any) -> None:
        """Resume point: weights, optimizer + torch RNG, then state.json last (commit marker)."""
        import torch

        from me_perception.model.checkpoint import save_checkpoint

        save_checkpoint(out_dir / "last.safetensors", self.model, meta)
        torch.save(
            {"optimizer": self.opt.state_dict(), "torch_rng": torch.get_rng_state()},
            out_dir / "optim.pt",
        )
        state = {
            "epoch": self.epoch,
            "history": self.history,
            "best_score": self.best["score"],
            "best_epoch": self.best["epoch"],
            "threshold": self.best["threshold"],
            "np_rng": self.rng.bit_generator.state,
            "recipe": recipe,
        }
        tmp = out_dir / "state.tmp"
        tmp.write_text(json.dumps(state))
        tmp.replace(out_dir / "state.json")

    def train_epoch(self, videos: Sequence[PreparedVideo], cfg: TrainConfig, weights: Any) -> float:
        """One epoch of ``cfg.steps_per_epoch`` steps; returns the mean loss."""
        import torch

        self.model.train()
        losses = []
        for _ in range(cfg.steps_per_epoch):
            batch, fps = _sample_batch(videos, self.rng, cfg)
            loss = _loss(self.model, batch, weights, cfg, fps)
            self.opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
            self.opt.step()
            losses.append(float(loss.detach()))
        self.model.eval()
        return float(np.mean(losses))


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

    from me_perception.model.checkpoint import CheckpointMetadata, save_checkpoint

    torch.set_num_threads(cfg.threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else None
    recipe = _recipe(cfg, model_cfg, seed, train_videos, val_videos)
    if state is not None and state.get("recipe") != recipe:
        raise ValueError(
            f"{state_path}: written by a different recipe or data split; "
            "use another output folder (or delete it) to start over"
        )
    best_path = out_dir / "best.safetensors"
    if state is not None and state["epoch"] >= cfg.epochs:
        best = (state["best_epoch"], tuple(state["threshold"]), state["best_score"])
        return FoldResult(name, *best, best_path, state["history"])  # type: ignore[arg-type]
    run = _FoldRun.start(model_cfg, cfg, seed)
    if state is not None:
        run.resume(out_dir, state, cfg)
    weights = torch.from_numpy(_spot_weights(train_videos))

    def meta(model_id: str, metrics: dict | None = None) -> CheckpointMetadata:
        # model.cfg, not model_cfg: a reloaded model's config spells its class names out.
        return CheckpointMetadata(run.model.cfg, model_id, training_data, metrics or {})

    for epoch in range(run.epoch, cfg.epochs):
        loss = run.train_epoch(train_videos, cfg, weights)
        thr: tuple[float, float] = DEFAULT_THRESHOLDS
        if val_videos:
            # the node's event logic over the outputs: selection and (on, off) thresholds
            outs = [(v, predict_video(run.model, v)) for v in val_videos]
            thr, score = choose_event_thresholds(outs)
        else:
            score = -loss  # no validation: lowest training loss
        run.epoch = epoch + 1
        run.history.append(
            {"epoch": run.epoch, "loss": loss, "val_score": score, "threshold": list(thr)}
        )
        if score > run.best["score"]:
            run.best = {"score": score, "epoch": run.epoch, "threshold": list(thr)}
            metrics = {"val_score": score, "on_threshold": thr[0], "off_threshold": thr[1]}
            save_checkpoint(best_path, run.model, meta(f"{name}-epoch{run.epoch}", metrics))
        run.save(out_dir, recipe, meta(f"{name}-last"))
    best = (run.best["epoch"], tuple(run.best["threshold"]), run.best["score"])
    return FoldResult(name, *best, best_path, run.history)  # type: ignore[arg-type]


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
        results.extend(run_test_videos(model, te, fold.thresholds, cfg.spot_score))
        folds.append(
            {
                "test_subject": test_sub,
                "train_subjects": train_s,
                "val_subjects": val_s,
                "best_epoch": fold.best_epoch,
                "thresholds": list(fold.thresholds),
                "val_score": fold.val_score,
                "history": fold.history,
            }
        )
    report = {
        "protocol": "leave-one-subject-out; selection and event thresholds on validation "
        "subjects drawn from the training subjects; spotting = the node's events; recognition "
        "on oracle micro intervals, pooled",
        "classes": list(classes),
        "model_config": model_cfg.to_dict(),  # type: ignore[attr-defined]
        "train_config": asdict(cfg),
        "training_data": training_data,
        "folds": folds,
        "test": summarise_test(results, classes),
    }
    if cfg.train_final:
        report["final"] = _train_final(videos, model_cfg, cfg, out_dir, training_data, report)
    write_report(report, out_dir)
    return report


def export_model(
    checkpoint: Path,
    out_dir: Path,
    thresholds: tuple[float, float],
    model_id: str,
    training_data: str,
    metrics: dict | None = None,
) -> tuple[Path, Path]:
    """A fold's kept model -> ``out_dir/model.safetensors`` + ``model.onnx``, with the node's
    event thresholds in the metadata (``on_threshold``, ``off_threshold``; ``threshold`` =
    on, as older readers expect), which the pipeline hands to the network spotter."""
    from me_perception.model.checkpoint import CheckpointMetadata, load_checkpoint, save_checkpoint
    from me_perception.model.export import export_onnx

    model, _ = load_checkpoint(checkpoint)
    values = {
        **(metrics or {}),
        "threshold": thresholds[0],
        "on_threshold": thresholds[0],
        "off_threshold": thresholds[1],
    }
    values = {k: float(v) for k, v in values.items() if v is not None and not math.isnan(v)}
    meta = CheckpointMetadata(
        config=model.cfg,
        model_id=model_id,
        training_data=training_data,
        metrics=values,
        notes="input: motion maps (D_b, D_k in IOD) when in_channels == 4; intensity target: "
        "normalised peak motion onset->apex (docs/data.md, docs/model.md)",
    )
    out_dir = Path(out_dir)
    ckpt = save_checkpoint(out_dir / "model.safetensors", model, meta)
    return ckpt, export_onnx(model, out_dir / "model.onnx", meta)


def _train_final(
    videos: Sequence[PreparedVideo],
    model_cfg: object,
    cfg: TrainConfig,
    out_dir: Path,
    training_data: str,
    report: dict,
) -> dict:
    """All subjects (minus validation ones) -> model.safetensors + model.onnx."""
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
    t = report["test"]
    metrics = {
        "loso_spot_f1": t["spotting"]["overall"]["all"]["f1"],
        "loso_uf1": t["recognition"]["uf1"],
        "loso_uar": t["recognition"]["uar"],
    }
    ckpt, onnx_path = export_model(
        fold.checkpoint,
        out_dir,
        fold.thresholds,
        "me-" + re.sub(r"[^A-Za-z0-9]+", "-", training_data.split(";")[0].strip()),
        f"{training_data}; subjects {train_s}, validation {val_s}",
        metrics,
    )
    return {
        "checkpoint": str(ckpt),
        "onnx": str(onnx_path),
        "thresholds": list(fold.thresholds),
        "best_epoch": fold.best_epoch,
        "train_subjects": train_s,
        "val_subjects": val_s,
    }
