"""Synthetic micro-expression clips built on a real face photograph.

Why this exists: the real data sets (CASME II, SAMM, CAS(ME)^2) are licensed and cannot be shipped
or used in CI, yet training, evaluation and the node need clips with exact ground truth. This
module animates a real photograph (``skimage.data.astronaut()``) with landmark-driven, smooth
local displacement fields that imitate FACS action units (AUs), so that:

* micro-expressions are brief (1/25 .. 1/2 s) and low amplitude, macro-expressions longer and
  larger, blinks are fast eyelid closures;
* distractors exist that spotting must ignore or classify as macro: rigid head translation and
  in-plane rotation, lighting flicker and sensor noise;
* "subjects" are seeded, deterministic variations of the one photograph (identity warp, skin
  tone/contrast, scale, background, expression amplitude habits);
* every clip comes with ground truth (events with onset/apex/offset frames and stamps, labels in
  both the CASME II 5-class and the MEGC 3-class sets, intensity) at any frame rate.

What it cannot represent: texture changes that are not motion (wrinkles appearing, teeth being
shown, reddening), out-of-plane head rotation, occlusion, real identity variation (all subjects
are warps of one person), eye gaze. See docs/data.md.

Intensity target
----------------
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

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

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
_CANVAS_X0, _CANVAS_Y0, _CANVAS_SIDE = 105, 0, 240
_HEAD_ELLIPSE = (225.0, 118.0, 88.0, 114.0)
# Face width (cheek to cheek) in the photograph; used to convert "face fraction" to a scale.
_FACE_WIDTH_PX = 110.0
# Square face box (centre, side) in photograph pixels: brows to chin, cheek to cheek.
_FACE_BOX = (225.0, 127.0, 126.0)

REF_DISPLACEMENT_IOD = 0.15
"""Displacement (in inter-ocular distances) that corresponds to intensity 1."""
INTENSITY_BLUR_IOD = 0.1
"""Gaussian sigma (in inter-ocular distances) applied to the displacement before the max."""

LABELS_5 = ("happiness", "disgust", "repression", "surprise", "others")
LABELS_3 = ("positive", "negative", "surprise")
_5_TO_3 = {
    "happiness": "positive",
    "disgust": "negative",
    "repression": "negative",
    "surprise": "surprise",
    "others": None,
}

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


# --------------------------------------------------------------------------------------------
# Configuration and ground truth
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClipConfig:
    """What to render. Times are in seconds so any frame rate gives the same clip content."""

    fps: float = 30.0
    duration_s: float = 6.0
    width: int = 640
    height: int = 480
    face_fraction: float = 0.28
    """Face width (cheek to cheek) as a fraction of the image width (0.28 ~ a desk webcam;
    ~0.75 gives a tight, face-sized image)."""
    n_micro: int = 2
    n_macro: int = 1
    blink_rate_hz: float = 0.25
    micro_duration_s: tuple[float, float] = (1.0 / 25.0, 0.5)
    macro_duration_s: tuple[float, float] = (0.7, 2.0)
    micro_intensity: tuple[float, float] = (0.1, 0.45)
    macro_intensity: tuple[float, float] = (0.55, 1.0)
    min_gap_s: float = 0.4
    """Neutral time kept around each event so that events never overlap."""
    head_translation_px: float = 3.0
    """Amplitude of slow head translation, in output pixels (0 = fixed head)."""
    head_rotation_deg: float = 1.5
    flicker: float = 0.02
    """Relative amplitude of lighting flicker (gain modulation)."""
    noise_sigma: float = 2.0
    """Std of additive Gaussian sensor noise in grey levels (0 = none)."""
    classes: tuple[str, ...] = LABELS_5
    """Which 5-class labels expression events may take (e.g. drop 'others')."""


@dataclass(frozen=True)
class SubjectStyle:
    """Per-subject appearance and habits, derived deterministically from a subject id."""

    subject_id: int
    identity_warp_iod: float
    channel_gain: tuple[float, float, float]
    contrast: float
    brightness: float
    scale: float
    background_seed: int
    amplitude_habit: float
    blink_habit: float

    @staticmethod
    def from_id(subject_id: int) -> SubjectStyle:
        """Seeded variation; subject 0 is the unmodified photograph on a plain background."""
        if subject_id == 0:
            return SubjectStyle(0, 0.0, (1.0, 1.0, 1.0), 1.0, 0.0, 1.0, 0, 1.0, 1.0)
        rng = np.random.default_rng([int(subject_id), 0x5EED])
        gains = tuple(float(g) for g in rng.uniform(0.82, 1.15, size=3))
        return SubjectStyle(
            subject_id=int(subject_id),
            identity_warp_iod=float(rng.uniform(0.04, 0.10)),
            channel_gain=gains,  # type: ignore[arg-type]
            contrast=float(rng.uniform(0.8, 1.2)),
            brightness=float(rng.uniform(-20, 20)),
            scale=float(rng.uniform(0.85, 1.15)),
            background_seed=int(rng.integers(1, 2**31 - 1)),
            amplitude_habit=float(rng.uniform(0.75, 1.25)),
            blink_habit=float(rng.uniform(0.5, 1.5)),
        )


@dataclass
class Event:
    """One ground-truth event. Frame indices are inclusive; stamps are seconds from clip start.

    ``label5`` is the CASME II 5-class label, ``label3`` the MEGC 3-class label (None where
    the sample is excluded from the 3-class set, i.e. 'others', and for blinks).
    """

    kind: str  # "micro" | "macro" | "blink"
    onset: int
    apex: int
    offset: int
    onset_s: float
    apex_s: float
    offset_s: float
    label5: str | None
    label3: str | None
    aus: tuple[str, ...]
    intensity: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d["aus"] = list(self.aus)
        return d

    @staticmethod
    def from_dict(d: dict) -> Event:
        return Event(
            kind=str(d["kind"]),
            onset=int(d["onset"]),
            apex=int(d["apex"]),
            offset=int(d["offset"]),
            onset_s=float(d["onset_s"]),
            apex_s=float(d["apex_s"]),
            offset_s=float(d["offset_s"]),
            label5=d.get("label5"),
            label3=d.get("label3"),
            aus=tuple(d.get("aus", ())),
            intensity=float(d["intensity"]),
        )


@dataclass
class SyntheticClip:
    """Frames plus ground truth. ``face_boxes`` (T, 4) are x, y, w, h of the (rigidly moving)
    square face box in output pixels; ``landmarks`` (T, K, 2) the rigidly moved landmarks in the
    order of ``landmark_names`` (expression motion not included)."""

    frames: np.ndarray  # (T, H, W, 3) uint8 BGR
    stamps: np.ndarray  # (T,) float64 seconds
    fps: float
    subject: str
    clip_id: str
    events: list[Event]
    face_boxes: np.ndarray
    landmarks: np.ndarray
    landmark_names: tuple[str, ...]
    iod_px: float
    meta: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def _smoothstep(x: np.ndarray | float) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def envelope(t: np.ndarray, onset_s: float, apex_s: float, offset_s: float) -> np.ndarray:
    """Activation in [0, 1]: smooth rise onset->apex (1 exactly at apex), smooth fall to offset."""
    t = np.asarray(t, dtype=np.float64)
    rise = _smoothstep((t - onset_s) / max(apex_s - onset_s, 1e-9))
    fall = _smoothstep((offset_s - t) / max(offset_s - apex_s, 1e-9))
    out = np.where(t <= apex_s, rise, fall)
    out[(t <= onset_s) | (t >= offset_s)] = 0.0
    return out


@functools.lru_cache(maxsize=1)
def _astronaut_canvas() -> np.ndarray:
    """Base face canvas (BGR uint8) cut from the photograph; cached because it never changes."""
    from skimage import data

    rgb = data.astronaut()
    crop = rgb[_CANVAS_Y0 : _CANVAS_Y0 + _CANVAS_SIDE, _CANVAS_X0 : _CANVAS_X0 + _CANVAS_SIDE]
    return np.ascontiguousarray(crop[:, :, ::-1])


def _canvas_landmarks() -> dict[str, np.ndarray]:
    return {
        k: np.array([x - _CANVAS_X0, y - _CANVAS_Y0], dtype=np.float64)
        for k, (x, y) in ASTRONAUT_LANDMARKS.items()
    }


def _iod(lm: dict[str, np.ndarray]) -> float:
    return float(np.linalg.norm(lm["eye_r"] - lm["eye_l"]))


def au_field(aus: tuple[str, ...], lm: dict[str, np.ndarray], side: int) -> np.ndarray:
    """Unit-amplitude displacement field (2, side, side) float32 of an AU combination, pixels."""
    iod = _iod(lm)
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


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------
class SyntheticFaceGenerator:
    """Renders seeded synthetic clips. Per-subject canvases and AU fields are cached, so
    rendering cost per frame is one small remap (only while an event is active), one
    affine warp of the head region, a blend, and the noise/flicker pass."""

    def __init__(self) -> None:
        self._subject_cache: dict[tuple, tuple] = {}
        self._field_cache: dict[tuple, tuple[np.ndarray, float]] = {}
        self._bg_cache: dict[tuple, np.ndarray] = {}
        self._noise_cache: dict[tuple, np.ndarray] = {}

    # -- cached pieces -------------------------------------------------------------------
    def _subject(self, style: SubjectStyle, side: int) -> tuple:
        key = (style, side)
        if key in self._subject_cache:
            return self._subject_cache[key]
        base = _astronaut_canvas()
        lm0 = _canvas_landmarks()
        img = cv2.resize(base, (side, side), interpolation=cv2.INTER_AREA)
        s = side / _CANVAS_SIDE
        lm = {k: v * s for k, v in lm0.items()}
        iod = _iod(lm)
        if style.identity_warp_iod > 0:
            rng = np.random.default_rng([style.subject_id, 0x1D])
            coarse = rng.normal(0, 1, size=(2, 4, 4)).astype(np.float32)
            fx = cv2.resize(coarse[0], (side, side), interpolation=cv2.INTER_CUBIC)
            fy = cv2.resize(coarse[1], (side, side), interpolation=cv2.INTER_CUBIC)
            amp = style.identity_warp_iod * iod / max(float(np.abs(coarse).max()), 1e-6)
            fx *= amp
            fy *= amp
            ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
            img = cv2.remap(img, xs - fx, ys - fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            for k, p in lm.items():
                xi = int(np.clip(round(p[0]), 0, side - 1))
                yi = int(np.clip(round(p[1]), 0, side - 1))
                lm[k] = p + np.array([fx[yi, xi], fy[yi, xi]])
            iod = _iod(lm)
        f = img.astype(np.float32)
        f = f * np.array(style.channel_gain, np.float32)
        f = (f - 128.0) * style.contrast + 128.0 + style.brightness
        img = np.clip(f, 0, 255).astype(np.uint8)
        cx, cy, ax, ay = _HEAD_ELLIPSE
        alpha = np.zeros((side, side), np.float32)
        cv2.ellipse(
            alpha,
            (int((cx - _CANVAS_X0) * s), int((cy - _CANVAS_Y0) * s)),
            (int(ax * s), int(ay * s)),
            0,
            0,
            360,
            1.0,
            -1,
        )
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(2.0, 0.08 * iod))
        ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
        # BGRA: the head mask travels with the face through one remap and one warp per frame.
        img4 = np.dstack([img, np.round(alpha * 255).astype(np.uint8)])
        out = (img4, lm, iod, alpha, xs, ys)
        self._subject_cache[key] = out
        return out

    def _au(self, style: SubjectStyle, side: int, aus: tuple[str, ...]) -> tuple[np.ndarray, float]:
        key = (style, side, aus)
        if key not in self._field_cache:
            _, lm, iod, *_ = self._subject(style, side)
            fld = au_field(aus, lm, side)
            self._field_cache[key] = (fld, peak_motion(fld, iod))
        return self._field_cache[key]

    def _background(self, style: SubjectStyle, w: int, h: int) -> np.ndarray:
        key = (style.background_seed, w, h)
        if key not in self._bg_cache:
            rng = np.random.default_rng(style.background_seed)
            if style.background_seed == 0:
                c0 = c1 = np.array([205, 200, 198], np.float32)
            else:
                c0 = rng.uniform(40, 230, 3).astype(np.float32)
                c1 = rng.uniform(40, 230, 3).astype(np.float32)
            t = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
            bg = c0 * (1 - t) + c1 * t
            bg = np.broadcast_to(bg, (h, w, 3)).copy()
            tex = rng.normal(0, 1, size=(6, 8)).astype(np.float32)
            tex = cv2.resize(tex, (w, h), interpolation=cv2.INTER_CUBIC)
            bg += 12.0 * tex[..., None] * (style.background_seed != 0)
            self._bg_cache[key] = np.clip(bg, 0, 255).astype(np.uint8)
        return self._bg_cache[key]

    def _noise(self, seed: int, w: int, h: int, sigma: float) -> np.ndarray:
        key = (seed, w, h, sigma)
        if key not in self._noise_cache:
            rng = np.random.default_rng([seed, 0x0153])
            bank = rng.normal(0, sigma, size=(8, h, w, 3))
            self._noise_cache = {key: np.clip(np.round(bank), -127, 127).astype(np.int16)}
        return self._noise_cache[key]

    # -- schedule ------------------------------------------------------------------------
    def schedule(self, cfg: ClipConfig, style: SubjectStyle, seed: int) -> list[dict]:
        """Event specs (in seconds) placed without overlap; apex snapped to a frame stamp."""
        rng = np.random.default_rng([seed, style.subject_id, 0xE7])
        # Placement in seconds only (not frames), so every frame rate gets the same events.
        t_end = float(cfg.duration_s)
        n_blink = int(rng.poisson(cfg.blink_rate_hz * style.blink_habit * cfg.duration_s))
        kinds = ["micro"] * cfg.n_micro + ["macro"] * cfg.n_macro + ["blink"] * n_blink
        rng.shuffle(kinds)
        # Long events first: they are the hardest to fit without overlap.
        kinds.sort(key=lambda k: {"macro": 0, "micro": 1, "blink": 2}[k])
        exprs = [e for e in EXPRESSIONS if e[0] in cfg.classes]
        placed: list[tuple[float, float]] = []
        specs: list[dict] = []
        for kind in kinds:
            if kind == "micro":
                dur = float(rng.uniform(*cfg.micro_duration_s))
            elif kind == "macro":
                dur = float(rng.uniform(*cfg.macro_duration_s))
            else:
                dur = float(rng.uniform(0.1, 0.3))
            hi = t_end - dur - cfg.min_gap_s
            if hi <= cfg.min_gap_s:
                continue  # clip too short for this event
            for _ in range(50):
                on = float(rng.uniform(cfg.min_gap_s, hi))
                off = on + dur
                if off > t_end - 1e-9 or on < 0:
                    continue
                if all(off + cfg.min_gap_s <= a or on >= b + cfg.min_gap_s for a, b in placed):
                    break
            else:
                continue  # clip too short / too busy: drop the event rather than overlap
            # Apex position within the event: expressions rise faster than they fall.
            frac = float(rng.uniform(0.3, 0.5)) if kind != "blink" else 0.5
            apex = round((on + frac * dur) * cfg.fps) / cfg.fps
            if not on < apex < off:
                apex = round(((on + off) / 2) * cfg.fps) / cfg.fps
                on, off = min(on, apex - 0.5 / cfg.fps), max(off, apex + 0.5 / cfg.fps)
            placed.append((on, off))
            if kind == "blink":
                label5, aus, inten = None, ("blink",), None
            else:
                label5, aus = exprs[int(rng.integers(len(exprs)))]
                lo, hi = cfg.micro_intensity if kind == "micro" else cfg.macro_intensity
                inten = float(np.clip(rng.uniform(lo, hi) * style.amplitude_habit, 0.05, 1.0))
            specs.append(
                {
                    "kind": kind,
                    "on": on,
                    "apex": apex,
                    "off": off,
                    "label5": label5,
                    "aus": aus,
                    "intensity": inten,
                }
            )
        specs.sort(key=lambda s: s["on"])
        return specs

    # -- render --------------------------------------------------------------------------
    def render(
        self, cfg: ClipConfig, subject_id: int = 1, seed: int = 0, clip_id: str | None = None
    ) -> SyntheticClip:
        """Render one clip. Same (cfg, subject_id, seed) -> bit-identical frames and truth."""
        style = SubjectStyle.from_id(subject_id)
        w, h = int(cfg.width), int(cfg.height)
        n = max(1, math.floor(cfg.duration_s * cfg.fps + 1e-9))
        stamps = np.arange(n, dtype=np.float64) / cfg.fps
        face_w = cfg.face_fraction * style.scale * w
        side = max(32, round(face_w * _CANVAS_SIDE / _FACE_WIDTH_PX))
        img, lm, iod, _, gx, gy = self._subject(style, side)
        bg = self._background(style, w, h)
        rng = np.random.default_rng([seed, subject_id, 0xC1])

        # Rigid motion: a few slow sinusoids (per clip random phases), centred placement.
        centre = np.array([w / 2.0, h * 0.45]) + rng.uniform(-0.05, 0.05, 2) * [w, h]
        fb_cx, fb_cy, fb_side = _FACE_BOX
        s = side / _CANVAS_SIDE
        face_c = np.array([(fb_cx - _CANVAS_X0) * s, (fb_cy - _CANVAS_Y0) * s])
        ph = rng.uniform(0, 2 * np.pi, 6)
        fr = rng.uniform(0.1, 0.5, 6)
        tx = (
            cfg.head_translation_px
            * 0.5
            * (
                np.sin(2 * np.pi * fr[0] * stamps + ph[0])
                + np.sin(2 * np.pi * fr[1] * stamps + ph[1])
            )
        )
        ty = (
            cfg.head_translation_px
            * 0.5
            * (
                np.sin(2 * np.pi * fr[2] * stamps + ph[2])
                + np.sin(2 * np.pi * fr[3] * stamps + ph[3])
            )
        )
        rot = cfg.head_rotation_deg * np.sin(2 * np.pi * fr[4] * stamps + ph[4])
        fl_ph = rng.uniform(0, 2 * np.pi)
        gain = 1.0 + cfg.flicker * (
            0.7 * np.sin(2 * np.pi * 1.3 * stamps + fl_ph) + 0.3 * rng.uniform(-1, 1, n)
        )

        # Sensor noise: a cached bank of noise images drawn in a seeded random order (not
        # cyclically, so no periodic pattern a network could lock on to).
        noise_idx = np.random.default_rng([seed, subject_id, 0x401]).integers(0, 8, n)

        specs = self.schedule(cfg, style, seed)
        active = []
        events: list[Event] = []
        for sp in specs:
            fld, peak = self._au(style, side, sp["aus"])
            if sp["intensity"] is None:  # blink: fixed lid travel, intensity by definition
                amp = 1.0
                inten = float(np.clip(peak / (REF_DISPLACEMENT_IOD * iod), 0, 1))
            else:
                inten = sp["intensity"]
                amp = inten * REF_DISPLACEMENT_IOD * iod / max(peak, 1e-9)
            env = envelope(stamps, sp["on"], sp["apex"], sp["off"]).astype(np.float32) * amp
            active.append((fld, env))
            on_f = math.floor(sp["on"] * cfg.fps + 1e-9)
            off_f = min(math.ceil(sp["off"] * cfg.fps - 1e-9), n - 1)
            apex_f = round(sp["apex"] * cfg.fps)
            events.append(
                Event(
                    kind=sp["kind"],
                    onset=on_f,
                    apex=apex_f,
                    offset=off_f,
                    onset_s=float(sp["on"]),
                    apex_s=float(sp["apex"]),
                    offset_s=float(sp["off"]),
                    label5=sp["label5"],
                    label3=_5_TO_3.get(sp["label5"]) if sp["label5"] else None,
                    aus=tuple(sp["aus"]),
                    intensity=round(inten, 6),
                )
            )

        noise = self._noise(seed, w, h, cfg.noise_sigma) if cfg.noise_sigma > 0 else None
        frames = np.empty((n, h, w, 3), np.uint8)
        boxes = np.zeros((n, 4), np.float64)
        names = tuple(ASTRONAUT_LANDMARKS)
        lms = np.zeros((n, len(names), 2), np.float64)
        lm_arr = np.array([lm[k] for k in names])
        for i in range(n):
            mx, my = None, None
            for fld, env in active:
                a = float(env[i])
                if a > 0:
                    if mx is None:
                        mx, my = gx.copy(), gy.copy()
                    mx -= a * fld[0]
                    my -= a * fld[1]
            face = (
                img
                if mx is None
                else cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            )
            # Rigid transform canvas -> output: rotate about the face centre, then place.
            m = cv2.getRotationMatrix2D((float(face_c[0]), float(face_c[1])), float(rot[i]), 1.0)
            m[:, 2] += centre + np.array([tx[i], ty[i]]) - face_c
            # Bounding box of the canvas in the output; warp only that region.
            corners = np.array([[0, 0, 1], [side, 0, 1], [0, side, 1], [side, side, 1]], float)
            pc = corners @ m.T
            x0 = max(int(np.floor(pc[:, 0].min())), 0)
            y0 = max(int(np.floor(pc[:, 1].min())), 0)
            x1 = min(int(np.ceil(pc[:, 0].max())), w)
            y1 = min(int(np.ceil(pc[:, 1].max())), h)
            out = bg.copy()
            if x1 > x0 and y1 > y0:
                mr = m.copy()
                mr[:, 2] -= (x0, y0)
                size = (x1 - x0, y1 - y0)
                w4 = cv2.warpAffine(
                    face, mr, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
                )
                wgt = w4[..., 3].astype(np.float32) * np.float32(1 / 255.0)
                out[y0:y1, x0:x1] = cv2.blendLinear(
                    cv2.cvtColor(w4, cv2.COLOR_BGRA2BGR), out[y0:y1, x0:x1], wgt, 1.0 - wgt
                )
            if gain[i] != 1.0:
                out = cv2.convertScaleAbs(out, alpha=float(gain[i]))
            if noise is not None:
                out = cv2.add(out, noise[noise_idx[i]], dtype=cv2.CV_8U)
            frames[i] = out
            lp = np.c_[lm_arr, np.ones(len(lm_arr))] @ m.T
            lms[i] = lp
            fc = m @ np.array([face_c[0], face_c[1], 1.0])
            fs = fb_side * s
            boxes[i] = (fc[0] - fs / 2, fc[1] - fs / 2, fs, fs)
        return SyntheticClip(
            frames=frames,
            stamps=stamps,
            fps=float(cfg.fps),
            subject=f"syn{subject_id:02d}",
            clip_id=clip_id or f"syn{subject_id:02d}_{seed:04d}",
            events=events,
            face_boxes=boxes,
            landmarks=lms,
            landmark_names=names,
            iod_px=float(iod),
            meta={
                "config": _cfg_dict(cfg),
                "subject_id": subject_id,
                "seed": seed,
                "intensity_definition": "peak |blur(D_onset->t)| / (0.15 * IOD), t<=apex",
            },
        )


def _cfg_dict(cfg: ClipConfig) -> dict:
    d = asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


_DEFAULT = SyntheticFaceGenerator()


def make_clip(cfg: ClipConfig | None = None, subject_id: int = 1, seed: int = 0) -> SyntheticClip:
    """Convenience wrapper with a module-level cache of subject canvases and fields."""
    return _DEFAULT.render(cfg or ClipConfig(), subject_id=subject_id, seed=seed)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m me_perception.learning.synthetic.generator --out DIR [...]`` writes a
    data set to disk."""
    import argparse

    from me_perception.learning.datasets.synthetic_io import write_dataset

    ap = argparse.ArgumentParser(description="Write a synthetic micro-expression data set.")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--clips-per-subject", type=int, default=2)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--face-fraction", type=float, default=0.28)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jpg", action="store_true", help="JPEG instead of lossless PNG")
    a = ap.parse_args(argv)
    cfg = ClipConfig(
        fps=a.fps,
        duration_s=a.duration,
        width=a.width,
        height=a.height,
        face_fraction=a.face_fraction,
    )
    folders = write_dataset(
        a.out,
        range(1, a.subjects + 1),
        a.clips_per_subject,
        cfg,
        a.seed,
        ".jpg" if a.jpg else ".png",
    )
    print(f"wrote {len(folders)} clips under {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
