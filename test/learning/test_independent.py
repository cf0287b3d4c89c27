"""Identities, identity augmentation, head events and the independent renderer behave as
documented (docs/data.md); short low-resolution clips keep this file at a few seconds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from me_perception.learning import synthetic as S
from me_perception.learning.datasets import read_clip, write_clip

SMALL = dict(width=160, height=120, face_fraction=0.6, fps=25.0, duration_s=5.0, min_gap_s=0.3)
STILL = dict(head_translation_px=0.0, head_rotation_deg=0.0, flicker=0.0, noise_sigma=0.0)


def _no_overlap_inside(clip: S.SyntheticClip) -> None:
    n = len(clip.frames)
    evs = sorted(clip.events, key=lambda e: e.onset_s)
    for e in evs:
        assert 0 <= e.onset <= e.apex <= e.offset < n
        assert 0 <= e.onset_s < e.apex_s < e.offset_s <= clip.stamps[-1] + 1 / clip.fps
    for a, b in itertools.pairwise(evs):
        assert a.offset_s <= b.onset_s


@pytest.mark.parametrize("generator", S.GENERATORS)
@pytest.mark.parametrize("identity", S.identity_names())
def test_every_identity_renders_with_both_generators(identity, generator):
    cfg = S.ClipConfig(n_micro=2, n_macro=1, n_head=1, **SMALL)
    clip = S.render_clip(cfg, subject_id=3, seed=1001, identity=identity, generator=generator)
    assert clip.frames.shape == (125, 120, 160, 3) and clip.frames.dtype == np.uint8
    assert clip.meta["identity"] == identity and clip.meta["generator"] == generator
    kinds = [e.kind for e in clip.events]
    assert kinds.count("head") == 1 and "micro" in kinds
    _no_overlap_inside(clip)
    for e in clip.events:
        if e.kind in ("blink", "head"):
            assert e.label5 is None and e.label3 is None
        else:
            assert e.label5 in cfg.classes
    head = next(e for e in clip.events if e.kind == "head")
    assert 0.4 - 1e-9 <= head.offset_s - head.onset_s <= 1.0 + 1e-9
    # The face box moves during the head event (rigid motion), by at least a few pixels.
    fb = clip.face_boxes[:, :2]
    moved = np.abs(fb[head.onset : head.offset + 1] - fb[head.onset]).max()
    assert moved >= 0.04 * clip.iod_px


def test_old_calls_and_defaults_are_unchanged():
    cfg = S.ClipConfig(n_micro=1, n_macro=0, **SMALL, **STILL)
    a = S.make_clip(cfg, 2, 7)
    b = S.make_clip(cfg, subject_id=2, seed=7, identity="astronaut", generator="ours")
    assert np.array_equal(a.frames, b.frames) and a.subject == "syn02"
    assert S.SubjectStyle.from_id(0) == S.SubjectStyle(0, 0.0, (1.0,) * 3, 1.0, 0.0, 1.0, 0, 1, 1)
    with pytest.raises(ValueError, match="independent"):
        S.make_clip(cfg, generator="other")


def test_augmentation_is_deterministic_per_id_and_varies_across_ids():
    styles = [S.SubjectStyle.from_id(i, "grace_hopper") for i in range(1, 21)]
    assert styles == [S.SubjectStyle.from_id(i, "grace_hopper") for i in range(1, 21)]
    assert all(s.identity == "grace_hopper" for s in styles)
    for field in ("light_dir_deg", "light_strength", "gamma", "blur_iod", "scale"):
        assert len({getattr(s, field) for s in styles}) == 20, field
    assert {s.mirror for s in styles} == {True, False}
    assert {s.jpeg_quality > 0 for s in styles} == {True, False}
    assert S.SubjectStyle.from_id(3, "astronaut") != S.SubjectStyle.from_id(3, "grace_hopper")


def test_mirrored_subject_swaps_left_and_right():
    cfg = S.ClipConfig(
        n_micro=0,
        n_macro=0,
        blink_rate_hz=0.0,
        duration_s=0.2,
        **{k: v for k, v in SMALL.items() if k != "duration_s"},
        **STILL,
    )
    ids = [i for i in range(1, 12) if S.SubjectStyle.from_id(i, "grace_hopper").mirror]
    clip = S.render_clip(cfg, subject_id=ids[0], seed=0, identity="grace_hopper")
    lm = dict(zip(clip.landmark_names, clip.landmarks[0], strict=True))
    assert lm["eye_l"][0] < lm["eye_r"][0] and lm["mouth_l"][0] < lm["mouth_r"][0]
    # Pixels really are mirrored: the canvas is the flipped photograph.
    ident = S.get_identity("grace_hopper")
    assert np.array_equal(S.mirrored(ident).canvas[:, ::-1], ident.canvas)


def _face_motion(clip: S.SyntheticClip) -> np.ndarray:
    """Mean absolute grey difference to the previous frame inside the (static) face box."""
    x, y, w, h = (int(v) for v in clip.face_boxes[0])
    g = clip.frames[:, max(y, 0) : y + h, max(x, 0) : x + w].astype(np.float32).mean(axis=3)
    return np.r_[0.0, np.abs(np.diff(g, axis=0)).mean(axis=(1, 2))]


def test_independent_micro_events_move_the_face_a_little():
    cfg = S.ClipConfig(n_micro=2, n_macro=1, blink_rate_hz=0.0, **SMALL, **STILL)
    clip = S.render_clip(cfg, subject_id=1, seed=5, identity="astronaut", generator="independent")
    m = _face_motion(clip)
    inside = np.zeros(len(m), bool)
    for e in clip.events:
        inside[e.onset : e.offset + 1] = True
    assert inside.any() and (~inside).sum() > 10
    base = np.median(m[~inside])  # JPEG re-encoding jitter only
    for e in (e for e in clip.events if e.kind == "micro"):
        peak = m[e.onset : e.offset + 1].max()
        assert peak > base + 0.05, (e, peak, base)
        assert 0.01 / 0.15 - 1e-6 <= e.intensity <= 0.05 / 0.15 + 1e-6
    macro = next(e for e in clip.events if e.kind == "macro")
    assert 0.7 <= macro.offset_s - macro.onset_s <= 2.0
    # Fast rise, slow decay: the apex lies in the first half of the event.
    assert macro.apex_s - macro.onset_s < 0.5 * (macro.offset_s - macro.onset_s)


def test_independent_is_deterministic_and_differs_from_ours(tmp_path):
    cfg = S.ClipConfig(n_micro=2, n_macro=1, n_head=1, **SMALL)
    a = S.render_clip(cfg, subject_id=4, seed=9, generator="independent")
    b = S.render_clip(cfg, subject_id=4, seed=9, generator="independent")
    ours = S.render_clip(cfg, subject_id=4, seed=9, generator="ours")
    assert np.array_equal(a.frames, b.frames)
    assert [e.to_dict() for e in a.events] == [e.to_dict() for e in b.events]
    assert [e.onset_s for e in a.events] != [e.onset_s for e in ours.events]
    assert np.abs(a.frames.astype(np.int16) - ours.frames).mean() > 10
    # Head events survive the on-disk format.
    back = read_clip(write_clip(a, tmp_path))
    assert [e.kind for e in back.events] == [e.kind for e in a.events]
