"""Data preparation: crops and per-frame targets from synthetic clips, on-disk clips, trimmed
CASME II-layout samples, and crops made by the node's own front end."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from learning_support import DATA, TINY

from me_perception.learning.preparation import SyntheticDataConfig, make_synthetic_videos
from me_perception.learning.synthetic import ClipConfig


def test_prepared_targets(videos):
    v = videos[0]
    assert v.crops.shape == (90, 1, 32, 32) and v.crops.dtype == np.float32
    assert 0.0 <= v.crops.min() and v.crops.max() <= 1.0
    for on, apex, off, kind, cls, inten in v.events:
        assert set(v.spot_target[on : off + 1]) == {1 if kind == "micro" else 2}
        assert v.intensity_target[apex] == pytest.approx(inten)
        assert 0 <= cls < 3
    assert (v.spot_target == 0).sum() > 0 and np.all(v.class_target[v.spot_target == 0] == -1)


def test_on_disk_synthetic_takes_the_same_path(tmp_path: Path):
    from me_perception.learning.datasets import load_synthetic, write_clip
    from me_perception.learning.preparation import prepare_clip, prepare_long_video
    from me_perception.learning.synthetic import SyntheticFaceGenerator

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
    from me_perception.learning.preparation import prepare_sample
    from me_perception.learning.synthetic import SyntheticFaceGenerator

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
