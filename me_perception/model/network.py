"""The micro-expression network: spatial CNN, time-contrasted features, GRU memory, heads.

One definition, two forms that compute the same thing:

* ``forward`` / :meth:`MicroExpressionNet.step` - the streaming step, batch = faces. It takes the
  current crop plus what the per-face buffer holds (F_{t-k}, the baseline B_t, the GRU state)
  and returns F_t (which the buffer stores), the head outputs and the new GRU state. This is
  what is exported to ONNX and run by every backend; the per-frame cost is one CNN pass per face
  whatever the window length, because earlier feature maps come from the buffer.
* :meth:`MicroExpressionNet.window` - a whole clip (B, T, ...), used for training and as the
  reference the streaming step is tested against.

Both share :meth:`_temporal` so their arithmetic is identical. Semantics of the first frames
(after a reset of the face's buffer), identical in both forms:

* ``primed = 0`` on the first frame: F_{t-k} and B_t are taken to be F_t itself (both contrasts
  are exactly zero) and the GRU state is zero.
* for t < k, F_{t-k} is the oldest frame since the reset, F_0 (the ring "primed" with F_0).
* B_0 = F_0; after each frame B_{t+1} = B_t + alpha (F_t - B_t), alpha = 1 - exp(-1/(tau fps)).
  The step *uses* B_t (the baseline before this frame is mixed in) so that a sudden movement is
  contrasted against a baseline it has not yet polluted.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from me_perception.model.config import SPOT_CLASSES, ModelConfig


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SpatialCNN(nn.Module):
    """Per-frame feature extractor: (N, in_ch, S, S) in [0, 1] -> F_t (N, C, S/8, S/8).

    Small on purpose (about 4.3 M multiply-adds at 64x64): the step budget is < 2 ms per face on
    two CPU cores. Normalisation happens here so all backends consume raw [0, 1] crops.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        s = cfg.stem_channels
        self.register_buffer(
            "mean", torch.full((1, cfg.in_channels, 1, 1), cfg.norm_mean), persistent=False
        )
        self.register_buffer(
            "inv_std", torch.full((1, cfg.in_channels, 1, 1), 1.0 / cfg.norm_std), persistent=False
        )
        self.body = nn.Sequential(
            _conv_bn_relu(cfg.in_channels, s, 2),  # S/2
            _conv_bn_relu(s, s, 1),
            _conv_bn_relu(s, 2 * s, 2),  # S/4
            _conv_bn_relu(2 * s, cfg.feature_channels, 2),  # S/8
        )

    def forward(self, crop: Tensor) -> Tensor:
        return self.body((crop - self.mean) * self.inv_std)


class GRUMemory(nn.Module):
    """A GRU cell written out with Linear layers.

    Same equations as ``torch.nn.GRUCell``; written by hand so the ONNX graph consists of
    Gemm/Sigmoid/Tanh/Mul/Add only (no ONNX ``GRU`` sequence op with its layout pitfalls), and the
    state is an explicit tensor that the per-face buffer owns.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.x2h = nn.Linear(input_size, 3 * hidden_size)
        self.h2h = nn.Linear(hidden_size, 3 * hidden_size)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        gx = self.x2h(x)
        gh = self.h2h(h)
        n = self.hidden_size
        r = torch.sigmoid(gx[:, :n] + gh[:, :n])
        z = torch.sigmoid(gx[:, n : 2 * n] + gh[:, n : 2 * n])
        c = torch.tanh(gx[:, 2 * n :] + r * gh[:, 2 * n :])
        return (1.0 - z) * c + z * h


class MicroExpressionNet(nn.Module):
    """Spotting {neutral, micro, macro}, class probabilities and intensity per face and frame."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.feature_channels
        self.spatial = SpatialCNN(cfg)
        # Time-contrasted features: [F_t, F_t - F_{t-k}, F_t - B_t] -> one conv -> vector.
        self.contrast = _conv_bn_relu(3 * c, c + c // 2, 2)
        red = cfg.feature_size // 2
        self.embed = nn.Sequential(
            nn.Flatten(), nn.Linear((c + c // 2) * red * red, cfg.embed_size), nn.ReLU()
        )
        self.memory = GRUMemory(cfg.embed_size, cfg.hidden_size)
        self.spot_head = nn.Linear(cfg.hidden_size, len(SPOT_CLASSES))
        self.class_head = nn.Linear(cfg.hidden_size, cfg.num_classes)
        self.intensity_head = nn.Linear(cfg.hidden_size, 1)

    def _temporal(
        self, feat: Tensor, past: Tensor, base: Tensor, hidden: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x = torch.cat([feat, feat - past, feat - base], dim=1)
        h = self.memory(self.embed(self.contrast(x)), hidden)
        spot = torch.softmax(self.spot_head(h), dim=1)
        cls = torch.softmax(self.class_head(h), dim=1)
        inten = torch.sigmoid(self.intensity_head(h))
        return spot, cls, inten, h

    def forward(
        self, crop: Tensor, past_feature: Tensor, baseline: Tensor, hidden: Tensor, primed: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Streaming step for a batch of faces.

        Args:
            crop: (B, in_ch, S, S) float32 in [0, 1].
            past_feature: (B, C, h, w) F_{t-k} from the buffer (ignored where primed = 0).
            baseline: (B, C, h, w) B_t from the buffer (ignored where primed = 0).
            hidden: (B, H) GRU state from the buffer (zeroed where primed = 0).
            primed: (B, 1) float32, 1 if the face's buffer holds earlier frames, else 0.

        Returns:
            feature F_t (B, C, h, w), spot_probs (B, 3), class_probs (B, K),
            intensity (B, 1) in [0, 1], hidden_out (B, H).
        """
        feat = self.spatial(crop)
        p = primed.reshape(-1, 1, 1, 1)
        # Arithmetic blend rather than `where`: exact for p in {0, 1}, trivially TensorRT-safe.
        past = p * past_feature + (1.0 - p) * feat
        base = p * baseline + (1.0 - p) * feat
        spot, cls, inten, h = self._temporal(feat, past, base, hidden * primed)
        return feat, spot, cls, inten, h

    step = forward

    def window(self, clip: Tensor, k_frames: int, alpha: float) -> dict[str, Tensor]:
        """Run a whole clip from a reset state: (B, T, in_ch, S, S) -> per-frame outputs.

        The spatial CNN runs once over all B*T frames; the recurrence then walks the time axis
        with exactly the step's buffer semantics (see module docstring).

        Returns a dict of (B, T, ...) tensors: feature, spot_probs, class_probs, intensity,
        hidden_out.
        """
        if k_frames < 1:
            raise ValueError("k_frames must be >= 1")
        b, t = clip.shape[:2]
        feats = self.spatial(clip.reshape(b * t, *clip.shape[2:]))
        feats = feats.reshape(b, t, *feats.shape[1:])
        h = clip.new_zeros((b, self.cfg.hidden_size))
        base = feats[:, 0]
        outs: dict[str, list[Tensor]] = {
            "spot_probs": [],
            "class_probs": [],
            "intensity": [],
            "hidden_out": [],
        }
        for i in range(t):
            f = feats[:, i]
            past = feats[:, max(i - k_frames, 0)]
            spot, cls, inten, h = self._temporal(f, past, base, h)
            base = base + alpha * (f - base)
            outs["spot_probs"].append(spot)
            outs["class_probs"].append(cls)
            outs["intensity"].append(inten)
            outs["hidden_out"].append(h)
        result = {key: torch.stack(v, dim=1) for key, v in outs.items()}
        result["feature"] = feats
        return result


def build_model(cfg: ModelConfig | None = None, seed: int = 0) -> MicroExpressionNet:
    """An untrained, deterministically initialised model in eval mode (for tests and export)."""
    cfg = cfg or ModelConfig()
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = MicroExpressionNet(cfg)
        # Non-trivial BatchNorm statistics so that tests exercise them.
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    finally:
        torch.random.set_rng_state(gen_state)
    return model.eval()
