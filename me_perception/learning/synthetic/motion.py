"""Time courses of our renderer (:mod:`.generator`): expression envelopes, the slow rigid head
sway with lighting flicker, and discrete head movements (turn, nod, shift)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from me_perception.learning.synthetic.clips import ClipConfig

__all__ = ["HEAD_MOVES", "HeadMotion", "draw_head_move", "envelope", "smoothstep"]

HEAD_MOVES = ("turn", "nod", "shift")
"""turn: out and back sideways; nod: down and back; shift: moves and stays there."""


def smoothstep(x: np.ndarray | float) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def envelope(t: np.ndarray, onset_s: float, apex_s: float, offset_s: float) -> np.ndarray:
    """Activation in [0, 1]: smooth rise onset->apex (1 exactly at apex), smooth fall to offset."""
    t = np.asarray(t, dtype=np.float64)
    rise = smoothstep((t - onset_s) / max(apex_s - onset_s, 1e-9))
    fall = smoothstep((offset_s - t) / max(offset_s - apex_s, 1e-9))
    out = np.where(t <= apex_s, rise, fall)
    out[(t <= onset_s) | (t >= offset_s)] = 0.0
    return out


def draw_head_move(rng: np.random.Generator) -> dict:
    """One discrete head movement: kind, displacement (IOD units) and roll (degrees)."""
    move = HEAD_MOVES[int(rng.integers(len(HEAD_MOVES)))]
    amp = float(rng.uniform(0.05, 0.15))
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if move == "turn":
        dx, dy, rot = sign * amp, 0.1 * amp * float(rng.uniform(-1, 1)), sign * 1.0
    elif move == "nod":
        dx, dy, rot = 0.1 * amp * float(rng.uniform(-1, 1)), amp, 0.0
    else:
        ang = float(rng.uniform(0, 2 * np.pi))
        dx, dy, rot = amp * np.cos(ang), amp * np.sin(ang), float(rng.uniform(-1.5, 1.5))
    return {"move": move, "dx_iod": dx, "dy_iod": dy, "rot_deg": rot, "amp_iod": amp}


@dataclass(frozen=True)
class HeadMotion:
    """Rigid placement of the face canvas per frame (slow sinusoids) and the lighting gain."""

    centre: np.ndarray  # output position of the face centre before motion
    tx: np.ndarray
    ty: np.ndarray
    rot: np.ndarray  # degrees
    gain: np.ndarray

    @staticmethod
    def draw(cfg: ClipConfig, stamps: np.ndarray, rng: np.random.Generator) -> HeadMotion:
        """A few slow sinusoids with per-clip random phases; flicker with a random part."""
        w, h, n = int(cfg.width), int(cfg.height), len(stamps)
        centre = np.array([w / 2.0, h * 0.45]) + rng.uniform(-0.05, 0.05, 2) * [w, h]
        ph = rng.uniform(0, 2 * np.pi, 6)
        fr = rng.uniform(0.1, 0.5, 6)

        def wave(k: int) -> np.ndarray:
            return np.sin(2 * np.pi * fr[k] * stamps + ph[k])

        tx = cfg.head_translation_px * 0.5 * (wave(0) + wave(1))
        ty = cfg.head_translation_px * 0.5 * (wave(2) + wave(3))
        rot = cfg.head_rotation_deg * wave(4)
        fl_ph = rng.uniform(0, 2 * np.pi)
        gain = 1.0 + cfg.flicker * (
            0.7 * np.sin(2 * np.pi * 1.3 * stamps + fl_ph) + 0.3 * rng.uniform(-1, 1, n)
        )
        return HeadMotion(centre, tx, ty, rot, gain)

    def with_move(self, stamps: np.ndarray, spec: dict, iod_px: float) -> HeadMotion:
        """Add one discrete head movement (``spec`` from the schedule, times in seconds)."""
        mv = spec["head"]
        if mv["move"] == "shift":  # moves during onset..offset and stays displaced
            a = smoothstep((stamps - spec["on"]) / max(spec["off"] - spec["on"], 1e-9))
        else:  # out to the apex and back
            a = envelope(stamps, spec["on"], spec["apex"], spec["off"])
        return replace(
            self,
            tx=self.tx + a * mv["dx_iod"] * iod_px,
            ty=self.ty + a * mv["dy_iod"] * iod_px,
            rot=self.rot + a * mv["rot_deg"],
        )
