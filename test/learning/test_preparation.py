"""Data preparation: every video goes through the pipeline's own measurement (front end +
motion), the network input is the motion map, targets stay aligned, prepared clips are cached."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from learning_support import DATA, TINY

from me_perception.learning.synthetic import ClipConfig
from me_perception.learning.synthetic_data import SyntheticDataConfig, make_synthetic_videos


def test_prepared_motion_inputs_and_targets(videos):
    v = videos[0]
    n = round(DATA.clip.duration_s * DATA.clip.fps)
    # the video starts where the tracker confirmed the face, a few frames in
    assert v.inputs.shape[1:] == (4, 32, 32) and v.inputs.dtype == np.float32
    assert n - 10 <= len(v.inputs) < n and len(v.head_moving) == len(v.inputs)
    assert v.identity == "astronaut" and v.video.endswith("_ours_30fps")
    for on, apex, off, kind, cls, inten in v.events:
        assert set(v.spot_target[on : off + 1]) == {1 if kind == "micro" else 2}
        assert v.intensity_target[apex] == pytest.approx(inten)
        assert 0 <= cls < 3
    assert (v.spot_target == 0).sum() > 0 and np.all(v.class_target[v.spot_target == 0] == -1)


def test_motion_maps_show_the_expressions(videos):
    """Displacement from neutral (D_b) is larger on expression frames than on neutral ones,
    in IOD units of the size micro-expressions have (not pixels, not grey levels)."""
    active, quiet = [], []
    for v in videos:
        mag = np.abs(v.inputs[:, :2]).reshape(len(v.inputs), -1).max(axis=1)
        active.append(mag[v.spot_target > 0])
        quiet.append(mag[(v.spot_target == 0) & ~v.head_moving])
    a, q = np.median(np.concatenate(active)), np.median(np.concatenate(quiet))
    assert a > 1.5 * q and 0.005 < a < 0.5


def test_on_disk_synthetic_takes_the_same_path(tmp_path: Path):
    from me_perception.learning.datasets import load_synthetic, write_clip
    from me_perception.learning.preparation import prepare_clip, prepare_long_video
    from me_perception.learning.synthetic import make_clip

    clip = make_clip(DATA.clip, subject_id=2, seed=4)
    write_clip(clip, tmp_path)  # lossless PNG
    (lv,) = load_synthetic(tmp_path)
    a, b = prepare_clip(clip, TINY, jpeg_quality=0), prepare_long_video(lv, TINY)
    np.testing.assert_array_equal(a.spot_target, b.spot_target)
    np.testing.assert_array_equal(a.class_target, b.class_target)
    np.testing.assert_allclose(a.inputs, b.inputs, atol=1e-6)
    assert a.events == b.events


def test_trimmed_sample_is_measured_after_a_still_lead_in(tmp_path: Path):
    """A CASME II-layout sample made of synthetic frames: the motion front end gets the onset
    frame held still before it, so the expression's own frames carry motion."""
    import cv2
    import openpyxl

    from me_perception.learning.datasets import load_casme2
    from me_perception.learning.preparation import prepare_sample
    from me_perception.learning.synthetic import make_clip

    cfg = ClipConfig(
        fps=200.0, duration_s=2.0, n_micro=1, n_macro=0, blink_rate_hz=0.0,
        head_translation_px=0.0, head_rotation_deg=0.0, flicker=0.0, noise_sigma=0.0,
        width=160, height=160, face_fraction=0.5, classes=("happiness",),
        micro_intensity=(0.4, 0.4),
    )  # fmt: skip
    # subject 0: the plain photograph (identity augmentation such as side light and JPEG at
    # render time makes the flow-measured intensity of subjects >= 1 differ from the truth)
    clip = make_clip(cfg, subject_id=0, seed=2)
    (e,) = clip.events
    folder = tmp_path / "CASME2_RAW_selected" / "sub01" / "EP01_01"
    folder.mkdir(parents=True)
    for i in range(e.onset, e.offset + 1):
        cv2.imwrite(str(folder / f"img{i}.png"), clip.frames[i])
    wb = openpyxl.Workbook()
    wb.active.append(["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame",
                      "Action Units", "Estimated Emotion"])  # fmt: skip
    wb.active.append([1, "EP01_01", e.onset, e.apex, e.offset, "12", "happiness"])
    wb.save(tmp_path / "CASME2-coding-test.xlsx")
    (sample,) = load_casme2(tmp_path)
    v = prepare_sample(sample, TINY)
    assert v.inputs.shape == (e.offset - e.onset + 1, 4, 32, 32)
    assert set(v.class_target) == {0} and set(v.spot_target) == {1}  # positive, micro
    (_, apex, _, kind, cls, inten) = v.events[0]
    assert (apex, kind, cls) == (e.apex - e.onset, "micro", 0)
    assert inten == pytest.approx(e.intensity, abs=0.1)
    d_b = np.abs(v.inputs[:, :2]).max(axis=(1, 2, 3))
    assert d_b[apex] > 0.01 and d_b[apex] > 1.5 * d_b[0]


def test_blinks_and_head_movements_are_neutral():
    clip = replace(DATA.clip, duration_s=4.0, n_micro=0, n_macro=0, blink_rate_hz=2.0, n_head=1)
    data = replace(DATA, subjects=(1,), clip=clip)
    v_neutral = make_synthetic_videos(data, TINY, "neutral")[0]
    v_macro = make_synthetic_videos(data, TINY, "macro")[0]
    assert (v_macro.spot_target == 2).sum() > 0 and (v_neutral.spot_target != 0).sum() == 0
    assert not v_macro.events  # blinks and head movements are not expressions
    with pytest.raises(ValueError, match="blink_label"):
        make_synthetic_videos(data, TINY, "micro")


def test_cache_returns_the_same_videos_and_keys_on_settings(tmp_path: Path):
    data = replace(DATA, subjects=(2,), clip=replace(DATA.clip, duration_s=1.5))
    first = make_synthetic_videos(data, TINY, cache_dir=tmp_path)
    files = sorted(tmp_path.glob("*.npz"))
    assert len(files) == 1
    again = make_synthetic_videos(data, TINY, cache_dir=tmp_path)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.inputs, b.inputs)
        np.testing.assert_array_equal(a.head_moving, b.head_moving)
        assert (a.video, a.identity, a.fps, a.events) == (b.video, b.identity, b.fps, b.events)
    make_synthetic_videos(replace(data, jpeg_quality=60), TINY, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2  # another setting, another entry


def test_identity_is_a_data_setting_and_the_sample_is_refused():
    data = SyntheticDataConfig(subjects=(0,), clips_per_subject=1, clip=DATA.clip, seed=0)
    assert data.clips() == [(0, 0)]
    with pytest.raises(ValueError, match="shipped sample"):
        make_synthetic_videos(replace(data, clips_per_subject=5), TINY)
    other = replace(
        DATA, subjects=(1,), identity="grace_hopper", clip=replace(DATA.clip, duration_s=1.5)
    )
    (v,) = make_synthetic_videos(other, TINY)
    assert v.identity == "grace_hopper" and v.subject.startswith("grace_hopper")
