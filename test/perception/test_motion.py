"""Facial motion measurement on real face photographs animated by the generator: what moves
shows in the right region, what is rigid or slow does not, and everything is in seconds and
face units (the same at 30 and 200 fps)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from me_perception.learning.synthetic import ClipConfig, SyntheticClip, make_clip
from me_perception.perception.face_regions import REGIONS, FaceGrid, region_names
from me_perception.perception.front_end import FrontEnd
from me_perception.perception.image_decoding import DecodedImage
from me_perception.perception.motion import FaceMotion, MotionConfig, MotionSample, fit_similarity

QUIET = {"n_micro": 0, "n_macro": 0, "n_head": 0, "blink_rate_hz": 0.0}


def measure(clip: SyntheticClip, config: MotionConfig | None = None) -> list[MotionSample]:
    """The clip through the real front end (Haar + O-Net + tracker) and one FaceMotion."""
    front, motion, out = FrontEnd(crop_size=32), FaceMotion(config), []
    for frame, stamp in zip(clip.frames, clip.stamps, strict=True):
        image = DecodedImage("bgr8", bgr=frame, gray=cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        faces = front.process(image).faces
        if faces:
            out.append(motion.update(image.gray, faces[0].box, faces[0].landmarks, stamp))
    return out


def with_frames(clip: SyntheticClip, frames: list[np.ndarray]) -> SyntheticClip:
    """The clip with other frames (its first len(frames) stamps), no ground truth."""
    n = len(frames)
    return SyntheticClip(
        np.stack(frames),
        clip.stamps[:n],
        clip.fps,
        "s",
        "c",
        [],
        clip.face_boxes,
        clip.landmarks,
        clip.landmark_names,
        clip.iod_px,
    )


def during(samples: list[MotionSample], t0: float, t1: float) -> list[MotionSample]:
    return [s for s in samples if t0 <= s.stamp_s <= t1 and not s.warming]


@pytest.fixture(scope="module")
def micro_clip() -> SyntheticClip:
    cfg = ClipConfig(duration_s=4.0, n_micro=1, n_macro=0, blink_rate_hz=0.0, min_gap_s=1.2)
    return make_clip(cfg, subject_id=0, seed=11)


def test_fit_similarity_recovers_rigid_motion_and_ignores_a_local_one() -> None:
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    cx, cy = 31.5, 31.5
    a, b, tx, ty = 0.02, -0.01, 0.7, -0.4  # 2 % zoom, a small roll and a shift
    rigid = np.stack(
        [a * (xx - cx) - b * (yy - cy) + tx, b * (xx - cx) + a * (yy - cy) + ty], axis=-1
    )
    local = np.zeros_like(rigid)
    local[40:50, 20:30, 1] = -1.5  # a mouth corner going up
    fitted = fit_similarity(rigid + local, np.ones((64, 64), bool))
    assert np.abs(fitted - rigid).max() < 0.05
    assert np.abs((rigid + local - fitted)[40:50, 20:30, 1]).mean() > 1.3


def test_face_grid_places_regions_on_the_face_and_in_face_units() -> None:
    lm = np.array([[40.0, 50.0], [80.0, 50.0], [60.0, 72.0], [45.0, 92.0], [75.0, 92.0]])
    grid = FaceGrid(128, lm)
    assert grid.iod_px == pytest.approx(40.0)
    ys, xs = np.nonzero(grid.masks[region_names().index("mouth_l")])
    assert abs(xs.mean() - 45) < 1 and abs(ys.mean() - 92) < 1
    brow = grid.masks[region_names().index("brow_r")]
    assert np.nonzero(brow)[0].mean() < 50 - 0.3 * 40  # above the eye
    assert grid.masks.shape == (len(REGIONS), 128, 128) and grid.face[72, 60]


def test_an_expression_shows_in_its_regions_and_nowhere_before(micro_clip) -> None:
    samples = measure(micro_clip)
    (event,) = [e for e in micro_clip.events if e.kind == "micro"]
    inside = during(samples, event.onset_s, event.offset_s)
    before = during(samples, 0.6, event.onset_s - 0.1)
    peak = max(float(s.region_z.max()) for s in inside)
    assert peak > 6.0, f"{event.aus}: peak z {peak:.1f}"
    calm = np.mean([float(s.region_z.max()) < 3.0 for s in before])
    assert calm >= 0.9, f"only {calm:.0%} of the neutral frames stay under z 3"
    # the motion map carries the displacement in IOD: a micro-expression is 1-5 % IOD
    apex = max(inside, key=lambda s: s.region_z.max())
    assert 0.005 < float(np.abs(apex.motion_map[:2]).max()) < 0.2


def test_the_same_motion_measures_alike_at_30_and_200_fps() -> None:
    cfg = ClipConfig(duration_s=3.0, n_micro=1, n_macro=0, blink_rate_hz=0.0, min_gap_s=1.0)
    peaks = []
    for fps in (30.0, 200.0):
        clip = make_clip(ClipConfig(**{**cfg.__dict__, "fps": fps}), subject_id=0, seed=7)
        (event,) = [e for e in clip.events if e.kind == "micro"]
        inside = during(measure(clip), event.onset_s, event.offset_s)
        peaks.append(max(float(s.region_mag.max()) for s in inside))
    assert peaks[1] == pytest.approx(peaks[0], rel=0.35)


def test_rigid_head_motion_is_removed_and_a_fast_movement_is_flagged() -> None:
    clip = make_clip(ClipConfig(duration_s=3.0, **QUIET), subject_id=0, seed=3)
    samples = measure(clip)  # slow sway (3 px, 1.5 deg) is rigid: nothing to see
    assert np.mean([float(s.region_z.max()) < 3.0 for s in samples if not s.warming]) >= 0.9
    # the same face jumping sideways by 40 % of its IOD within 0.2 s
    frames = list(clip.frames[:60])
    shift = clip.iod_px * 0.4
    moved = [
        cv2.warpAffine(
            f,
            np.float32([[1, 0, shift * min(1.0, max(0.0, (i - 30) / 6))], [0, 1, 0]]),
            (f.shape[1], f.shape[0]),
            borderMode=cv2.BORDER_REPLICATE,
        )
        for i, f in enumerate(frames)
    ]
    jumped = measure(with_frames(clip, moved))
    moving = [s.stamp_s for s in jumped if s.head_moving]  # the jump: frames 30-36, 1.0-1.2 s
    # flagged from the jump until its 0.3 s speed window and 0.3 s hold have passed
    assert moving and 0.95 <= min(moving) and max(moving) <= 1.9 and not jumped[-1].head_moving
    assert any(s.reanchored for s in jumped if s.stamp_s > max(moving))


def test_a_slow_drift_never_builds_up_into_motion() -> None:
    """The reference trails the face through calm frames: a slow, non-rigid change (here a
    brightness ramp and a slow zoom of 6 % over 4 s) stays under the noise."""
    clip = make_clip(ClipConfig(duration_s=4.0, **QUIET), subject_id=0, seed=5)
    h, w = clip.frames.shape[1:3]
    drifted = []
    for i, f in enumerate(clip.frames):
        k = i / len(clip.frames)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, 1.0 + 0.06 * k)
        g = cv2.warpAffine(f, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        drifted.append(cv2.convertScaleAbs(g, alpha=1.0 + 0.15 * k))
    samples = measure(with_frames(clip, drifted))
    late = [s for s in samples if s.stamp_s > 2.0]
    assert np.mean([float(s.region_z.max()) < 3.0 for s in late]) >= 0.9
