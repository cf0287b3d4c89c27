"""The real faces synthetic clips are made of: one :class:`Identity` per photograph.

Why: training on warps of one photograph teaches a model that one face. Two real photographs
ship with our dependencies (nothing is downloaded): scikit-image's ``astronaut`` (Eileen
Collins) and matplotlib's ``grace_hopper.jpg``. Each identity is a square BGR canvas cut from
its photograph, ten landmarks in canvas pixels (the names :mod:`.face` uses; "_l"/"_r" are
image left/right), the square face box, the head ellipse blended onto backgrounds, and the face
width used to size the face in the output. :func:`mirrored` flips an identity (and swaps the
left/right landmark names so that "_l" stays image-left).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from me_perception.learning.synthetic.face import (
    ASTRONAUT_LANDMARKS,
    CANVAS_X0,
    CANVAS_Y0,
    FACE_BOX,
    FACE_WIDTH_PX,
    HEAD_ELLIPSE,
    astronaut_canvas,
)

__all__ = [
    "GRACE_HOPPER_LANDMARKS",
    "IDENTITIES",
    "Identity",
    "get_identity",
    "grace_hopper_photo",
    "identity_names",
    "mirrored",
]

# Landmarks of matplotlib's sample_data/grace_hopper.jpg (512 x 600), photograph pixels. Eyes,
# nose tip and mouth corners: the project's detector (Haar + O-Net, perception.detection),
# checked on a 6x zoom; brows (behind the upper rim of the glasses), glabella, mouth centre and
# chin (lower edge of the chin) placed by hand on the same zoom. test_identities.py checks the
# detector still agrees.
GRACE_HOPPER_LANDMARKS: dict[str, tuple[float, float]] = {
    "brow_l": (218.0, 173.0),
    "brow_r": (308.0, 167.0),
    "glabella": (266.0, 179.0),
    "eye_l": (222.4, 191.5),
    "eye_r": (311.6, 187.2),
    "nose_tip": (268.5, 243.8),
    "mouth_l": (234.5, 284.4),
    "mouth_r": (308.5, 278.8),
    "mouth_c": (268.0, 281.0),
    "chin": (267.0, 328.0),
}
# Canvas square (x0, y0, side), head ellipse (cx, cy, half axes, including the cap and hair),
# face box (cx, cy, side: 2.8 IOD as the astronaut's) and cheek-to-cheek width, photo pixels.
_GH_CANVAS = (32, 0, 470)
_GH_ELLIPSE = (266.0, 205.0, 122.0, 165.0)
_GH_FACE_BOX = (267.0, 244.0, 250.0)
_GH_FACE_WIDTH = 195.0

_SWAP = {"brow_l": "brow_r", "eye_l": "eye_r", "mouth_l": "mouth_r"}
_SWAP.update({v: k for k, v in list(_SWAP.items())})


@dataclass(frozen=True)
class Identity:
    """One real face: canvas (square BGR uint8) and geometry in canvas pixels."""

    name: str
    canvas: np.ndarray
    landmarks: dict[str, tuple[float, float]]
    face_box: tuple[float, float, float]
    """Square face box: centre x, centre y, side (brows to chin, cheek to cheek)."""
    head_ellipse: tuple[float, float, float, float]
    """Centre x, y and half axes of the head region blended onto the background."""
    face_width: float
    """Cheek-to-cheek width (converts ClipConfig.face_fraction to a scale)."""

    @property
    def side(self) -> int:
        return int(self.canvas.shape[0])

    def landmark_arrays(self, scale: float = 1.0) -> dict[str, np.ndarray]:
        """Landmarks as float64 arrays, scaled to a canvas resized by ``scale``."""
        return {k: np.array(v, np.float64) * scale for k, v in self.landmarks.items()}

    @property
    def iod(self) -> float:
        (xl, yl), (xr, yr) = self.landmarks["eye_l"], self.landmarks["eye_r"]
        return float(np.hypot(xr - xl, yr - yl))


def _shift(points: dict[str, tuple[float, float]], x0: float, y0: float) -> dict:
    return {k: (float(x - x0), float(y - y0)) for k, (x, y) in points.items()}


@functools.lru_cache(maxsize=1)
def _astronaut() -> Identity:
    cx, cy, ax, ay = HEAD_ELLIPSE
    fx, fy, fs = FACE_BOX
    return Identity(
        name="astronaut",
        canvas=astronaut_canvas(),
        landmarks=_shift(ASTRONAUT_LANDMARKS, CANVAS_X0, CANVAS_Y0),
        face_box=(fx - CANVAS_X0, fy - CANVAS_Y0, fs),
        head_ellipse=(cx - CANVAS_X0, cy - CANVAS_Y0, ax, ay),
        face_width=FACE_WIDTH_PX,
    )


def grace_hopper_photo() -> np.ndarray:
    """The full photograph (BGR uint8) from matplotlib's bundled sample data."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"matplotlib sample image not found: {path}")
    return img


@functools.lru_cache(maxsize=1)
def _grace_hopper() -> Identity:
    x0, y0, side = _GH_CANVAS
    img = grace_hopper_photo()[y0 : y0 + side, x0 : x0 + side]
    cx, cy, ax, ay = _GH_ELLIPSE
    fx, fy, fs = _GH_FACE_BOX
    return Identity(
        name="grace_hopper",
        canvas=np.ascontiguousarray(img),
        landmarks=_shift(GRACE_HOPPER_LANDMARKS, x0, y0),
        face_box=(fx - x0, fy - y0, fs),
        head_ellipse=(cx - x0, cy - y0, ax, ay),
        face_width=_GH_FACE_WIDTH,
    )


IDENTITIES = {"astronaut": _astronaut, "grace_hopper": _grace_hopper}
"""Registry: identity name -> cached loader."""


def identity_names() -> tuple[str, ...]:
    return tuple(IDENTITIES)


def get_identity(name: str) -> Identity:
    """The named identity (canvas loaded once); ValueError names the known ones."""
    try:
        return IDENTITIES[name]()
    except KeyError:
        raise ValueError(f"unknown identity {name!r}; known: {identity_names()}") from None


def mirrored(ident: Identity) -> Identity:
    """Horizontal flip of canvas and geometry; left/right names swapped so "_l" stays
    image-left (a mirrored face is a plausible new face, not the same one seen twice)."""
    w = ident.side - 1.0
    lm = {_SWAP.get(k, k): (w - x, y) for k, (x, y) in ident.landmarks.items()}
    fx, fy, fs = ident.face_box
    cx, cy, ax, ay = ident.head_ellipse
    return replace(
        ident,
        name=ident.name + "_mirrored",
        canvas=np.ascontiguousarray(ident.canvas[:, ::-1]),
        landmarks={k: lm[k] for k in ident.landmarks},
        face_box=(w - fx, fy, fs),
        head_ellipse=(w - cx, cy, ax, ay),
    )
