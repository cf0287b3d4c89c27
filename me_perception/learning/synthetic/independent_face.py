"""The independent renderer's face model (:mod:`.independent`): control points derived from
the identity's landmarks, expression templates per CASME II class, the piecewise-affine
(Delaunay) displacement field and the gamma-shaped time course.

Deliberately unrelated to :mod:`.face` (Gaussian blobs per action unit): other points, other
directions, per-event jitter and asymmetry, linear-in-triangle displacement.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.interpolate import LinearNDInterpolator

__all__ = [
    "BLINK_MOVES",
    "TEMPLATES",
    "control_points",
    "dense_field",
    "gamma_profile",
    "template_displacements",
]

# Derived control points: (landmark, offset in IOD units).
_DERIVED = {
    "lid_l_up": ("eye_l", (0.0, -0.11)),
    "lid_r_up": ("eye_r", (0.0, -0.11)),
    "lid_l_lo": ("eye_l", (0.0, 0.10)),
    "lid_r_lo": ("eye_r", (0.0, 0.10)),
    "cheek_l": ("eye_l", (-0.10, 0.55)),
    "cheek_r": ("eye_r", (0.10, 0.55)),
    "nasal_l": ("nose_tip", (-0.22, -0.08)),
    "nasal_r": ("nose_tip", (0.22, -0.08)),
    "lip_up": ("mouth_c", (0.0, -0.10)),
    "lip_lo": ("mouth_c", (0.0, 0.12)),
    "jaw_l": ("mouth_l", (-0.35, 0.35)),
    "jaw_r": ("mouth_r", (0.35, 0.35)),
    "temple_l": ("eye_l", (-0.55, -0.05)),
    "temple_r": ("eye_r", (0.55, -0.05)),
    "forehead_l": ("brow_l", (0.0, -0.35)),
    "forehead_r": ("brow_r", (0.0, -0.35)),
    "forehead_c": ("glabella", (0.0, -0.45)),
}
# Expression templates per CASME II class: (AUs it imitates, ((point, direction), ...)).
# Directions are relative; each event's field is rescaled to its drawn peak displacement.
TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[tuple[str, tuple[float, float]], ...]]] = {
    "happiness": (
        ("AU6", "AU12"),
        (
            ("mouth_l", (-0.6, -0.8)),
            ("mouth_r", (0.6, -0.8)),
            ("cheek_l", (0.0, -0.5)),
            ("cheek_r", (0.0, -0.5)),
            ("lid_l_lo", (0.0, -0.25)),
            ("lid_r_lo", (0.0, -0.25)),
        ),
    ),
    "disgust": (
        ("AU4", "AU9", "AU10"),
        (
            ("nasal_l", (0.2, -1.0)),
            ("nasal_r", (-0.2, -1.0)),
            ("lip_up", (0.0, -0.7)),
            ("brow_l", (0.4, 0.5)),
            ("brow_r", (-0.4, 0.5)),
        ),
    ),
    "repression": (
        ("AU15", "AU17"),
        (
            ("mouth_l", (-0.2, 0.9)),
            ("mouth_r", (0.2, 0.9)),
            ("lip_lo", (0.0, -0.7)),
            ("chin", (0.0, -0.8)),
        ),
    ),
    "surprise": (
        ("AU1", "AU2", "AU5"),
        (
            ("brow_l", (0.0, -1.0)),
            ("brow_r", (0.0, -1.0)),
            ("glabella", (0.0, -0.7)),
            ("lid_l_up", (0.0, -0.5)),
            ("lid_r_up", (0.0, -0.5)),
            ("forehead_c", (0.0, -0.3)),
        ),
    ),
    "others": (
        ("AU1", "AU4"),
        (
            ("glabella", (0.0, -0.6)),
            ("brow_l", (0.5, 0.2)),
            ("brow_r", (-0.5, 0.2)),
            ("lip_up", (0.0, -0.3)),
        ),
    ),
}
BLINK_MOVES = (("lid_l_up", (0.0, 1.0)), ("lid_r_up", (0.0, 1.0)))


def control_points(lm: dict[str, np.ndarray], side: int) -> tuple[list[str], np.ndarray]:
    """Named control points (landmarks + derived) followed by fixed anchors (named "")."""
    iod = float(np.linalg.norm(lm["eye_r"] - lm["eye_l"]))
    names = list(lm) + list(_DERIVED)
    pts = [lm[k] for k in lm] + [lm[a] + np.array(o) * iod for a, o in _DERIVED.values()]
    centre = (lm["eye_l"] + lm["eye_r"] + lm["chin"]) / 3.0
    ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    ring = centre + np.c_[1.6 * iod * np.cos(ang), 1.9 * iod * np.sin(ang)]
    s = side - 1.0
    corners = [[0, 0], [s, 0], [0, s], [s, s], [s / 2, 0], [s / 2, s], [0, s / 2], [s, s / 2]]
    anchors = np.vstack([ring, corners])
    return names + [""] * len(anchors), np.vstack([np.array(pts), anchors])


def gamma_profile(t: np.ndarray, on: float, apex: float, off: float) -> np.ndarray:
    """Gamma-shaped activation: 1 at the apex, fast rise, slow decay, 0 outside [on, off]."""
    x = (np.asarray(t, np.float64) - on) / max(apex - on, 1e-9)
    r = (off - on) / max(apex - on, 1e-9)
    k = math.log(50.0) / max(r - 1.0 - math.log(r), 1e-3)  # ~0.02 left at the offset
    xc = np.clip(x, 1e-12, r)
    a = np.where(x > 0, np.power(xc, k) * np.exp(k * (1.0 - xc)), 0.0)
    taper = np.clip((r - x) / (0.2 * r), 0.0, 1.0)
    out = a * taper
    out[(t <= on) | (t >= off)] = 0.0
    return out


def dense_field(pts: np.ndarray, disp: np.ndarray, side: int) -> np.ndarray:
    """Piecewise-linear (Delaunay) interpolation of control-point displacements: (2, H, W)."""
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float64)
    f = LinearNDInterpolator(pts, disp, fill_value=0.0)(xs, ys).astype(np.float32)
    # A light blur (2 % of the canvas) keeps creases from folding at triangle edges.
    f = cv2.GaussianBlur(f, (0, 0), max(1.0, 0.02 * side))
    return np.ascontiguousarray(np.moveaxis(f, -1, 0))


def template_displacements(
    names: list[str], moves: tuple, iod: float, rng: np.random.Generator
) -> np.ndarray:
    """Control-point displacements (K, 2) of one event: jittered direction, gain, asymmetry."""
    disp = np.zeros((len(names), 2))
    weak = "_l" if rng.random() < 0.5 else "_r"
    asym = float(rng.uniform(0.6, 1.0))
    for name, (dx, dy) in moves:
        th = np.deg2rad(rng.normal(0.0, 20.0))
        v = np.array([dx * np.cos(th) - dy * np.sin(th), dx * np.sin(th) + dy * np.cos(th)])
        v *= rng.uniform(0.6, 1.4) * (asym if weak in name else 1.0)
        disp[names.index(name)] = v * 0.1 * iod
    return disp
