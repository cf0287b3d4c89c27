"""CI-sized leave-one-subject-out training on synthetic clips: plumbing, resume, export."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from me_perception.learning.evaluation import SpotParams, extract_intervals  # noqa: E402
from me_perception.learning.synthetic import ClipConfig  # noqa: E402
from me_perception.learning.training import (  # noqa: E402
    SyntheticDataConfig,
    TrainConfig,
    _split_val,
    make_synthetic_videos,
    run_loso,
    train_fold,
)
from me_perception.model.checkpoint import load_checkpoint, read_checkpoint_metadata  # noqa: E402
from me_perception.model.config import ModelConfig  # noqa: E402

TINY = ModelConfig(
    crop_size=32, stem_channels=8, feature_channels=16, hidden_size=16, embed_size=32,
    label_set="megc_3",
)  # fmt: skip
DATA = SyntheticDataConfig(
    subjects=(1, 2, 3),
    clips_per_subject=1,
    clip=ClipConfig(fps=30.0, duration_s=3.0, width=96, height=96, face_fraction=0.7,
                    classes=("happiness", "disgust", "surprise")),
)  # fmt: skip
RECIPE = TrainConfig(epochs=2, steps_per_epoch=2, batch_size=2, window_s=1.0, threads=1)


@pytest.fixture(scope="module")
def videos():
    return make_synthetic_videos(DATA, TINY)


def test_prepared_targets(videos):
    v = videos[0]
    assert v.crops.shape == (90, 1, 32, 32) and v.crops.dtype == np.float32
    assert 0.0 <= v.crops.min() and v.crops.max() <= 1.0
    for on, apex, off, kind, cls, inten in v.events:
        assert set(v.spot_target[on : off + 1]) == {1 if kind == "micro" else 2}
        assert v.intensity_target[apex] == pytest.approx(inten)
        assert 0 <= cls < 3
    assert (v.spot_target == 0).sum() > 0 and np.all(v.class_target[v.spot_target == 0] == -1)


def test_validation_subjects_come_from_training_subjects():
    train, val = _split_val(["a", "b", "c", "d"], 1, seed=0)
    assert len(val) == 1 and set(train) | set(val) == {"a", "b", "c", "d"}
    assert not set(train) & set(val)
    assert _split_val(["a", "b"], 3, seed=0)[1] != []  # keeps >= 1 training subject
    assert len(_split_val(["a", "b"], 3, seed=0)[0]) == 1


def test_extract_intervals_duration_rule():
    p = np.zeros((60, 3), np.float32)
    p[:, 0] = 1
    p[10:14] = (0, 0.9, 0.1)  # 4 frames at 30 fps: micro
    p[30:50] = (0, 0.9, 0.1)  # 20 frames = 0.67 s > 0.5 s: macro whatever the probabilities
    assert extract_intervals(p, 30.0, SpotParams(0.5)) == [(10, 13, "micro"), (30, 49, "macro")]


def test_loso_report_checkpoints_and_export(videos, tmp_path: Path):
    rep = run_loso(videos, TINY, RECIPE, tmp_path, training_data="synthetic-ci")
    assert [f["test_subject"] for f in rep["folds"]] == ["syn01", "syn02", "syn03"]
    for f in rep["folds"]:
        assert f["test_subject"] not in f["train_subjects"] + f["val_subjects"]
        assert len(f["history"]) == 2
    for name in ("report.json", "confusion.png", "per_subject.md", "model.onnx"):
        assert (tmp_path / name).stat().st_size > 0
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["test"]["recognition"]["labels"] == ["positive", "negative", "surprise"]
    assert set(on_disk["test"]["spotting"]["per_subject"]) <= {"syn01", "syn02", "syn03"}
    meta = read_checkpoint_metadata(tmp_path / "model.safetensors")
    assert meta.config.classes == TINY.classes and "synthetic-ci" in meta.training_data
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


def test_on_disk_synthetic_takes_the_same_path(tmp_path: Path):
    from me_perception.learning.datasets import load_synthetic, write_clip
    from me_perception.learning.synthetic import SyntheticFaceGenerator
    from me_perception.learning.training import prepare_clip, prepare_long_video

    clip = SyntheticFaceGenerator().render(DATA.clip, subject_id=2, seed=4)
    write_clip(clip, tmp_path)
    (lv,) = load_synthetic(tmp_path)
    a, b = prepare_clip(clip, TINY), prepare_long_video(lv, TINY)
    assert np.array_equal(a.spot_target, b.spot_target)
    assert np.array_equal(a.class_target, b.class_target)
    assert np.allclose(a.intensity_target, b.intensity_target, equal_nan=True)
    assert np.abs(a.crops - b.crops).max() < 0.02  # landmarks are rounded in the JSON
    assert a.events == b.events
    lv.extra.pop("landmarks")
    with pytest.raises(ValueError, match="run the face front end"):
        prepare_long_video(lv, TINY)


def test_trimmed_sample_gets_detector_crops_and_flow_intensity(tmp_path: Path):
    """A CASME II-layout sample made of synthetic frames: real detector, same intensity."""
    import cv2
    import openpyxl

    from me_perception.learning.datasets import load_casme2
    from me_perception.learning.synthetic import SyntheticFaceGenerator
    from me_perception.learning.training import prepare_sample

    cfg = ClipConfig(
        fps=200.0,
        duration_s=2.0,
        n_micro=1,
        n_macro=0,
        blink_rate_hz=0.0,
        head_translation_px=0.0,
        head_rotation_deg=0.0,
        flicker=0.0,
        noise_sigma=0.0,
        width=160,
        height=160,
        face_fraction=0.5,
        classes=("happiness",),
        micro_intensity=(0.4, 0.4),
    )
    clip = SyntheticFaceGenerator().render(cfg, subject_id=1, seed=2)
    (e,) = clip.events
    folder = tmp_path / "CASME2_RAW_selected" / "sub01" / "EP01_01"
    folder.mkdir(parents=True)
    for i in range(e.onset, e.offset + 1):
        cv2.imwrite(str(folder / f"img{i}.png"), clip.frames[i])
    wb = openpyxl.Workbook()
    wb.active.append(
        [
            "Subject",
            "Filename",
            "OnsetFrame",
            "ApexFrame",
            "OffsetFrame",
            "Action Units",
            "Estimated Emotion",
        ]
    )
    wb.active.append([1, "EP01_01", e.onset, e.apex, e.offset, "12", "happiness"])
    wb.save(tmp_path / "CASME2-coding-test.xlsx")
    (sample,) = load_casme2(tmp_path)
    v = prepare_sample(sample, TINY)
    assert v.crops.shape == (e.offset - e.onset + 1, 1, 32, 32)
    assert set(v.class_target) == {0} and set(v.spot_target) == {1}  # positive, micro
    (_, apex, _, kind, cls, inten) = v.events[0]
    assert (apex, kind, cls) == (e.apex - e.onset, "micro", 0)
    assert inten == pytest.approx(e.intensity, abs=0.1)


def test_batches_mix_videos_of_different_lengths(videos):
    from dataclasses import replace as dc_replace

    from me_perception.learning.training import _sample_batch

    short = dc_replace(
        videos[0],
        crops=videos[0].crops[:20],
        spot_target=videos[0].spot_target[:20],
        class_target=videos[0].class_target[:20],
        intensity_target=videos[0].intensity_target[:20],
        events=[],
    )
    rng = np.random.default_rng(0)
    x, sp, cl, it = _sample_batch([short, videos[1]], rng, TrainConfig(batch_size=6, window_s=2.0))
    assert x.shape[0] == 6 and x.shape[1] <= 60 and sp.shape == cl.shape == it.shape


def test_micro_score_reads_p_micro_only_like_the_node():
    # Frames 0-4: macro-like (p_macro high), frames 10-13: micro; 20-40: a long p_micro run.
    p = np.tile([1.0, 0.0, 0.0], (50, 1))
    p[0:5] = [0.1, 0.1, 0.8]
    p[10:14] = [0.1, 0.8, 0.1]
    p[20:41] = [0.1, 0.8, 0.1]
    node_like = extract_intervals(p, 30.0, SpotParams(threshold=0.5, score="micro"))
    assert node_like == [(10, 13, "micro"), (20, 40, "macro")]  # > 0.5 s -> macro
    both = extract_intervals(p, 30.0, SpotParams(threshold=0.5, score="any"))
    assert (0, 4, "macro") in both
    with pytest.raises(ValueError, match="score"):
        extract_intervals(p, 30.0, SpotParams(score="bogus"))


def test_front_end_crops_follow_the_live_front_end():
    """Crops made by the node's detector/tracker/alignment: the face is tracked after the
    tracker's confirmation frames, the video starts there, targets stay aligned, and the crops
    are close to (not identical with) crops cut from the generator's exact landmarks."""
    data = SyntheticDataConfig(
        subjects=(2,),
        clips_per_subject=1,
        clip=ClipConfig(fps=30.0, duration_s=2.0, n_micro=1, n_macro=0),
        crop_source="front_end",
    )
    exact = make_synthetic_videos(replace(data, crop_source="landmarks"), TINY, "macro")[0]
    fe = make_synthetic_videos(data, TINY, "macro")[0]
    start = len(exact.crops) - len(fe.crops)
    assert 0 < start <= 10
    np.testing.assert_array_equal(fe.spot_target, exact.spot_target[start:])
    diff = np.abs(fe.crops - exact.crops[start:]).mean()
    assert 0 < diff < 0.08
    with pytest.raises(ValueError, match="crop_source"):
        make_synthetic_videos(replace(data, crop_source="nope"), TINY)


def test_blinks_can_be_rapid_movements():
    clip = replace(DATA.clip, duration_s=4.0, n_micro=0, n_macro=0, blink_rate_hz=2.0)
    data = replace(DATA, subjects=(1,), clip=clip)
    v_neutral = make_synthetic_videos(data, TINY, "neutral")[0]
    v_macro = make_synthetic_videos(data, TINY, "macro")[0]
    assert (v_macro.spot_target == 2).sum() > 0 and (v_neutral.spot_target == 2).sum() == 0
    assert not v_macro.events  # blinks are not expressions: no spotting ground truth


def test_cli_trains_on_a_casme2_layout_folder(tmp_path: Path):
    """`me_perception_train --dataset casme2 --root DIR` on a CASME II-layout copy (frames are
    synthetic here; the data set itself is licensed and never shipped)."""
    import json

    import cv2
    import openpyxl

    from me_perception.learning.synthetic import SyntheticFaceGenerator
    from me_perception.learning.training import main

    cfg = ClipConfig(
        fps=100.0,
        duration_s=1.5,
        n_micro=1,
        n_macro=0,
        blink_rate_hz=0.0,
        width=160,
        height=160,
        face_fraction=0.5,
        classes=("happiness", "surprise"),
    )
    gen = SyntheticFaceGenerator()
    wb = openpyxl.Workbook()
    wb.active.append(
        ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
         "Estimated Emotion"]
    )  # fmt: skip
    for sub in (1, 2, 3):
        for k in range(2):
            clip = gen.render(cfg, subject_id=sub, seed=10 * sub + k)
            (e,) = clip.events
            name = f"EP0{k + 1}_01"
            folder = tmp_path / "CASME2_RAW_selected" / f"sub0{sub}" / name
            folder.mkdir(parents=True)
            for i in range(e.onset, e.offset + 1):
                cv2.imwrite(str(folder / f"img{i}.png"), clip.frames[i])
            wb.active.append([sub, name, e.onset, e.apex, e.offset, "12", e.label5])
    wb.save(tmp_path / "CASME2-coding-test.xlsx")
    out = tmp_path / "run"
    args = ["--dataset", "casme2", "--root", str(tmp_path), "--out", str(out)]
    args += ["--epochs", "1", "--steps", "2", "--batch-size", "2", "--window-s", "0.2"]
    args += ["--crop-size", "32", "--val-subjects", "1", "--max-folds", "1", "--threads", "1"]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert "casme2" in json.dumps(report)
    assert (out / "model.onnx").is_file() and (out / "confusion.png").is_file()

    # and the evaluation command scores that model on the same layout without training
    from me_perception.learning.evaluation import main as evaluate

    rep_dir = tmp_path / "eval"
    argv = ["--model", str(out), "--dataset", "casme2", "--root", str(tmp_path)]
    assert evaluate([*argv, "--out", str(rep_dir)]) == 0
    evaluated = json.loads((rep_dir / "report.json").read_text())
    assert evaluated["n_videos"] == 6
    assert evaluated["test"]["recognition"]["n"] == 6
    assert (rep_dir / "confusion.png").is_file() and (rep_dir / "per_subject.md").is_file()
    assert evaluate([*argv[:2], "--dataset", "casme2", "--root", str(tmp_path / "nope"),
                     "--out", str(tmp_path / "e2")]) == 2  # fmt: skip
