"""Held-out evaluation sets: manifest, readable bags, ground truth that matches the frames."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from eval_set_support import TINY, make_tiny_set

from me_perception.perception.image_decoding import DecodeConfig
from me_perception.recording.bag_io import COMPRESSED_TYPE, ImageStream
from me_perception.tools.cli import make_eval_set_main
from me_perception.tools.eval_set import (
    HELDOUT_SUBJECT_BASE,
    EvalSetConfig,
    make_eval_set,
    read_manifest,
    render,
    still_config,
)
from me_perception.tools.sample_recording import START_NS


@pytest.fixture(scope="module")
def eval_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_set(tmp_path_factory.mktemp("evalset") / "set")


def test_manifest_lists_every_recording(eval_set: Path) -> None:
    manifest = json.loads((eval_set / "manifest.json").read_text())
    rows = manifest["recordings"]
    assert [r["still"] for r in rows] == [False, True]
    for r in rows:
        assert set(r) == {"path", "identity", "generator", "fps", "still", "seed", "subject_id"}
        assert not Path(r["path"]).is_absolute() and (eval_set / r["path"]).is_dir()
        assert r["identity"] == "astronaut" and r["generator"] == "ours" and r["fps"] == 30.0
        assert r["subject_id"] >= HELDOUT_SUBJECT_BASE
    assert rows[0]["seed"] == TINY.seed and rows[0]["subject_id"] == HELDOUT_SUBJECT_BASE
    assert rows[1]["seed"] != rows[0]["seed"]
    assert [r["bag"] for r in read_manifest(eval_set)] == [str(eval_set / r["path"]) for r in rows]


def test_bags_match_their_ground_truth(eval_set: Path) -> None:
    for r in read_manifest(eval_set):
        truth = json.loads((Path(r["bag"]) / "ground_truth.json").read_text())
        stream = ImageStream(r["bag"])
        assert stream.msgtype == COMPRESSED_TYPE
        frames = list(stream)
        assert len(frames) == truth["frames"] == round(TINY.seconds * r["fps"])
        stamps = np.array([f.stamp_ns for f in frames])
        assert stamps[0] == START_NS == truth["start_stamp_ns"]
        assert np.allclose(np.diff(stamps), 1e9 / r["fps"], atol=2)
        image = frames[0].decode(DecodeConfig())
        assert (image.width, image.height) == (640, 480)
        assert truth["subject_id"] == r["subject_id"] and truth["still"] == r["still"]
        for e in truth["events"]:
            assert 0 <= e["onset"] <= e["apex"] <= e["offset"] < len(frames)
            assert abs(e["onset_s"] * r["fps"] - e["onset"]) <= 1
        kinds = [e["kind"] for e in truth["events"]]
        if r["still"]:
            assert kinds == []
        else:
            # short test clips hold what fits (head movements are tested in test_synthetic)
            assert {"micro", "macro"} & set(kinds)


def test_still_face_barely_moves(eval_set: Path) -> None:
    """A still is not a frozen picture (noise, sway) but has no expression: consecutive
    frames differ by little everywhere."""
    still = next(r for r in read_manifest(eval_set) if r["still"])
    images = [
        f.decode(DecodeConfig()).bgr.astype(float) for f in list(ImageStream(still["bag"]))[:20]
    ]
    diffs = [np.abs(a - b).mean() for a, b in itertools.pairwise(images)]
    assert 0.1 < np.mean(diffs) < 8.0


def test_refuses_a_non_empty_folder_and_unknown_identity(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("")
    with pytest.raises(FileExistsError):
        make_eval_set(tmp_path, EvalSetConfig(count=1, fps=(30.0,), stills=0, seconds=1.0))
    with pytest.raises((ValueError, KeyError)):
        render(still_config(0.2, 10.0), HELDOUT_SUBJECT_BASE, 0, "nobody-knows-me", "ours")
    code = make_eval_set_main([str(tmp_path), "--count", "1", "--seconds", "1"])
    assert code == 2
