"""The shipped default model: present, loadable by every CPU backend, described by its card,
and still working through the real pipeline on the demo's sample recording.

The sample check is a regression guard: if the face front end changes (detector, tracker,
alignment), the crops the model was trained on change too, and this test says the default
model needs retraining (``scripts/train_default_model.sh``) rather than failing silently in
the demo.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from me_perception.model.export import read_onnx_metadata
from me_perception.perception.pipeline import DEFAULT_MODEL_DIR, PipelineConfig, resolve_model_files

CARD = DEFAULT_MODEL_DIR / "MODEL_CARD.md"
SAMPLE = DEFAULT_MODEL_DIR.parent / "sample"


def test_default_model_files_are_shipped_small_and_consistent() -> None:
    onnx_path, ckpt = resolve_model_files("")
    assert onnx_path == DEFAULT_MODEL_DIR / "model.onnx" and ckpt is not None
    for p in (onnx_path, ckpt):
        assert p.stat().st_size < 4 * 1024 * 1024
    meta = read_onnx_metadata(onnx_path)
    assert meta.config.classes == ("happiness", "disgust", "repression", "surprise", "others")
    assert meta.config.crop_size == 64
    assert CARD.is_file() and "not fit for real-world use" in CARD.read_text().lower()


def test_checkpoint_metadata_records_training_and_threshold() -> None:
    pytest.importorskip("safetensors")
    from me_perception.model.checkpoint import read_checkpoint_metadata

    meta = read_checkpoint_metadata(DEFAULT_MODEL_DIR / "model.safetensors")
    assert meta.model_id in CARD.read_text()
    assert "synthetic" in meta.training_data
    assert 0.0 < meta.metrics["threshold"] < 1.0


def test_default_model_spots_the_sample_through_the_pipeline(tmp_path: Path) -> None:
    from me_perception.tools.offline import process_bag

    report = process_bag(
        SAMPLE,
        tmp_path / "out",
        config=PipelineConfig(backend="onnxruntime", num_threads=1),
        progress=False,
    )
    micro = report.evaluation["overall"]["micro"]
    assert micro["tp"] >= 2  # of 3 (the model card records TP 2, FP 4, FN 1)
    assert micro["fp"] <= 6
    blinks = [
        (e["onset_s"], e["offset_s"])
        for e in json.loads((SAMPLE / "ground_truth.json").read_text())["events"]
        if e["kind"] == "blink"
    ]
    for e in report.events:
        if e["kind"] == "micro":
            assert not any(e["onset_s"] <= b1 and e["offset_s"] >= b0 for b0, b1 in blinks)
