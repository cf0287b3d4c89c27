"""The intensity target: normalised peak facial motion between onset and apex.

CASME II has no intensity labels, so intensity is *defined* as the normalised peak facial motion
between onset and apex, measured on an aligned face (rigid head motion removed)::

    m(t)      = max over face pixels of |G_s * D(onset -> t)|      (pixels)
    intensity = clip( max_{onset <= t <= apex} m(t) / (REF * IOD), 0, 1 )

where ``D`` is the dense displacement field between the onset frame and frame ``t``, ``G_s`` a
Gaussian blur with sigma ``0.1 * IOD`` (robustness against noisy flow), IOD the inter-ocular
distance in pixels and ``REF = 0.15`` (a displacement of 15 % of the inter-ocular distance counts
as full intensity). The generator knows ``D`` exactly (it is the expression field), and chooses
the field amplitude so that its ground-truth intensity equals this definition. On real data
:func:`motion_intensity` estimates ``D`` with Farneback optical flow, so the same target can be
computed for CASME II / SAMM samples.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["INTENSITY_BLUR_IOD", "REF_DISPLACEMENT_IOD", "motion_intensity", "peak_motion"]

REF_DISPLACEMENT_IOD = 0.15
"""Displacement (in inter-ocular distances) that corresponds to intensity 1."""
INTENSITY_BLUR_IOD = 0.1
"""Gaussian sigma (in inter-ocular distances) applied to the displacement before the max."""


def peak_motion(disp: np.ndarray, iod: float, mask: np.ndarray | None = None) -> float:
    """``max |G_s * D|`` in pixels for a displacement field ``disp`` (2, H, W) or (H, W, 2).

    This is the per-frame statistic of the intensity definition (module docstring).
    """
    d = np.asarray(disp, np.float32)
    if d.ndim == 3 and d.shape[0] == 2 and d.shape[-1] != 2:
        d = np.moveaxis(d, 0, -1)
    sigma = max(INTENSITY_BLUR_IOD * iod, 0.5)
    dx = cv2.GaussianBlur(np.ascontiguousarray(d[..., 0]), (0, 0), sigma)
    dy = cv2.GaussianBlur(np.ascontiguousarray(d[..., 1]), (0, 0), sigma)
    mag = np.sqrt(dx * dx + dy * dy)
    if mask is not None:
        mag = mag[mask]
    return float(mag.max()) if mag.size else 0.0


def motion_intensity(
    frames: np.ndarray | list[np.ndarray],
    iod_px: float,
    face_box: tuple[float, float, float, float] | None = None,
) -> float:
    """Intensity target of a real sample from its frames onset..apex (inclusive), in [0, 1].

    Frames should be aligned face crops (or a static camera with a still head), because rigid
    head motion is deliberately not part of the definition. Flow is estimated with Farneback
    between the onset frame and each later frame; each flow is summarised with
    :func:`peak_motion` inside ``face_box`` (x, y, w, h; whole image if None) and the largest
    value, normalised by ``REF_DISPLACEMENT_IOD * iod_px``, is returned. Using flow from the
    onset frame (not frame to frame) measures the displacement reached, not the speed, so
    the result does not depend on the frame rate.
    """
    if len(frames) < 2:
        return 0.0
    grey = [
        cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) if f.ndim == 3 else np.asarray(f, np.uint8)
        for f in frames
    ]
    h, w = grey[0].shape
    mask = None
    if face_box is not None:
        x, y, bw, bh = (round(v) for v in face_box)
        mask = np.zeros((h, w), bool)
        mask[max(y, 0) : max(y + bh, 0), max(x, 0) : max(x + bw, 0)] = True
    winsize = max(5, round(0.15 * iod_px) | 1)
    best = 0.0
    for g in grey[1:]:
        flow = cv2.calcOpticalFlowFarneback(grey[0], g, None, 0.5, 4, winsize, 10, 5, 1.1, 0)
        best = max(best, peak_motion(flow, iod_px, mask))
    return float(np.clip(best / (REF_DISPLACEMENT_IOD * iod_px), 0.0, 1.0))
