"""Leave-one-identity-out: each fold never sees its test identity; fold models and the final
model are exported with the event thresholds chosen on validation, which the pipeline uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from learning_support import TINY

pytest.importorskip("torch")

from me_perception.learning.folds import run_loio, split_by_identity
from me_perception.learning.training import TrainConfig
from me_perception.model.checkpoint import read_checkpoint_metadata

RECIPE = TrainConfig(epochs=1, steps_per_epoch=2, batch_size=2, window_s=1.0, threads=1)


def test_validation_subjects_are_drawn_per_identity(videos, hopper_videos):
    tr, va, val_subjects = split_by_identity([*videos, *hopper_videos], 1, seed=0)
    assert {v.identity for v in va} == {"astronaut", "grace_hopper"} and len(val_subjects) == 2
    assert not {v.subject for v in tr} & set(val_subjects)
    assert {v.identity for v in tr} == {"astronaut", "grace_hopper"}


def test_loio_folds_hold_out_an_identity_and_export_models(videos, hopper_videos, tmp_path: Path):
    from me_perception.perception.pipeline import Pipeline, PipelineConfig

    rep = run_loio([*videos, *hopper_videos], TINY, RECIPE, tmp_path, training_data="syn-ci")
    folds = {f["test_identity"]: f for f in rep["folds"]}
    assert set(folds) == {"astronaut", "grace_hopper"}
    for held_out, fold in folds.items():
        assert fold["identities"] == sorted({"astronaut", "grace_hopper"} - {held_out})
        assert not any(
            s.startswith("syn") == (held_out == "astronaut") for s in fold["train_subjects"]
        )
        assert set(fold["test"]) == {"micro_f1", "macro_f1", "all_f1", "uf1"}
        model_dir = tmp_path / "folds" / held_out / "model"
        meta = read_checkpoint_metadata(model_dir / "model.safetensors")
        assert (meta.metrics["on_threshold"], meta.metrics["off_threshold"]) == tuple(
            fold["thresholds"]
        )
        assert f"without {held_out}" in meta.training_data
    assert (tmp_path / "model" / "model.onnx").is_file()
    assert json.loads((tmp_path / "report.json").read_text())["final"]["identities"] == [
        "astronaut", "grace_hopper"
    ]  # fmt: skip
    # the pipeline runs a fold model with the thresholds chosen for it
    pipe = Pipeline(PipelineConfig(model_path=str(tmp_path / "model"), backend="onnxruntime"))
    try:
        assert pipe.spotter.default_thresholds == tuple(rep["final"]["thresholds"])
        on, off = rep["final"]["thresholds"]
        assert (pipe.events_config.on_threshold, pipe.events_config.off_threshold) == (on, off)
    finally:
        pipe.close()
    with pytest.raises(ValueError, match="identities"):
        run_loio(videos, TINY, RECIPE, tmp_path / "one")
