"""Leave-one-identity-out (LOIO) training: is the network identity-invariant?

Why: all synthetic subjects of one photograph share one face; a model tested on another
subject of the same photograph may still have learnt the face (leave-one-subject-out cannot
tell). Here each fold trains on every identity but one and is tested on the held-out identity,
which it has never seen: a model that learnt appearance fails there, one that reads motion does
not. Then a final model is trained on all identities.

Per fold (``out_dir/folds/<identity>/``): training videos of the other identities, validation
subjects drawn *per identity from the training identities only* (model selection and the
node's event thresholds, :mod:`.event_scoring`), the kept model exported to
``folds/<identity>/model/`` (model.onnx + model.safetensors, thresholds in the metadata), and
its test on the held-out identity's videos: the node's events (micro / macro F1, IoU >= 0.5),
recognition and intensity on oracle intervals. The final model goes to ``out_dir/model/``;
``out_dir/report.json`` holds everything (``me_perception/resources/default_model/
training_report.json`` is this file).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from me_perception.learning.evaluation import run_test_videos, summarise_test, write_report
from me_perception.learning.preparation import PreparedVideo
from me_perception.learning.training import TrainConfig, export_model, train_fold

__all__ = ["run_loio", "split_by_identity"]


def split_by_identity(
    videos: Sequence[PreparedVideo], n_val: int, seed: int
) -> tuple[list[PreparedVideo], list[PreparedVideo], list[str]]:
    """Training and validation videos: ``n_val`` subjects of *each* identity (seeded draw,
    at least one subject of each identity left for training) go to validation."""
    rng = np.random.default_rng([seed, 0x1D])
    val_subjects: list[str] = []
    for ident in sorted({v.identity for v in videos}):
        subs = sorted({v.subject for v in videos if v.identity == ident})
        k = min(n_val, max(len(subs) - 1, 0))
        val_subjects += sorted(subs[i] for i in rng.permutation(len(subs))[:k])
    tr = [v for v in videos if v.subject not in val_subjects]
    va = [v for v in videos if v.subject in val_subjects]
    return tr, va, val_subjects


def _fold_summary(test: dict) -> dict:
    spot = test["spotting"]["overall"]

    def f1(kind: str) -> float | None:
        return spot[kind]["f1"] if kind in spot else None

    return {
        "micro_f1": f1("micro"),
        "macro_f1": f1("macro"),
        "all_f1": f1("all"),
        "uf1": test["recognition"]["uf1"],
    }


def _train_and_export(
    name: str,
    videos: Sequence[PreparedVideo],
    model_cfg: Any,
    cfg: TrainConfig,
    folder: Path,
    seed: int,
    description: str,
    metrics: dict | None = None,
) -> tuple[Any, dict]:
    """Train one model (resumable) and export it to ``folder/model``."""
    from me_perception.model.checkpoint import load_checkpoint

    tr, va, val_subjects = split_by_identity(videos, cfg.n_val_subjects, seed)
    fold = train_fold(name, tr, va, model_cfg, cfg, folder, seed=seed, training_data=description)
    model_id = "me-motion-" + re.sub(r"[^A-Za-z0-9]+", "-", name)
    export_model(fold.checkpoint, folder / "model", fold.thresholds, model_id, description, metrics)
    model, _ = load_checkpoint(fold.checkpoint)
    info = {
        "identities": sorted({v.identity for v in tr}),
        "train_subjects": sorted({v.subject for v in tr}),
        "val_subjects": val_subjects,
        "best_epoch": fold.best_epoch,
        "thresholds": list(fold.thresholds),
        "val_score": fold.val_score,
        "history": fold.history,
        "model_dir": str(folder / "model"),
    }
    return model, info


def run_loio(
    videos: Sequence[PreparedVideo],
    model_cfg: Any,
    cfg: TrainConfig,
    out_dir: str | Path,
    training_data: str = "synthetic",
    final: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Leave-one-identity-out folds, then the final model on all identities (see the module
    docstring). Returns the report, also written to ``out_dir/report.json``."""
    out_dir = Path(out_dir)
    identities = sorted({v.identity for v in videos})
    if len(identities) < 2 or "" in identities:
        raise ValueError(f"leave-one-identity-out needs >= 2 named identities, got {identities}")
    classes = model_cfg.classes
    folds, results = [], []
    for fi, held_out in enumerate(identities):
        pool = [v for v in videos if v.identity != held_out]
        test = [v for v in videos if v.identity == held_out]
        desc = f"{training_data}; LOIO fold: trained without {held_out}"
        model, info = _train_and_export(
            f"loio-{held_out}", pool, model_cfg, cfg, out_dir / "folds" / held_out,
            cfg.seed + fi, desc,
        )  # fmt: skip
        fold_results = run_test_videos(model, test, tuple(info["thresholds"]), cfg.spot_score)
        results += fold_results
        fold_test = summarise_test(fold_results, classes)
        info.update(test_identity=held_out, test=_fold_summary(fold_test), test_full=fold_test)
        folds.append(info)
        if log is not None:
            log(f"fold {held_out}: {info['test']}")
    report: dict = {
        "protocol": "leave-one-identity-out: each fold trains on the other identities "
        "(validation subjects drawn per training identity: epoch and event thresholds) and "
        "is tested on the held-out identity; spotting = the node's events (EventDetector "
        "over p_micro + p_macro, IoU >= 0.5); recognition on oracle micro intervals",
        "classes": list(classes),
        "model_config": model_cfg.to_dict(),
        "train_config": asdict(cfg),
        "training_data": training_data,
        "folds": folds,
        "test": summarise_test(results, classes),
    }
    if final:
        desc = f"{training_data}; final model, identities {identities}"
        metrics = {
            f"loio_{f['test_identity']}_{k}": v
            for f in folds
            for k, v in f["test"].items()
            if v is not None
        }
        _, info = _train_and_export(
            "final", videos, model_cfg, cfg, out_dir / "final", cfg.seed + 10_000, desc, metrics
        )
        src = out_dir / "final" / "model"
        (out_dir / "model").mkdir(parents=True, exist_ok=True)
        for name in ("model.onnx", "model.safetensors"):
            (out_dir / "model" / name).write_bytes((src / name).read_bytes())
        info["model_dir"] = str(out_dir / "model")
        report["final"] = info
    write_report(report, out_dir)
    return report
