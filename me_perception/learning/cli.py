"""Command-line entry points of the learning tools (kept out of the library modules).

me_perception_train ...                       (train_main)
me_perception_evaluate ...                    (evaluate_main)
python -m me_perception.learning.cli synthetic --out DIR [...]   (synthetic_main)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from me_perception.learning.datasets import load_casme2, load_samm, load_synthetic
from me_perception.learning.datasets.synthetic_io import write_dataset
from me_perception.learning.evaluation import SpotParams, evaluate_model, write_report
from me_perception.learning.folds import run_loio
from me_perception.learning.preparation import prepare_long_video, prepare_sample
from me_perception.learning.synthetic import ClipConfig, sample_config
from me_perception.learning.synthetic_data import SyntheticDataConfig, make_synthetic_videos
from me_perception.learning.training import TrainConfig, run_loso
from me_perception.model.checkpoint import CheckpointError, read_checkpoint_metadata
from me_perception.model.config import ModelConfig


def _clip_config(preset: str, fps: float, duration_s: float | None, n_head: int) -> ClipConfig:
    if preset == "small":
        clip = replace(SyntheticDataConfig().clip, fps=fps)
    else:
        # The shipped sample's recording but with more micro-expressions per clip, since they
        # are what the network must learn, and discrete head movements (neutral targets: the
        # network must not call them events).
        clip = replace(sample_config(10.0, fps), min_gap_s=0.6, n_micro=5, n_head=n_head)
    return clip if duration_s is None else replace(clip, duration_s=duration_s)


def _per_fps(values: Sequence | None, n: int, name: str) -> list:
    """One value per frame rate (a single value serves all)."""
    if values is None:
        return [None] * n
    if len(values) == 1:
        return list(values) * n
    if len(values) != n:
        raise SystemExit(f"{name}: give one value or one per --fps value")
    return list(values)


def train_main(argv: Sequence[str] | None = None) -> int:
    """CLI: train and test the network on synthetic data (leave-one-subject-out, or
    leave-one-identity-out with ``--protocol loio`` over ``--identities``), or on a CASME II /
    SAMM copy (``--dataset casme2|samm --root DIR``: the trimmed onset..offset samples,
    measured by the pipeline's own front end; intensity target from optical flow).

    The defaults are a quick smoke recipe; ``scripts/train_default_model.sh`` spells out the
    recipe of the shipped default model.
    """
    ap = argparse.ArgumentParser(prog="me_perception_train", description=train_main.__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--dataset",
        choices=("synthetic", "casme2", "samm"),
        default="synthetic",
        help="training data: the synthetic generator, or your own CASME II / SAMM copy",
    )
    ap.add_argument("--root", type=Path, help="data set folder (with --dataset casme2 | samm)")
    ap.add_argument("--protocol", choices=("loso", "loio"), default="loso")
    ap.add_argument("--identities", nargs="+", default=["astronaut"])
    ap.add_argument("--generator", default="ours", help="synthetic renderer (training: ours)")
    ap.add_argument("--subjects", type=int, default=4, help="synthetic subjects per identity")
    ap.add_argument(
        "--first-subject", type=int, default=1, help="first subject id (0 = the unmodified photo)"
    )
    ap.add_argument("--fps", type=float, nargs="+", default=[30.0])
    ap.add_argument("--clips-per-subject", type=int, nargs="+", default=[2], help="per --fps")
    ap.add_argument("--duration-s", type=float, nargs="+", default=None, help="per --fps")
    ap.add_argument("--head-movements", type=int, default=1, help="per clip (webcam preset)")
    ap.add_argument("--input", choices=("motion", "crop"), default="motion")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--window-s", type=float, default=2.0)
    ap.add_argument("--max-window-frames", type=int, default=120)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--label-set", default="casme2_5")
    ap.add_argument("--crop-size", type=int, default=64, help="appearance models (--input crop)")
    ap.add_argument("--seed", type=int, default=1, help="clip j uses generator seed seed*1000+j")
    ap.add_argument("--val-subjects", type=int, default=1)
    ap.add_argument("--max-folds", type=int, default=None, help="only the first N LOSO folds")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--clip-preset", choices=("small", "webcam"), default="small")
    ap.add_argument("--jpeg-quality", type=int, default=80)
    ap.add_argument("--blink-label", choices=("neutral", "macro"), default="neutral")
    ap.add_argument("--spot-score", choices=("any", "micro"), default="any")
    ap.add_argument("--cache", type=Path, help="prepared-video cache (default OUT/prepared)")
    a = ap.parse_args(argv)
    if a.input == "motion":
        mcfg = ModelConfig.motion(label_set=a.label_set)
    else:
        mcfg = ModelConfig(crop_size=a.crop_size, label_set=a.label_set)
    tcfg = TrainConfig(
        epochs=a.epochs,
        steps_per_epoch=a.steps,
        batch_size=a.batch_size,
        window_s=a.window_s,
        max_window_frames=a.max_window_frames,
        lr=a.lr,
        seed=a.seed,
        n_val_subjects=a.val_subjects,
        blink_label=a.blink_label,
        spot_score=a.spot_score,
        threads=a.threads,
    )
    t0 = time.perf_counter()
    if a.dataset == "synthetic":
        n = len(a.fps)
        clips = _per_fps(a.clips_per_subject, n, "--clips-per-subject")
        durations = _per_fps(a.duration_s, n, "--duration-s")
        subjects = tuple(range(a.first_subject, a.first_subject + a.subjects))
        data = [
            SyntheticDataConfig(
                subjects=subjects,
                clips_per_subject=c,
                clip=_clip_config(a.clip_preset, fps, d, a.head_movements),
                seed=a.seed,
                identity=ident,
                generator=a.generator,
                jpeg_quality=a.jpeg_quality,
            )
            for ident in a.identities
            for fps, c, d in zip(a.fps, clips, durations, strict=True)
        ]
        videos = make_synthetic_videos(
            data, mcfg, tcfg.blink_label, log=lambda m: print(m, flush=True),
            cache_dir=a.cache or a.out / "prepared",
        )  # fmt: skip
        desc = (
            f"synthetic ({a.generator} generator) seed {a.seed}; identities {a.identities}, "
            f"subjects {list(subjects)}, fps {a.fps} with {clips} clips per subject, "
            f"{a.input} input, JPEG q{a.jpeg_quality}, blinks and head movements "
            f"{a.blink_label}"
        )
    else:
        if a.root is None:
            ap.error(f"--dataset {a.dataset} needs --root")
        samples = (load_casme2 if a.dataset == "casme2" else load_samm)(a.root)
        videos = [prepare_sample(sample, mcfg) for sample in samples]
        desc = f"{a.dataset} at {a.root}: {len(videos)} trimmed samples (onset..offset)"
    print(f"data ready: {len(videos)} videos in {time.perf_counter() - t0:.0f} s", flush=True)
    if a.protocol == "loio":
        rep = run_loio(videos, mcfg, tcfg, a.out, desc, log=lambda m: print(m, flush=True))
    else:
        rep = run_loso(videos, mcfg, tcfg, a.out, training_data=desc, max_folds=a.max_folds)
    t = rep["test"]
    final = rep.get("final", {})
    print(
        json.dumps(
            {
                "micro_f1": t["spotting"]["overall"].get("micro", {}).get("f1"),
                "macro_f1": t["spotting"]["overall"].get("macro", {}).get("f1"),
                "uf1": t["recognition"]["uf1"],
                "folds": {
                    f.get("test_identity", f.get("test_subject")): f.get("test")
                    for f in rep["folds"]
                },
                "thresholds": final.get("thresholds"),
                "wall_s": round(time.perf_counter() - t0, 1),
            }
        )
    )
    return 0


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    """CLI ``me_perception_evaluate``: score a trained model on a data set, without training.

    Writes report.json (accuracy, UF1, UAR, MEGC spotting P/R/F1 at IoU >= 0.5 per kind and
    per subject, intensity error), confusion.png and per_subject.md.
    """
    ap = argparse.ArgumentParser(prog="me_perception_evaluate", description=evaluate_main.__doc__)
    ap.add_argument("--model", type=Path, required=True, help="model dir or .safetensors")
    ap.add_argument("--dataset", choices=("casme2", "samm", "synthetic"), required=True)
    ap.add_argument("--root", type=Path, required=True, help="data set folder")
    ap.add_argument("--out", type=Path, required=True, help="report directory")
    ap.add_argument("--threshold", type=float, help="spotting threshold (default: the model's)")
    ap.add_argument("--spot-score", choices=("micro", "any"), default="micro")
    a = ap.parse_args(argv)
    ckpt = a.model / "model.safetensors" if a.model.is_dir() else a.model
    try:
        meta = read_checkpoint_metadata(ckpt)
        if a.dataset == "synthetic":
            videos = [prepare_long_video(v, meta.config) for v in load_synthetic(a.root)]
        else:
            samples = (load_casme2 if a.dataset == "casme2" else load_samm)(a.root)
            videos = [prepare_sample(s, meta.config) for s in samples]
    except (CheckpointError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    threshold = a.threshold if a.threshold is not None else meta.metrics.get("threshold", 0.6)
    # frame-run spotting at the on threshold; the node's events: me_perception_pipeline_eval
    params = SpotParams(threshold=float(threshold), score=a.spot_score)
    report = evaluate_model(ckpt, videos, params, f"{a.dataset} at {a.root}")
    paths = write_report(report, a.out)
    rec, spot = report["test"]["recognition"], report["test"]["spotting"]["overall"]
    print(
        f"{len(videos)} videos; recognition: "
        + ", ".join(f"{k} {rec[k]:.3f}" for k in ("accuracy", "uf1", "uar") if k in rec)
    )
    for kind, c in sorted(spot.items()):
        print(f"spotting [{kind}] TP {c['tp']} FP {c['fp']} FN {c['fn']} F1 {c['f1']}")
    for name, path in paths.items():
        print(f"{name:12s} {path}")
    return 0


def synthetic_main(argv: Sequence[str] | None = None) -> int:
    """Write a synthetic micro-expression data set (frames + ground truth) to disk."""
    ap = argparse.ArgumentParser(
        prog="python -m me_perception.learning.cli synthetic", description=synthetic_main.__doc__
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--clips-per-subject", type=int, default=2)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--face-fraction", type=float, default=0.28)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jpg", action="store_true", help="JPEG instead of lossless PNG")
    a = ap.parse_args(argv)
    cfg = ClipConfig(
        fps=a.fps,
        duration_s=a.duration,
        width=a.width,
        height=a.height,
        face_fraction=a.face_fraction,
    )
    folders = write_dataset(
        a.out,
        range(1, a.subjects + 1),
        a.clips_per_subject,
        cfg,
        a.seed,
        ".jpg" if a.jpg else ".png",
    )
    print(f"wrote {len(folders)} clips under {a.out}")
    return 0


COMMANDS = {"train": train_main, "evaluate": evaluate_main, "synthetic": synthetic_main}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m me_perception.learning.cli COMMAND [args]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(f"usage: python -m me_perception.learning.cli {{{','.join(COMMANDS)}}} ...")
        return 2
    return COMMANDS[args[0]](args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
