"""Appearance augmentation of a subject's canvas and frames (our renderer, :mod:`.generator`):
side light, gamma, optical blur and JPEG compression, as a webcam would vary them."""

from __future__ import annotations

import cv2
import numpy as np

from me_perception.learning.synthetic.clips import SubjectStyle

__all__ = ["jpeg_roundtrip", "light_and_lens"]


def light_and_lens(img: np.ndarray, style: SubjectStyle, iod_px: float) -> np.ndarray:
    """Side light (linear gain ramp across the canvas), gamma and Gaussian blur; BGR uint8.
    Returns ``img`` itself when the style asks for none of them (subject 0 stays bit-exact)."""
    if style.light_strength == 0 and style.gamma == 1.0 and style.blur_iod == 0:
        return img
    side_y, side_x = img.shape[:2]
    f = img.astype(np.float32)
    if style.light_strength:
        ang = np.deg2rad(style.light_dir_deg)
        xs = np.linspace(-1, 1, side_x, dtype=np.float32)[None, :]
        ys = np.linspace(-1, 1, side_y, dtype=np.float32)[:, None]
        ramp = np.cos(ang) * xs + np.sin(ang) * ys
        f *= (1.0 + style.light_strength * ramp)[..., None]
    if style.gamma != 1.0:
        f = 255.0 * (np.clip(f, 0, 255) / 255.0) ** np.float32(style.gamma)
    out = np.clip(f, 0, 255).astype(np.uint8)
    sigma = style.blur_iod * iod_px
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    return out


def jpeg_roundtrip(frame: np.ndarray, quality: int) -> np.ndarray:
    """The frame after JPEG compression at ``quality`` (what a webcam's MJPEG stream does)."""
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 BGR image
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)
