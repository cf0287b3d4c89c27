"""What a synthetic clip is made from and what comes with it: the clip settings, a subject's
style, the ground-truth events and the rendered clip."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from me_perception.model.config import LABEL_SETS

__all__ = ["ClipConfig", "Event", "SubjectStyle", "SyntheticClip", "config_dict"]


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


def config_dict(cfg: ClipConfig) -> dict:
    """The clip settings as JSON-ready data (tuples as lists), for the clip's metadata."""
    d = asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
