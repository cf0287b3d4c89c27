"""The synthetic generator honours its ground truth, is deterministic and handles any fps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from me_perception.learning import synthetic as S
from me_perception.learning.datasets import (
    DatasetFormatError,
    load_synthetic,
    read_clip,
    to_label3,
    write_clip,
)
from me_perception.model.config import CASME2_TO_MEGC3, LABEL_SETS

CLEAN = dict(
    head_translation_px=0.0,
    head_rotation_deg=0.0,
    flicker=0.0,
    noise_sigma=0.0,
    blink_rate_hz=0.0,
    width=320,
    height=240,
    face_fraction=0.5,
)


@pytest.fixture(scope="module")
def gen() -> S.SyntheticFaceGenerator:
    return S.SyntheticFaceGenerator()


def _mouth_motion(clip: S.SyntheticClip, ref: int) -> np.ndarray:
    """Mean absolute grey difference to frame ``ref`` inside the mouth region, per frame."""
    lm = dict(zip(clip.landmark_names, clip.landmarks[ref], strict=True))
    r = 0.35 * clip.iod_px
    x0 = int(lm["mouth_l"][0] - r)
    x1 = int(lm["mouth_r"][0] + r)
    y0 = int(lm["mouth_c"][1] - 2 * r)
    y1 = int(lm["mouth_c"][1] + r)
    roi = clip.frames[:, y0:y1, x0:x1].astype(np.float32).mean(axis=3)
    return np.abs(roi - roi[ref]).mean(axis=(1, 2))


@pytest.mark.parametrize("fps", [30.0, 200.0])
def test_mouth_motion_peaks_at_apex_and_is_zero_when_neutral(gen, fps):
    cfg = S.ClipConfig(
        fps=fps, duration_s=3.0, n_micro=1, n_macro=0, classes=("happiness",), **CLEAN
    )
    clip = gen.render(cfg, subject_id=1, seed=7)
    assert len(clip.frames) == int(3.0 * fps)
    (ev,) = clip.events
    assert ev.kind == "micro" and ev.label5 == "happiness" and ev.label3 == "positive"
    assert 1 / 25 - 1e-9 <= ev.offset_s - ev.onset_s <= 0.5 + 1e-9
    motion = _mouth_motion(clip, ev.onset)
    inside = motion[ev.onset : ev.offset + 1]
    assert ev.onset + int(np.argmax(inside)) == ev.apex
    assert inside.max() > 0.3  # clearly visible at the apex (grey levels, mean over the ROI)
    neutral = np.r_[motion[: ev.onset], motion[ev.offset + 1 :]]
    assert neutral.max() < 0.02 * inside.max()
    # The apex frame is sampled exactly at the apex stamp, whatever the frame rate.
    assert clip.stamps[ev.apex] == pytest.approx(ev.apex_s)
    assert ev.onset <= ev.onset_s * fps + 1e-6 and ev.offset >= ev.offset_s * fps - 1e-6


def test_same_content_at_30_and_200_fps(gen):
    kw = dict(duration_s=4.0, n_micro=2, n_macro=1, **CLEAN)
    a = gen.render(S.ClipConfig(fps=30.0, **kw), subject_id=3, seed=1)
    b = gen.render(S.ClipConfig(fps=200.0, **kw), subject_id=3, seed=1)
    assert len(a.frames) == 120 and len(b.frames) == 800
    assert [e.kind for e in a.events] == [e.kind for e in b.events]
    for ea, eb in zip(a.events, b.events, strict=True):
        assert ea.onset_s == pytest.approx(eb.onset_s)
        assert ea.offset_s == pytest.approx(eb.offset_s)
        assert abs(ea.apex_s - eb.apex_s) <= 0.5 / 30 + 1e-9
        assert (ea.label5, ea.intensity) == (eb.label5, eb.intensity)
        if ea.kind == "micro":
            assert eb.offset - eb.onset >= 8  # >= 1/25 s at 200 fps
        # Same instant (a 30 fps frame stamp is also a 200 fps stamp at t = k/10 s only, so
        # compare the 30 fps frame with the nearest 200 fps frame): nearly the same image.
        t = ea.apex_s
        ia, ib = round(t * 30), round(t * 200)
        if abs(ia / 30 - ib / 200) < 1e-9:
            diff = np.abs(a.frames[ia].astype(int) - b.frames[ib].astype(int)).mean()
            assert diff < 1.0


def test_deterministic_for_a_seed(gen):
    cfg = S.ClipConfig(fps=30.0, duration_s=2.0, width=160, height=120)
    a = gen.render(cfg, subject_id=4, seed=11)
    b = S.SyntheticFaceGenerator().render(cfg, subject_id=4, seed=11)
    assert np.array_equal(a.frames, b.frames)
    assert [e.to_dict() for e in a.events] == [e.to_dict() for e in b.events]
    c = gen.render(cfg, subject_id=4, seed=12)
    assert not np.array_equal(a.frames, c.frames)
    d = gen.render(cfg, subject_id=5, seed=11)
    assert not np.array_equal(a.frames[0], d.frames[0])  # another subject looks different


def test_output_format_and_ground_truth_fields(gen):
    cfg = S.ClipConfig(fps=25.0, duration_s=8.0, width=112, height=112, face_fraction=0.75)
    clip = gen.render(cfg, subject_id=2, seed=5)
    assert clip.frames.shape == (200, 112, 112, 3) and clip.frames.dtype == np.uint8
    assert clip.face_boxes.shape == (200, 4) and clip.landmarks.shape[:2] == (200, 10)
    kinds = {e.kind for e in clip.events}
    assert {"micro", "macro"} <= kinds
    last = -1
    for e in clip.events:
        assert 0 <= e.onset <= e.apex <= e.offset < 200
        assert e.onset > last  # events do not overlap
        last = e.offset
        assert 0.0 <= e.intensity <= 1.0
        if e.kind == "blink":
            assert e.label5 is None and e.label3 is None
        else:
            assert e.label5 in LABEL_SETS["casme2_5"]
            assert e.label3 == to_label3(e.label5, via_5class=True)
        if e.kind == "micro":
            assert e.offset_s - e.onset_s <= 0.5 + 1e-9
        if e.kind == "macro":
            assert e.offset_s - e.onset_s > 0.5
    assert S.ClipConfig().classes == LABEL_SETS["casme2_5"]  # the one label-set table
    assert set(CASME2_TO_MEGC3) == set(LABEL_SETS["casme2_5"])
    assert {v for v in CASME2_TO_MEGC3.values() if v} == set(LABEL_SETS["megc_3"])


def test_ground_truth_intensity_matches_flow_definition(gen):
    """GT intensity is the definition applied to the true field; Farneback flow recovers it."""
    cfg = S.ClipConfig(fps=30.0, duration_s=8.0, n_micro=3, n_macro=2, **CLEAN)
    clip = gen.render(cfg, subject_id=2, seed=3)
    gt, est = [], []
    for e in clip.events:
        seg = clip.frames[e.onset : e.apex + 1]
        est.append(S.motion_intensity(seg, clip.iod_px, tuple(clip.face_boxes[0])))
        gt.append(e.intensity)
    gt_a, est_a = np.array(gt), np.array(est)
    assert np.all(np.abs(gt_a - est_a) < 0.15 + 0.2 * gt_a), (gt, est)
    micro = [e.intensity for e in clip.events if e.kind == "micro"]
    macro = [e.intensity for e in clip.events if e.kind == "macro"]
    assert max(micro) < min(macro)


def test_peak_motion_definition_on_known_field():
    field = np.zeros((2, 50, 50), np.float32)
    field[0] = 3.0  # uniform 3 px shift: blur leaves it, so the peak is 3
    assert S.peak_motion(field, iod=20.0) == pytest.approx(3.0, rel=1e-5)
    assert S.motion_intensity([np.zeros((20, 20, 3), np.uint8)], 10.0) == 0.0


def test_envelope_shape():
    t = np.linspace(0, 1, 101)
    env = S.envelope(t, 0.2, 0.4, 0.8)
    assert env[t <= 0.2].max() == 0 and env[t >= 0.8].max() == 0
    assert env[40] == pytest.approx(1.0) and env.max() == pytest.approx(1.0)


def test_write_and_read_clip_on_disk(gen, tmp_path):
    cfg = S.ClipConfig(fps=30.0, duration_s=1.5, width=96, height=96, face_fraction=0.7)
    clip = gen.render(cfg, subject_id=1, seed=2)
    folder = write_clip(clip, tmp_path)
    back = read_clip(folder)
    assert np.array_equal(back.frames, clip.frames)  # PNG is lossless
    assert [e.to_dict() for e in back.events] == [e.to_dict() for e in clip.events]
    (video,) = load_synthetic(tmp_path)
    assert video.subject == clip.subject and len(video.frames) == len(clip.frames)
    assert [(iv.onset, iv.offset, iv.kind) for iv in video.intervals] == [
        (e.onset, e.offset, e.kind) for e in clip.events
    ]
    assert video.extra["face_boxes"].shape == (len(clip.frames), 4)

    gt_path = folder / "ground_truth.json"
    gt = json.loads(gt_path.read_text())
    gt["events"].append(dict(gt["events"][0], onset=5, apex=3) if gt["events"] else {})
    gt_path.write_text(json.dumps(gt))
    with pytest.raises(DatasetFormatError, match=r"ground_truth\.json: event"):
        read_clip(folder)
    (folder / gt["frame_files"][0]).unlink()
    gt_path.write_text("{not json")
    with pytest.raises(DatasetFormatError, match="invalid JSON"):
        load_synthetic(tmp_path)


def test_dataset_cli_writes_loadable_clips(tmp_path):
    from me_perception.learning.cli import main

    rc = main(
        [
            "synthetic",
            "--out",
            str(tmp_path),
            "--subjects",
            "2",
            "--clips-per-subject",
            "1",
            "--duration",
            "1",
            "--width",
            "64",
            "--height",
            "64",
            "--face-fraction",
            "0.7",
        ]
    )
    assert rc == 0
    videos = load_synthetic(tmp_path)
    assert sorted(v.subject for v in videos) == ["syn01", "syn02"]
    assert all(len(v.frames) == 30 for v in videos)
