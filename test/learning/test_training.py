"""CI-sized leave-one-subject-out training on synthetic clips: plumbing, resume, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from learning_support import TINY

torch = pytest.importorskip("torch")

from me_perception.learning.training import TrainConfig, _split_val, run_loso, train_fold  # noqa: E402
from me_perception.model.checkpoint import load_checkpoint, read_checkpoint_metadata  # noqa: E402

RECIPE = TrainConfig(epochs=2, steps_per_epoch=2, batch_size=2, window_s=1.0, threads=1)


def test_validation_subjects_come_from_training_subjects():
    train, val = _split_val(["a", "b", "c", "d"], 1, seed=0)
    assert len(val) == 1 and set(train) | set(val) == {"a", "b", "c", "d"}
    assert not set(train) & set(val)
    assert _split_val(["a", "b"], 3, seed=0)[1] != []  # keeps >= 1 training subject
    assert len(_split_val(["a", "b"], 3, seed=0)[0]) == 1


def test_loso_report_checkpoints_and_export(videos, tmp_path: Path):
    rep = run_loso(videos, TINY, RECIPE, tmp_path, training_data="synthetic-ci")
    assert [f["test_subject"] for f in rep["folds"]] == ["syn01", "syn02", "syn03"]
    for f in rep["folds"]:
        assert f["test_subject"] not in f["train_subjects"] + f["val_subjects"]
        assert len(f["history"]) == 2
        on, off = f["thresholds"]
        assert 0 < off < on < 1
    for name in ("report.json", "confusion.png", "per_subject.md", "model.onnx"):
        assert (tmp_path / name).stat().st_size > 0
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["test"]["recognition"]["labels"] == ["positive", "negative", "surprise"]
    assert set(on_disk["test"]["spotting"]["per_subject"]) <= {"syn01", "syn02", "syn03"}
    meta = read_checkpoint_metadata(tmp_path / "model.safetensors")
    assert meta.config.classes == TINY.classes and "synthetic-ci" in meta.training_data
    assert meta.config.reads_motion
    assert (
        meta.metrics["on_threshold"] == rep["final"]["thresholds"][0] == meta.metrics["threshold"]
    )
    # Finished folds are skipped on a second run: same numbers, no retraining.
    again = run_loso(videos, TINY, RECIPE, tmp_path, training_data="synthetic-ci")
    assert again["test"] == rep["test"]


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(videos, tmp_path: Path):
    tr, va = [v for v in videos if v.subject != "syn03"], [videos[2]]
    one = TrainConfig(**{**RECIPE.__dict__, "epochs": 1})
    train_fold("f", tr, va, TINY, one, tmp_path / "resumed", seed=5)
    resumed = train_fold("f", tr, va, TINY, RECIPE, tmp_path / "resumed", seed=5)
    straight = train_fold("f", tr, va, TINY, RECIPE, tmp_path / "straight", seed=5)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    a, _ = load_checkpoint(tmp_path / "resumed" / "last.safetensors")
    b, _ = load_checkpoint(tmp_path / "straight" / "last.safetensors")
    for (ka, ta), (kb, tb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(ta, tb), ka
    other = TrainConfig(**{**RECIPE.__dict__, "lr": 1e-4})
    with pytest.raises(ValueError, match="different recipe"):
        train_fold("f", tr, va, TINY, other, tmp_path / "resumed", seed=5)


def test_batches_mix_videos_of_different_lengths(videos):
    from dataclasses import replace as dc_replace

    from me_perception.learning.training import _sample_batch

    short = dc_replace(
        videos[0],
        inputs=videos[0].inputs[:20],
        spot_target=videos[0].spot_target[:20],
        class_target=videos[0].class_target[:20],
        intensity_target=videos[0].intensity_target[:20],
        head_moving=videos[0].head_moving[:20],
        events=[],
    )
    rng = np.random.default_rng(0)
    cfg = TrainConfig(batch_size=6, window_s=2.0)
    (x, sp, cl, it), fps = _sample_batch([short, videos[1]], rng, cfg)
    assert x.shape[0] == 6 and x.shape[1] <= 60 and sp.shape == cl.shape == it.shape
    assert x.shape[2:] == (4, 32, 32) and fps == 30.0


def test_each_batch_has_one_frame_rate_and_a_capped_window(videos):
    """30 and 200 fps videos train one model: a batch never mixes rates (the temporal
    constants are per rate) and a 200 fps window is capped in frames."""
    from dataclasses import replace as dc_replace

    from me_perception.learning.training import _sample_batch

    fast = [dc_replace(v, fps=200.0, video=v.video + "_fast") for v in videos]
    rng = np.random.default_rng(1)
    cfg = TrainConfig(batch_size=4, window_s=1.5, max_window_frames=50)
    seen = set()
    for _ in range(12):
        (x, *_), fps = _sample_batch([*videos, *fast], rng, cfg)
        seen.add(fps)
        assert x.shape[1] == (50 if fps == 200.0 else 45)
    assert seen == {30.0, 200.0}


def test_without_validation_subjects_the_lowest_loss_is_kept(videos, tmp_path: Path):
    """Model selection by training loss alone (a loss above 1 used to leave no best model)."""
    recipe = TrainConfig(**{**RECIPE.__dict__, "epochs": 2, "class_loss_weight": 50.0})
    fold = train_fold("f", videos, [], TINY, recipe, tmp_path, seed=1)
    assert fold.checkpoint.is_file() and fold.best_epoch in (1, 2)
    losses = [h["loss"] for h in fold.history]
    assert max(losses) > 1.0 and fold.val_score == -min(losses)
