"""Facial regions in face units, placed on an aligned crop from the face's own landmarks.

Why face units: a micro-expression is a displacement of about 1-5 % of the inter-ocular
distance (IOD). Regions and motion thresholds expressed in IOD hold for any face size, camera
and resolution; pixel constants would hold for the faces one tested with only.

Why the face's own landmarks: faces differ in proportions (the mouth of one face sits 0.9 IOD
below the eyes, another's 1.2). The aligned crop fits a similarity to five points, so the
mouth of a given face lands wherever that face has it; regions are therefore placed relative
to the *aligned landmarks of this face* (eyes for brows and lids, nose tip for the nose sides,
mouth corners for the mouth), not on a fixed template.

The regions follow the action units that carry micro-expressions (FACS): brows (AU1, AU2,
AU4), upper lids (blinks, AU5/AU7), nose sides (AU9), upper lip (AU10), mouth corners (AU12,
AU14, AU15) and chin (AU17). "left"/"right" are image sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["REGIONS", "UPPER_FACE", "FaceGrid", "Region", "region_names"]


@dataclass(frozen=True)
class Region:
    """A rectangle around an anchor point: centre offset and half sizes, all in IOD."""

    name: str
    anchor: str  # "eye_l" | "eye_r" | "eyes" | "nose" | "mouth_l" | "mouth_r" | "mouth"
    dx: float
    dy: float
    half_w: float
    half_h: float


REGIONS: tuple[Region, ...] = (
    Region("brow_l", "eye_l", 0.0, -0.42, 0.30, 0.17),
    Region("brow_r", "eye_r", 0.0, -0.42, 0.30, 0.17),
    Region("lid_l", "eye_l", 0.0, -0.03, 0.26, 0.13),
    Region("lid_r", "eye_r", 0.0, -0.03, 0.26, 0.13),
    Region("nose_l", "nose", -0.22, -0.12, 0.13, 0.18),
    Region("nose_r", "nose", 0.22, -0.12, 0.13, 0.18),
    Region("lip", "mouth", 0.0, -0.12, 0.18, 0.11),
    Region("mouth_l", "mouth_l", 0.0, 0.0, 0.18, 0.18),
    Region("mouth_r", "mouth_r", 0.0, 0.0, 0.18, 0.18),
    Region("chin", "mouth", 0.0, 0.45, 0.28, 0.18),
)
#: regions above the nose: a blink or an eye movement shows here and not below
UPPER_FACE = ("brow_l", "brow_r", "lid_l", "lid_r")


def region_names() -> tuple[str, ...]:
    """Region names in the order every per-region array uses."""
    return tuple(r.name for r in REGIONS)


def _anchors(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Anchor points from five landmarks (eye_l, eye_r, nose, mouth_l, mouth_r)."""
    eye_l, eye_r, nose, mouth_l, mouth_r = (np.asarray(p, np.float64) for p in landmarks)
    return {
        "eye_l": eye_l,
        "eye_r": eye_r,
        "eyes": (eye_l + eye_r) / 2.0,
        "nose": nose,
        "mouth_l": mouth_l,
        "mouth_r": mouth_r,
        "mouth": (mouth_l + mouth_r) / 2.0,
    }


class FaceGrid:
    """Region masks and the face ellipse on an ``size x size`` crop for one face.

    ``landmarks`` are the face's five points already mapped into the crop. The axes are the
    crop's (alignment removed the roll), the unit is the face's IOD in crop pixels.
    """

    def __init__(self, size: int, landmarks: np.ndarray) -> None:
        pts = np.asarray(landmarks, np.float64).reshape(5, 2)
        anchors = _anchors(pts)
        self.size = size
        self.iod_px = float(max(np.linalg.norm(pts[1] - pts[0]), 1.0))
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
        self.masks = np.zeros((len(REGIONS), size, size), bool)
        for i, r in enumerate(REGIONS):
            cx, cy = anchors[r.anchor] + np.array([r.dx, r.dy]) * self.iod_px
            hw, hh = r.half_w * self.iod_px, r.half_h * self.iod_px
            self.masks[i] = (np.abs(xx - cx) <= hw) & (np.abs(yy - cy) <= hh)
        centre = (anchors["eyes"] + anchors["mouth"]) / 2.0
        ax, ay = 1.05 * self.iod_px, 1.25 * self.iod_px  # cheek to cheek, brow to chin
        self.face = ((xx - centre[0]) / ax) ** 2 + ((yy - centre[1]) / ay) ** 2 <= 1.0
        self.eye_y = float(anchors["eyes"][1])
        self.centre = centre
        upper = [i for i, r in enumerate(REGIONS) if r.name in UPPER_FACE]
        self.upper = self.masks[upper].any(axis=0)
        self.lower = self.masks[[i for i in range(len(REGIONS)) if i not in upper]].any(axis=0)
        self._yy = yy

    def region_index(self, name: str) -> int:
        """Position of region ``name`` in the per-region arrays."""
        return region_names().index(name)

    def upper_centroid_iod(self, magnitude: np.ndarray) -> float:
        """Height of the motion centroid in the upper face, in IOD from the eye line (negative
        above the eyes). A blink moves the lids (about 0), brows move higher up (-0.4)."""
        w = np.where(self.upper, magnitude, 0.0)
        total = float(w.sum())
        if total <= 1e-12:
            return float("nan")
        return float((w * (self._yy - self.eye_y)).sum() / total / self.iod_px)
