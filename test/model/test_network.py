"""Network shapes, head ranges and streaming-step == window-form equality."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from me_perception.model import LABEL_SETS, ModelConfig
from me_perception.model.network import build_model
from me_perception.model.step_io import StepOutputs
from me_perception.perception.feature_buffer import BufferConfig, FeatureBufferBank


def test_label_sets_and_config() -> None:
    assert LABEL_SETS["casme2_5"] == ("happiness", "disgust", "repression", "surprise", "others")
    assert LABEL_SETS["megc_3"] == ("positive", "negative", "surprise")
    cfg = ModelConfig(label_set="megc_3")
    assert cfg.num_classes == 3 and cfg.feature_shape == (32, 8, 8)
    again = ModelConfig.from_dict(cfg.to_dict())
    assert again.classes == cfg.classes and again.to_dict() == cfg.to_dict()
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({**cfg.to_dict(), "future_field": 1})
    custom = ModelConfig(label_set="custom", class_names=("a", "b"))
    assert custom.classes == ("a", "b")
    with pytest.raises(ValueError, match="label_set"):
        ModelConfig(label_set="nope")
    with pytest.raises(ValueError, match="crop_size"):
        ModelConfig(crop_size=60)
    with pytest.raises(ValueError, match="in_channels"):
        ModelConfig(in_channels=2)


def test_motion_config() -> None:
    """A motion model reads the 4-channel motion map at 32 px, normalised around 0 with the
    scale of micro-expression motion; it survives the dict round trip of the metadata."""
    cfg = ModelConfig.motion(label_set="megc_3")
    assert cfg.reads_motion and not ModelConfig().reads_motion
    assert cfg.crop_shape == (4, 32, 32) and cfg.feature_shape == (cfg.feature_channels, 4, 4)
    assert (cfg.norm_mean, cfg.norm_std) == (0.0, 0.02)
    assert ModelConfig.from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()
    model = build_model(cfg)
    spatial = model.spatial(torch.zeros(1, 4, 32, 32))
    assert spatial.shape == (1, *cfg.feature_shape)


def test_step_shapes_and_ranges() -> None:
    cfg = ModelConfig(label_set="megc_3")
    model = build_model(cfg, seed=1)
    b = 3
    with torch.no_grad():
        feat, spot, cls, inten, h = model(
            torch.rand(b, *cfg.crop_shape),
            torch.randn(b, *cfg.feature_shape),
            torch.randn(b, *cfg.feature_shape),
            torch.randn(b, cfg.hidden_size),
            torch.ones(b, 1),
        )
    assert feat.shape == (b, *cfg.feature_shape)
    assert spot.shape == (b, 3) and cls.shape == (b, 3) and inten.shape == (b, 1)
    assert h.shape == (b, cfg.hidden_size)
    torch.testing.assert_close(spot.sum(1), torch.ones(b))
    torch.testing.assert_close(cls.sum(1), torch.ones(b))
    assert bool(((inten >= 0) & (inten <= 1)).all())


def test_unprimed_step_ignores_buffer_contents() -> None:
    """primed = 0 means F_{t-k} = B_t = F_t and zero state, whatever the buffer arrays hold."""
    cfg = ModelConfig()
    model = build_model(cfg)
    crop = torch.rand(2, *cfg.crop_shape)
    zeros = torch.zeros(2, *cfg.feature_shape)
    junk = torch.randn(2, *cfg.feature_shape) * 100
    with torch.no_grad():
        a = model(crop, zeros, zeros, torch.zeros(2, cfg.hidden_size), torch.zeros(2, 1))
        b = model(crop, junk, junk, torch.randn(2, cfg.hidden_size), torch.zeros(2, 1))
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize(("fps", "motion"), [(30.0, False), (200.0, False), (30.0, True)])
def test_streaming_step_equals_window(fps: float, motion: bool) -> None:
    """The step driven through the numpy feature buffer reproduces the window form (1e-5),
    for a crop model and a motion model (4 channels)."""
    temporal = {"k_seconds": 0.1, "n_seconds": 0.2, "baseline_tau_s": 0.05}
    cfg = ModelConfig.motion(**temporal) if motion else ModelConfig(**temporal)
    model = build_model(cfg, seed=3)
    buf_cfg = BufferConfig.from_model(cfg, fps)
    t = buf_cfg.n_frames + buf_cfg.k_frames + 3 if fps == 30 else 30  # past the ring wrap at 30
    gen = torch.Generator().manual_seed(0)
    clip = torch.rand(2, t, *cfg.crop_shape, generator=gen) * (0.05 if motion else 1.0)
    with torch.no_grad():
        ref = model.window(clip, buf_cfg.k_frames, buf_cfg.alpha)
    bank = FeatureBufferBank(buf_cfg)
    ids = ["face_a", "face_b"]
    got: list[StepOutputs] = []
    for i in range(t):
        inputs = bank.gather(ids, clip[:, i].numpy())
        with torch.no_grad():
            outs = model(*(torch.from_numpy(a) for a in inputs.as_dict().values()))
        step_out = StepOutputs(*(o.numpy() for o in outs))
        bank.scatter(ids, step_out)
        got.append(step_out)
    for name in ("feature", "spot_probs", "class_probs", "intensity", "hidden_out"):
        stacked = np.stack([getattr(o, name) for o in got], axis=1)
        np.testing.assert_allclose(stacked, ref[name].numpy(), rtol=0, atol=1e-5, err_msg=name)


def test_window_cost_is_one_cnn_pass_per_frame() -> None:
    """The window form runs the spatial CNN once per frame (B*T crops in one batch)."""
    cfg = ModelConfig()
    model = build_model(cfg)
    calls: list[int] = []
    model.spatial.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    with torch.no_grad():
        model.window(torch.rand(2, 7, *cfg.crop_shape), k_frames=3, alpha=0.1)
    assert calls == [14]
