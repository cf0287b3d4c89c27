"""The face the synthetic clips are made of: a real photograph, its landmarks, and action
units as smooth displacement fields around those landmarks.

The photograph is ``skimage.data.astronaut()`` (shipped inside scikit-image, nothing
downloaded). Action units (FACS) are sums of Gaussian displacement blobs placed relative to the
hand-measured landmarks, in inter-ocular-distance (IOD) units, so they scale with the face.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "ASTRONAUT_LANDMARKS",
    "AU_COMPONENTS",
    "EXPRESSIONS",
    "astronaut_canvas",
    "au_field",
    "canvas_landmarks",
    "iod_of",
]

# --------------------------------------------------------------------------------------------
# Landmarks of skimage.data.astronaut() (512 x 512 RGB), measured once by hand on a 5x zoom
# (x, y in pixels of the original photograph). The subject faces the camera; "left"/"right"
# are image left/right.
# --------------------------------------------------------------------------------------------
ASTRONAUT_LANDMARKS: dict[str, tuple[float, float]] = {
    "brow_l": (200.0, 90.0),
    "brow_r": (248.0, 92.0),
    "glabella": (225.0, 97.0),
    "eye_l": (202.0, 100.0),
    "eye_r": (247.0, 103.0),
    "nose_tip": (225.0, 127.0),
    "mouth_l": (204.0, 142.0),
    "mouth_r": (244.0, 142.0),
    "mouth_c": (224.0, 148.0),
    "chin": (227.0, 176.0),
}
# Square region of the photograph used as the face "canvas" (head, hair, neck) and the head
# ellipse that is blended onto the background (centre x, y, half axes), same coordinates.
CANVAS_X0, CANVAS_Y0, CANVAS_SIDE = 105, 0, 240
HEAD_ELLIPSE = (225.0, 118.0, 88.0, 114.0)
# Face width (cheek to cheek) in the photograph; used to convert "face fraction" to a scale.
FACE_WIDTH_PX = 110.0
# Square face box (centre, side) in photograph pixels: brows to chin, cheek to cheek.
FACE_BOX = (225.0, 127.0, 126.0)

# --------------------------------------------------------------------------------------------
# Action units as sums of Gaussian displacement blobs around landmarks.
# Each component: (landmark, offset of the blob centre (IOD units), displacement (IOD units),
# sigma_x, sigma_y (IOD units)). Displacements are the direction of movement of the skin at
# full unit amplitude; the amplitude actually used is scaled to the requested intensity.
# --------------------------------------------------------------------------------------------
_Comp = tuple[str, tuple[float, float], tuple[float, float], float, float]
AU_COMPONENTS: dict[str, tuple[_Comp, ...]] = {
    # Inner brow raiser.
    "AU1": (("glabella", (0.0, -0.12), (0.0, -0.10), 0.25, 0.15),),
    # Outer brow raiser.
    "AU2": (
        ("brow_l", (-0.15, 0.0), (0.0, -0.10), 0.22, 0.14),
        ("brow_r", (0.15, 0.0), (0.0, -0.10), 0.22, 0.14),
    ),
    # Brow lowerer: brows down and together.
    "AU4": (
        ("brow_l", (0.1, 0.0), (0.05, 0.08), 0.22, 0.14),
        ("brow_r", (-0.1, 0.0), (-0.05, 0.08), 0.22, 0.14),
        ("glabella", (0.0, 0.0), (0.0, 0.05), 0.15, 0.12),
    ),
    # Cheek raiser (lower lids / cheeks up).
    "AU6": (
        ("eye_l", (0.0, 0.35), (0.0, -0.06), 0.25, 0.18),
        ("eye_r", (0.0, 0.35), (0.0, -0.06), 0.25, 0.18),
    ),
    # Nose wrinkler: nose sides and upper lip pulled up.
    "AU9": (
        ("nose_tip", (-0.2, -0.25), (0.02, -0.08), 0.14, 0.18),
        ("nose_tip", (0.2, -0.25), (-0.02, -0.08), 0.14, 0.18),
        ("mouth_c", (0.0, -0.15), (0.0, -0.04), 0.3, 0.12),
    ),
    # Upper lip raiser.
    "AU10": (("mouth_c", (0.0, -0.12), (0.0, -0.08), 0.35, 0.12),),
    # Lip corner puller: corners up and out.
    "AU12": (
        ("mouth_l", (0.0, 0.0), (-0.07, -0.08), 0.18, 0.15),
        ("mouth_r", (0.0, 0.0), (0.07, -0.08), 0.18, 0.15),
    ),
    # Dimpler: corners pulled straight back (outwards in the image), tightened.
    "AU14": (
        ("mouth_l", (0.0, 0.0), (-0.08, 0.0), 0.15, 0.12),
        ("mouth_r", (0.0, 0.0), (0.08, 0.0), 0.15, 0.12),
    ),
    # Lip corner depressor.
    "AU15": (
        ("mouth_l", (0.0, 0.0), (0.0, 0.09), 0.16, 0.14),
        ("mouth_r", (0.0, 0.0), (0.0, 0.09), 0.16, 0.14),
    ),
    # Chin raiser: chin boss and lower lip up.
    "AU17": (("chin", (0.0, -0.2), (0.0, -0.08), 0.3, 0.2),),
    # Jaw drop: chin and lower lip down.
    "AU26": (("chin", (0.0, -0.1), (0.0, 0.12), 0.4, 0.3),),
    # Blink: skin of the upper lid slides down over each eye (approximation of lid closure).
    "blink": (
        ("eye_l", (0.0, -0.06), (0.0, 0.13), 0.22, 0.09),
        ("eye_r", (0.0, -0.06), (0.0, 0.13), 0.22, 0.09),
    ),
}

# Expression repertoire: (5-class label, AU combination). Chosen from the FACS prototypes used
# in the CASME II paper's emotion criteria (happiness AU6/12, disgust AU4/9/10, repression
# AU14/15/17, surprise AU1+2/26, others e.g. AU1+4 sadness-like or AU4 alone).
EXPRESSIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("happiness", ("AU12",)),
    ("happiness", ("AU6", "AU12")),
    ("disgust", ("AU4",)),
    ("disgust", ("AU9",)),
    ("disgust", ("AU4", "AU10")),
    ("repression", ("AU14",)),
    ("repression", ("AU15",)),
    ("repression", ("AU17",)),
    ("repression", ("AU15", "AU17")),
    ("surprise", ("AU1", "AU2")),
    ("surprise", ("AU1", "AU2", "AU26")),
    ("others", ("AU1", "AU4")),
    ("others", ("AU10",)),
)


@functools.lru_cache(maxsize=1)
def astronaut_canvas() -> np.ndarray:
    """Base face canvas (BGR uint8) cut from the photograph; cached because it never changes."""
    from skimage import data

    rgb = data.astronaut()
    crop = rgb[CANVAS_Y0 : CANVAS_Y0 + CANVAS_SIDE, CANVAS_X0 : CANVAS_X0 + CANVAS_SIDE]
    return np.ascontiguousarray(crop[:, :, ::-1])


def canvas_landmarks() -> dict[str, np.ndarray]:
    return {
        k: np.array([x - CANVAS_X0, y - CANVAS_Y0], dtype=np.float64)
        for k, (x, y) in ASTRONAUT_LANDMARKS.items()
    }


def iod_of(lm: dict[str, np.ndarray]) -> float:
    return float(np.linalg.norm(lm["eye_r"] - lm["eye_l"]))


def au_field(aus: tuple[str, ...], lm: dict[str, np.ndarray], side: int) -> np.ndarray:
    """Unit-amplitude displacement field (2, side, side) float32 of an AU combination, pixels."""
    iod = iod_of(lm)
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    out = np.zeros((2, side, side), np.float32)
    for au in aus:
        for name, (ox, oy), (dx, dy), sx, sy in AU_COMPONENTS[au]:
            cx = lm[name][0] + ox * iod
            cy = lm[name][1] + oy * iod
            w = np.exp(
                -0.5 * (((xs - cx) / (sx * iod)) ** 2 + ((ys - cy) / (sy * iod)) ** 2)
            ).astype(np.float32)
            out[0] += w * np.float32(dx * iod)
            out[1] += w * np.float32(dy * iod)
    return out
