"""Similarity alignment of a face to a canonical crop for the spatial network.

Why a similarity (rotation + uniform scale + translation) and not a full affine: micro-
expressions are tiny non-rigid motions, and an affine fit to noisy landmarks would itself
shear the face from frame to frame, which the time-contrasted features would read as motion.
A least-squares similarity over five points (Umeyama, closed form, deterministic) removes head
pose in the image plane and nothing else.

The canonical template is the widely used 5-point 112x112 face template (eyes, nose tip, mouth
corners) expressed as fractions of the crop, optionally zoomed out (``zoom`` < 1) to keep more
brow and chin, where several action units live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from me_perception.perception.detection.base import Box

__all__ = [
    "CANONICAL_TEMPLATE",
    "AlignedFace",
    "AlignmentConfig",
    "align_face",
    "align_faces",
    "template_points",
    "to_nchw",
    "umeyama",
]

CANONICAL_TEMPLATE = (
    np.array(
        [
            [38.2946, 51.6963],
            [73.5318, 51.5014],
            [56.0252, 71.7366],
            [41.5493, 92.3655],
            [70.7299, 92.2041],
        ],
        dtype=np.float64,
    )
    / 112.0
)


@dataclass(frozen=True)
class AlignmentConfig:
    """Canonical crop settings chosen by the caller (the model's input contract).

    ``zoom`` < 1 shrinks the template toward the crop centre (more context). ``box_margin`` is
    the extra border, as a fraction of the box size, used by the box-only fallback.
    """

    size: int = 64
    gray: bool = True
    zoom: float = 0.9
    box_margin: float = 0.1
    interpolation: int = cv2.INTER_LINEAR


@dataclass(frozen=True)
class AlignedFace:
    """Aligned crop ``(S, S)`` or ``(S, S, 3)`` float32 in [0, 1] plus the image->crop matrix."""

    crop: np.ndarray
    matrix: np.ndarray
    used_landmarks: bool


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity mapping ``src`` points onto ``dst`` points; 2x3 matrix."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var_s = (s**2).sum() / len(src)
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1.0
    r = u @ e @ vt
    scale = float(np.trace(np.diag(sig) @ e) / var_s) if var_s > 0 else 1.0
    t = mu_d - scale * r @ mu_s
    return np.hstack([scale * r, t[:, None]])


def template_points(cfg: AlignmentConfig) -> np.ndarray:
    """The five canonical points in crop pixels (zoomed as ``cfg`` says): where an aligned
    face's eyes, nose tip and mouth corners land."""
    c = np.array([0.5, 0.5])
    return ((CANONICAL_TEMPLATE - c) * cfg.zoom + c) * cfg.size


def _box_matrix(box: Box, cfg: AlignmentConfig) -> np.ndarray:
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * cfg.box_margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    s = cfg.size / side
    return np.array([[s, 0.0, cfg.size / 2.0 - s * cx], [0.0, s, cfg.size / 2.0 - s * cy]])


def align_face(
    image: np.ndarray,
    box: Box | None,
    landmarks: np.ndarray | None = None,
    config: AlignmentConfig | None = None,
) -> AlignedFace:
    """Warp a face to the canonical crop.

    ``image`` is grayscale ``(H, W)`` or BGR ``(H, W, 3)`` uint8 (or float in [0, 1]). With
    five finite ``landmarks`` the similarity fitted to the template is used; otherwise the
    crop is a square around ``box`` (degenerate landmarks, e.g. all equal, also fall back).
    The output channel count follows ``config.gray``, converting if needed.
    """
    cfg = config or AlignmentConfig()
    if landmarks is None and box is None:
        raise ValueError("align_face needs landmarks or a box")
    matrix = None
    if landmarks is not None:
        pts = np.asarray(landmarks, np.float64).reshape(-1, 2)
        if len(pts) == 5 and np.isfinite(pts).all() and np.ptp(pts, axis=0).max() > 1.0:
            matrix = umeyama(pts, template_points(cfg))
    used = matrix is not None
    if matrix is None:
        if box is None or not (box[2] > 0 and box[3] > 0):
            raise ValueError("align_face: landmarks unusable and no valid box")
        matrix = _box_matrix(box, cfg)

    src = image
    if cfg.gray and src.ndim == 3:
        src = cv2.cvtColor(src, cv2.COLOR_BGR2GRAY)
    elif not cfg.gray and src.ndim == 2:
        src = cv2.cvtColor(src, cv2.COLOR_GRAY2BGR)
    crop = cv2.warpAffine(
        src,
        matrix,
        (cfg.size, cfg.size),
        flags=cfg.interpolation,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if crop.dtype == np.uint8:
        out = crop.astype(np.float32) * np.float32(1.0 / 255.0)
    else:
        out = np.clip(crop.astype(np.float32), 0.0, 1.0)
    return AlignedFace(crop=out, matrix=matrix.astype(np.float32), used_landmarks=used)


def align_faces(
    image: np.ndarray,
    faces: Sequence[tuple[Box | None, np.ndarray | None]],
    config: AlignmentConfig | None = None,
) -> tuple[np.ndarray, list[AlignedFace]]:
    """Align several faces of one frame; returns the stacked batch ``(N, S, S[, 3])`` too.

    The grayscale/colour conversion of the frame is done once for all faces, and the batch is
    what the model's streaming step takes (batch = faces).
    """
    cfg = config or AlignmentConfig()
    src = image
    if cfg.gray and src.ndim == 3:
        src = cv2.cvtColor(src, cv2.COLOR_BGR2GRAY)
    elif not cfg.gray and src.ndim == 2:
        src = cv2.cvtColor(src, cv2.COLOR_GRAY2BGR)
    aligned = [align_face(src, box, lm, cfg) for box, lm in faces]
    shape = (cfg.size, cfg.size) if cfg.gray else (cfg.size, cfg.size, 3)
    batch = np.stack([a.crop for a in aligned]) if aligned else np.zeros((0, *shape), np.float32)
    return batch, aligned


def to_nchw(batch: np.ndarray) -> np.ndarray:
    """A batch of crops ``(N, S, S)`` (gray) or ``(N, S, S, 3)`` (colour) in the network's
    layout ``(N, C, S, S)`` (a view where possible; the model contract is NCHW)."""
    if batch.ndim == 3:
        return batch[:, None]
    if batch.ndim == 4:
        return batch.transpose(0, 3, 1, 2)
    raise ValueError(f"expected (N, S, S) or (N, S, S, 3) crops, got shape {batch.shape}")
