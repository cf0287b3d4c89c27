"""What a synthetic clip is made from and what comes with it: the clip settings, a subject's
style, the ground-truth events and the rendered clip."""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from me_perception.model.config import LABEL_SETS

__all__ = ["ClipConfig", "Event", "SubjectStyle", "SyntheticClip", "config_dict", "sample_config"]


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
    classes: tuple[str, ...] = LABEL_SETS["casme2_5"]
    """Which 5-class labels expression events may take (e.g. drop 'others')."""
    n_head: int = 0
    """Discrete head movements (turn, nod or shift of 0.4-1 s, 0.05-0.15 IOD), recorded as
    events of kind "head"; 0 keeps clips made before this field existed identical."""


@dataclass(frozen=True)
class SubjectStyle:
    """Per-subject appearance and habits, derived deterministically from a subject id and an
    identity (the photograph, :mod:`.identities`).

    Identity augmentation, so that a model cannot learn one face: geometry
    (``identity_warp_iod``, ``scale``, ``mirror``), skin tone and exposure (``channel_gain``,
    ``contrast``, ``brightness``, ``gamma``), side light (a linear gain ramp of
    ``light_strength`` across the face towards ``light_dir_deg``), optical blur
    (``blur_iod``, Gaussian sigma in IOD units) and per-frame JPEG compression at render time
    (``jpeg_quality``, 0 = none).
    """

    subject_id: int
    identity_warp_iod: float
    channel_gain: tuple[float, float, float]
    contrast: float
    brightness: float
    scale: float
    background_seed: int
    amplitude_habit: float
    blink_habit: float
    identity: str = "astronaut"
    mirror: bool = False
    light_dir_deg: float = 0.0
    light_strength: float = 0.0
    gamma: float = 1.0
    blur_iod: float = 0.0
    jpeg_quality: int = 0

    @property
    def seed_parts(self) -> tuple[int, ...]:
        """Extra seed words for this identity (none for the astronaut: old seeds unchanged)."""
        return () if self.identity == "astronaut" else (zlib.crc32(self.identity.encode()),)

    @staticmethod
    def from_id(subject_id: int, identity: str = "astronaut") -> SubjectStyle:
        """Seeded variation; subject 0 is the unmodified photograph on a plain background.

        The draws of the fields that existed before identities were added are unchanged for
        the astronaut; the augmentation fields come from a separate stream.
        """
        base = SubjectStyle(0, 0.0, (1.0, 1.0, 1.0), 1.0, 0.0, 1.0, 0, 1.0, 1.0, identity)
        if subject_id == 0:
            return base
        extra = base.seed_parts
        rng = np.random.default_rng([int(subject_id), 0x5EED, *extra])
        gains = tuple(float(g) for g in rng.uniform(0.82, 1.15, size=3))
        old = dict(
            subject_id=int(subject_id),
            identity_warp_iod=float(rng.uniform(0.04, 0.10)),
            channel_gain=gains,
            contrast=float(rng.uniform(0.8, 1.2)),
            brightness=float(rng.uniform(-20, 20)),
            scale=float(rng.uniform(0.85, 1.15)),
            background_seed=int(rng.integers(1, 2**31 - 1)),
            amplitude_habit=float(rng.uniform(0.75, 1.25)),
            blink_habit=float(rng.uniform(0.5, 1.5)),
        )
        aug = np.random.default_rng([int(subject_id), 0xA06, *extra])
        return replace(
            base,
            **old,  # type: ignore[arg-type]
            mirror=bool(aug.random() < 0.5),
            light_dir_deg=float(aug.uniform(0.0, 360.0)),
            light_strength=float(aug.uniform(0.0, 0.35)),
            gamma=float(aug.uniform(0.8, 1.25)),
            blur_iod=float(aug.uniform(0.0, 0.015)),
            jpeg_quality=int(aug.integers(55, 96)) if aug.random() < 0.7 else 0,
        )


@dataclass
class Event:
    """One ground-truth event. Frame indices are inclusive; stamps are seconds from clip start.

    ``label5`` is the CASME II 5-class label, ``label3`` the MEGC 3-class label (None where
    the sample is excluded from the 3-class set, i.e. 'others', and for blinks). Blinks and
    head movements have no labels.
    """

    kind: str  # "micro" | "macro" | "blink" | "head"
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


def config_dict(cfg: ClipConfig) -> dict:
    """The clip settings as JSON-ready data (tuples as lists), for the clip's metadata."""
    d = asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def sample_config(seconds: float = 10.0, fps: float = 30.0) -> ClipConfig:
    """A webcam recording like the shipped sample's (``me_perception_make_sample``): three
    micro-expressions, one macro-expression, blinks and head motion, each event at least
    0.9 s from the others and from the start (trackers and baselines need a moment)."""
    return ClipConfig(
        fps=fps,
        duration_s=seconds,
        min_gap_s=0.9,
        n_micro=3,
        n_macro=1,
        blink_rate_hz=0.3,
        head_translation_px=4.0,
        head_rotation_deg=2.0,
    )
