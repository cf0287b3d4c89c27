"""Feature buffer arithmetic at 30 and 200 fps, reset rules and the multi-face bank."""

from __future__ import annotations

import math

import numpy as np
import pytest

from me_perception.model.config import ModelConfig
from me_perception.model.step_io import StepOutputs
from me_perception.perception.feature_buffer import (
    BufferConfig,
    FaceFeatureBuffer,
    FeatureBufferBank,
    ResetReason,
    ema_alpha,
    frames_for,
)

SHAPE = (2, 2, 2)


def _cfg(fps: float, **kw: object) -> BufferConfig:
    return BufferConfig(
        feature_shape=SHAPE,
        hidden_size=3,
        fps=fps,
        k_seconds=kw.pop("k", 0.1),  # type: ignore[arg-type]
        n_seconds=kw.pop("n", 0.5),  # type: ignore[arg-type]
        baseline_tau_s=kw.pop("tau", 1.0),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("fps", "k", "n"),
    [(30.0, 3, 15), (200.0, 20, 100)],
)
def test_seconds_to_frames(fps: float, k: int, n: int) -> None:
    cfg = _cfg(fps)
    assert (cfg.k_frames, cfg.n_frames) == (k, n)
    assert cfg.alpha == pytest.approx(1 - math.exp(-1 / fps))
    # after tau seconds of a constant input the baseline covers 1 - 1/e of the step
    assert 1 - (1 - cfg.alpha) ** round(fps * 1.0) == pytest.approx(1 - 1 / math.e, rel=1e-3)


def test_frames_for_edge_cases() -> None:
    assert frames_for(0.001, 30) == 1
    assert _cfg(30, k=0.1, n=0.05).n_frames == 4  # ring always holds k + 1 frames
    with pytest.raises(ValueError):
        frames_for(0.1, 0)
    with pytest.raises(ValueError):
        ema_alpha(0, 30)


@pytest.mark.parametrize("fps", [30.0, 200.0])
def test_past_feature_and_baseline(fps: float) -> None:
    cfg = _cfg(fps)
    buf = FaceFeatureBuffer(cfg)
    k, n, a = cfg.k_frames, cfg.n_frames, np.float32(cfg.alpha)
    base = None
    for t in range(3 * n + 1):
        if t > 0:
            # F_{t-k}, clamped to F_0 while t < k
            assert buf.past_feature()[0, 0, 0] == max(t - k, 0)
            assert buf.feature_at_lag(1)[0, 0, 0] == t - 1
            np.testing.assert_allclose(buf.baseline, base)
        f = np.full(SHAPE, float(t), dtype=np.float32)
        base = f.copy() if base is None else base + a * (f - base)
        buf.push(f, np.full(3, t, dtype=np.float32))
        assert buf.hidden[0] == t
    assert buf.frames_since_reset == 3 * n + 1
    # ring of n frames: oldest reachable lag is n
    assert buf.feature_at_lag(n)[0, 0, 0] == 3 * n + 1 - n


def test_ring_is_preallocated_and_not_shifted() -> None:
    buf = FaceFeatureBuffer(_cfg(30))
    ring_id = id(buf._ring)
    ptr = buf._ring.ctypes.data
    for t in range(100):
        buf.push(np.full(SHAPE, t, np.float32), np.zeros(3, np.float32))
    assert id(buf._ring) == ring_id and buf._ring.ctypes.data == ptr


def test_reset_forgets_history_in_constant_time() -> None:
    buf = FaceFeatureBuffer(_cfg(30))
    for _ in range(4):
        buf.push(np.ones(SHAPE, np.float32), np.ones(3, np.float32))
    assert buf.primed and buf.hidden.any()
    buf.reset(ResetReason.TIME_GAP)
    assert not buf.primed and buf.frames_since_reset == 0 and not buf.hidden.any()
    assert buf.last_reset is ResetReason.TIME_GAP


def _outputs(n: int, value: float) -> StepOutputs:
    return StepOutputs(
        feature=np.full((n, *SHAPE), value, np.float32),
        spot_probs=np.zeros((n, 3), np.float32),
        class_probs=np.zeros((n, 5), np.float32),
        intensity=np.zeros((n, 1), np.float32),
        hidden_out=np.full((n, 3), value, np.float32),
    )


def test_bank_gather_scatter_and_track_loss() -> None:
    bank = FeatureBufferBank(_cfg(30))
    crops = np.zeros((2, 1, 8, 8), np.float32)
    inp = bank.gather(["a", "b"], crops)
    assert bank.buffer("a").last_reset is bank.buffer("b").last_reset is ResetReason.NEW
    assert inp.primed.tolist() == [[0.0], [0.0]]
    assert inp.past_feature.shape == (2, *SHAPE) and inp.hidden.shape == (2, 3)
    bank.scatter(["a", "b"], _outputs(2, 1.0))
    # order of ids may change between frames; c is new
    inp = bank.gather(["c", "a"], np.zeros((2, 1, 8, 8), np.float32))
    assert inp.primed[:, 0].tolist() == [0.0, 1.0]
    assert inp.hidden[1].tolist() == [1.0, 1.0, 1.0]
    assert inp.baseline[1, 0, 0, 0] == 1.0
    bank.scatter(["c", "a"], _outputs(2, 2.0))
    assert bank.remove("b") and "b" not in bank and len(bank) == 2  # the tracker dropped b
    assert bank.remove("c") and not bank.remove("c")
    with pytest.raises(ValueError, match="duplicate"):
        bank.gather(["a", "a"], np.zeros((2, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="crops"):
        bank.gather(["a"], np.zeros((2, 1, 8, 8), np.float32))


def test_bank_restart_on_a_gap_keeps_the_faces() -> None:
    bank = FeatureBufferBank(_cfg(30))
    crops = np.zeros((1, 1, 8, 8), np.float32)
    for t in range(3):
        bank.gather(["a"], crops)
        bank.scatter(["a"], _outputs(1, t))
    bank.restart(ResetReason.TIME_GAP)  # the stream clock saw a gap
    inp = bank.gather(["a"], crops)
    assert "a" in bank and bank.buffer("a").last_reset is ResetReason.TIME_GAP
    assert inp.primed[0, 0] == 0.0 and not inp.hidden.any()


def test_bank_set_fps_and_from_model() -> None:
    cfg = BufferConfig.from_model(ModelConfig(), 30.0)
    assert cfg.feature_shape == (32, 8, 8) and cfg.hidden_size == 96
    bank = FeatureBufferBank(_cfg(30))
    bank.gather(["a"], np.zeros((1, 1, 8, 8), np.float32))
    bank.scatter(["a"], _outputs(1, 1.0))
    assert not bank.set_fps(30.0)
    assert bank.buffer("a").primed
    assert not bank.set_fps(30.5)  # same k and N: history kept, only alpha follows
    assert bank.buffer("a").primed
    assert bank.buffer("a")._alpha == np.float32(ema_alpha(1.0, 30.5))
    assert bank.set_fps(200.0)
    assert not bank.buffer("a").primed
    assert bank.buffer("a").last_reset is ResetReason.RECONFIGURED
    assert bank.buffer("a").k_frames == 20


def test_memory_flat_over_many_frames() -> None:
    bank = FeatureBufferBank(_cfg(200))
    crops = np.zeros((1, 1, 8, 8), np.float32)
    out = _outputs(1, 0.5)
    for _ in range(5000):
        bank.gather(["a"], crops)
        bank.scatter(["a"], out)
    assert bank.buffer("a")._ring.shape[0] == 100


def test_non_finite_outputs_reset_instead_of_poisoning() -> None:
    bank = FeatureBufferBank(_cfg(30))
    crops = np.zeros((2, 1, 8, 8), np.float32)
    bank.gather(["a", "b"], crops)
    assert bank.scatter(["a", "b"], _outputs(2, 1.0)) == []
    bank.gather(["a", "b"], crops)
    out = _outputs(2, 2.0)
    out.feature[0, 0, 0, 0] = np.nan
    assert bank.scatter(["a", "b"], out) == ["a"]
    assert bank.buffer("a").last_reset is ResetReason.NON_FINITE
    assert not bank.buffer("a").primed and bank.buffer("b").frames_since_reset == 2
    inp = bank.gather(["a"], crops[:1])
    assert inp.primed[0, 0] == 0.0 and np.isfinite(inp.past_feature).all()
