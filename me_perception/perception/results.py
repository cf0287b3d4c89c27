"""What the pipeline reports per frame: each face's state, the events of the frame, and the
frame's own facts (stamp, size, what the stream clock made of its stamp, notes).

Plain dataclasses, ROS-free: the node turns them into messages (``ros/messages.py``), the
offline tools into files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from me_perception.perception.events import FaceEvent, Phase
from me_perception.perception.front_end import PixelBox
from me_perception.perception.stream_clock import StampKind

__all__ = ["EventRecord", "FaceState", "FrameResult"]


@dataclass(frozen=True)
class FaceState:
    """One tracked face at one frame."""

    face_id: str
    box: PixelBox  # x, y, width, height in pixels (clipped to the image)
    detection_score: float
    phase: Phase
    spotting_score: float
    macro_score: float
    class_probabilities: tuple[float, ...]
    label: str
    confidence: float
    intensity: float
    onset_ns: int = 0
    apex_ns: int = 0
    offset_ns: int = 0
    valid: bool = True  # False when the network produced non-finite outputs for this face
    kind: str = ""  # "micro" | "macro" of the current/last event, "" before any


@dataclass(frozen=True)
class EventRecord:
    """An event of one face, with the face's box at the frame that produced it."""

    face_id: str
    box: PixelBox
    event: FaceEvent


@dataclass
class FrameResult:
    """What the pipeline made of one frame."""

    stamp_ns: int
    frame_id: str
    width: int
    height: int
    faces: list[FaceState]
    events: list[EventRecord]
    class_names: tuple[str, ...]
    model_id: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # diagnostics: resets, NaN outputs, ...
    stamp_kind: StampKind = StampKind.FRESH  # the stream clock's decision for this frame
    analysed: bool = True  # False: between two analysed frames (analysis_rate_hz)
