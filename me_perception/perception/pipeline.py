"""The perception pipeline of one camera stream, without ROS.

image -> front end (detect, track, choose, align) -> per-face feature buffers -> network step
-> event logic -> :class:`FrameResult`, with the stream clock deciding what each frame's stamp
means for the temporal state.

The live node and the offline bag tool both feed frames to this class, so they share one code
path and give identical results for identical (image, stamp) sequences. Everything that depends
on time uses the *frame stamps* passed in, never the wall clock: results do not depend on how
fast frames arrive, which is what makes replay deterministic. What a repeated stamp, a frame
gap or time going backwards does is the stream clock's rule
(:mod:`me_perception.perception.stream_clock`), and each such reset is written in the frame's
``notes``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from me_perception.backends import BackendSelection, InferenceBackend, create_backend
from me_perception.model.config import ModelConfig
from me_perception.model.export import read_onnx_metadata
from me_perception.model.step_io import StepOutputs
from me_perception.perception.detection import FaceDetector
from me_perception.perception.events import EventConfig, EventDetector, FaceEvent, Phase
from me_perception.perception.feature_buffer import BufferConfig, FeatureBufferBank, ResetReason
from me_perception.perception.front_end import FrontEnd, FrontEndConfig, FrontEndFrame, PixelBox
from me_perception.perception.image_decoding import DecodedImage
from me_perception.perception.stream_clock import ClockConfig, StampKind, StreamClock, Tick

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
DEFAULT_MODEL_DIR = RESOURCES / "default_model"


class ModelNotFoundError(FileNotFoundError):
    """The configured model files do not exist."""


def resolve_model_files(model_path: str | os.PathLike[str] = "") -> tuple[Path, Path | None]:
    """Find ``(onnx, checkpoint-or-None)`` for a model directory, an .onnx file or "" (default).

    A directory must hold ``model.onnx``; ``model.safetensors`` beside it enables the torch
    backend.
    """
    p = Path(model_path) if str(model_path) else DEFAULT_MODEL_DIR
    if p.is_dir():
        onnx_path, ckpt = p / "model.onnx", p / "model.safetensors"
    else:
        onnx_path, ckpt = p, p.with_suffix(".safetensors")
    if not onnx_path.is_file():
        raise ModelNotFoundError(f"model file not found: {onnx_path}")
    return onnx_path, ckpt if ckpt.is_file() else None


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the pipeline needs; the node builds it from its ROS parameters.

    ``clock.nominal_fps`` is only the starting assumption: the stream clock measures the frame
    rate from the stamps and the feature buffers adopt it, so k and N stay in *seconds*.
    """

    model_path: str = ""
    backend: str = "auto"
    num_threads: int = 2
    engine_cache_dir: str = ""
    front_end: FrontEndConfig = field(default_factory=FrontEndConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    events: EventConfig = field(default_factory=EventConfig)


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


@dataclass
class _FaceMemory:
    """Per-face state kept by the pipeline besides the feature buffer."""

    events: EventDetector
    onset_ns: int = 0
    apex_ns: int = 0
    offset_ns: int = 0
    label: str = ""
    confidence: float = 0.0

    def remember(self, ev: FaceEvent) -> None:
        """Keep what the face's per-frame state repeats of its latest event."""
        if ev.phase == Phase.ONSET:
            self.onset_ns, self.apex_ns, self.offset_ns = ev.onset_ns, 0, 0
            self.label, self.confidence = "", 0.0
        if ev.apex_ns:
            self.apex_ns = ev.apex_ns
        if ev.offset_ns:
            self.offset_ns = ev.offset_ns
        if ev.label:
            self.label, self.confidence = ev.label, ev.confidence


class Pipeline:
    """Per-stream pipeline. Not thread-safe: one caller at a time (the node's worker)."""

    def __init__(
        self,
        config: PipelineConfig | None = None,
        *,
        backend: InferenceBackend | None = None,
        detector: FaceDetector | None = None,
    ) -> None:
        self.config = cfg = config or PipelineConfig()
        self.selection = BackendSelection()
        if backend is None:
            onnx_path, ckpt = resolve_model_files(cfg.model_path)
            backend = create_backend(
                cfg.backend,
                onnx_path=onnx_path,
                checkpoint=ckpt,
                intra_op_threads=cfg.num_threads,
                engine_cache_dir=cfg.engine_cache_dir or None,
                max_batch=cfg.front_end.max_faces,
                selection=self.selection,
            )
            self.model_config: ModelConfig = read_onnx_metadata(onnx_path).config
            try:
                backend.check()  # shapes and class count as the metadata says, finite
            except Exception:
                backend.close()
                raise
        else:
            self.model_config = backend.config
        self.backend = backend
        self.class_names = tuple(self.model_config.classes)
        self.model_id = backend.model_id
        self.front_end = FrontEnd(
            cfg.front_end,
            crop_size=self.model_config.crop_size,
            gray=self.model_config.in_channels == 1,
            detector=detector,
        )
        self.events_config = replace(cfg.events, class_names=self.class_names)
        self.clock = StreamClock(cfg.clock)
        self.bank = FeatureBufferBank(BufferConfig.from_model(self.model_config, self.clock.fps))
        self._faces: dict[str, _FaceMemory] = {}
        self._last_states: list[FaceState] = []

    # -- lifecycle ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every face and all temporal state (e.g. a new recording)."""
        for fid in list(self._faces):
            self._forget_face(fid)
        self.front_end.reset()
        self.clock.reset()
        self._last_states = []

    def close(self) -> None:
        """Release the inference backend (GPU memory, sessions)."""
        self.backend.close()

    @property
    def fps(self) -> float:
        """Frame rate currently assumed (measured by the stream clock)."""
        return self.clock.fps

    @property
    def tracked_faces(self) -> int:
        return len(self._faces)

    # -- time and faces -----------------------------------------------------------------------
    def _forget_face(self, face_id: str) -> list[EventRecord]:
        """Drop a face; its open event, if any, is closed (truncated). The face is gone, so
        the closing events carry an empty box."""
        memory = self._faces.pop(face_id, None)
        self.bank.remove(face_id)
        if memory is None:
            return []
        return [EventRecord(face_id, (0, 0, 0, 0), ev) for ev in memory.events.reset()]

    def _apply_time(self, tick: Tick, notes: list[str]) -> list[EventRecord]:
        """Act on the clock's decision before the frame is processed (see stream_clock)."""
        if tick.note:
            notes.append(tick.note)
        closed: list[EventRecord] = []
        if tick.kind is StampKind.BACKWARDS:
            for fid in list(self._faces):
                closed += self._forget_face(fid)
            self.front_end.reset()
        elif tick.kind is StampKind.GAP:
            self.bank.restart(ResetReason.TIME_GAP)  # open events end in the face loop
        if tick.fps_changed:
            restarted = self.bank.set_fps(tick.fps)
            notes.append(
                f"frame rate {tick.fps:.1f} fps measured: feature buffers "
                + ("restart (k and N changed in frames)" if restarted else "adapt")
            )
        return closed

    # -- main entry ---------------------------------------------------------------------------
    def process(self, image: DecodedImage, stamp_ns: int, frame_id: str = "") -> FrameResult:
        """Run one frame. ``stamp_ns`` is the image header stamp in nanoseconds."""
        t0 = time.perf_counter()
        notes: list[str] = []
        tick = self.clock.observe(int(stamp_ns))
        if not tick.advances:
            return self._repeat(tick, image, frame_id, t0)
        events = self._apply_time(tick, notes)
        frame = self.front_end.process(image)
        timings = dict(frame.timings_ms)
        for fid in frame.lost:
            events += self._forget_face(fid)
        if frame.tracked > len(frame.faces):
            notes.append(
                f"{frame.tracked} faces tracked, processing {len(frame.faces)} (max_faces): "
                "the largest, each kept while it is tracked"
            )
        t_model = time.perf_counter()
        outputs = self.backend.step(self.bank.gather(frame.face_ids, frame.crops))
        # A face whose output is not finite is never stored in its history (the bank resets it).
        bad = set(self.bank.scatter(frame.face_ids, outputs))
        timings["model"] = (time.perf_counter() - t_model) * 1e3
        # Non-finite head outputs (scores, classes, intensity) are never published either.
        heads = np.concatenate([outputs.spot_probs, outputs.class_probs, outputs.intensity], axis=1)
        bad |= {
            fid
            for fid, row in zip(frame.face_ids, heads, strict=True)
            if not np.isfinite(row).all()
        }
        notes += [f"face {fid}: non-finite network output, its state was reset" for fid in bad]
        faces = self._last_states = self._face_states(frame, outputs, bad, tick, events)
        timings["total"] = (time.perf_counter() - t0) * 1e3
        return FrameResult(
            stamp_ns=tick.stamp_ns,
            frame_id=frame_id,
            width=frame.width,
            height=frame.height,
            faces=faces,
            events=events,
            class_names=self.class_names,
            model_id=self.model_id,
            timings_ms=timings,
            notes=notes,
            stamp_kind=tick.kind,
        )

    def _repeat(self, tick: Tick, image: DecodedImage, frame_id: str, t0: float) -> FrameResult:
        """A repeated stamp is not a new instant: nothing runs, the previous frame's faces are
        reported again (same stamp), no event, a note."""
        return FrameResult(
            stamp_ns=tick.stamp_ns,
            frame_id=frame_id,
            width=image.width,
            height=image.height,
            faces=list(self._last_states),
            events=[],
            class_names=self.class_names,
            model_id=self.model_id,
            timings_ms={"total": (time.perf_counter() - t0) * 1e3},
            notes=[tick.note or ""],
            stamp_kind=tick.kind,
        )

    def _face_states(
        self,
        frame: FrontEndFrame,
        outputs: StepOutputs,
        bad: set[str],
        tick: Tick,
        events: list[EventRecord],
    ) -> list[FaceState]:
        """Per-face states of this frame; events the faces complete are appended to ``events``
        (on a gap, the open events end first)."""
        faces: list[FaceState] = []
        for i, (track, box) in enumerate(zip(frame.faces, frame.boxes, strict=True)):
            fid = track.id
            memory = self._faces.get(fid)
            if memory is None:
                memory = self._faces[fid] = _FaceMemory(EventDetector(self.events_config))
            if tick.kind is StampKind.GAP:
                events += [EventRecord(fid, box, ev) for ev in memory.events.reset()]
            if fid in bad:
                faces.append(self._invalid_state(fid, box, track.score))
                continue
            spot, probs = outputs.spot_probs[i], outputs.class_probs[i]
            intensity = float(outputs.intensity[i, 0])
            for ev in memory.events.update(tick.stamp_ns, float(spot[1]), probs, intensity):
                events.append(EventRecord(fid, box, ev))
                memory.remember(ev)
            faces.append(self._state(fid, box, track.score, memory, spot, probs, intensity))
        return faces

    def _state(
        self,
        fid: str,
        box: tuple[int, int, int, int],
        det_score: float,
        memory: _FaceMemory,
        spot: np.ndarray,
        probs: np.ndarray,
        intensity: float,
    ) -> FaceState:
        phase = memory.events.phase
        if phase == Phase.NONE:
            label, confidence = "", 0.0
        elif memory.label:
            label, confidence = memory.label, memory.confidence
        else:
            k = int(np.argmax(probs))
            label, confidence = self.class_names[k], float(probs[k])
        return FaceState(
            face_id=fid,
            box=box,
            detection_score=float(det_score),
            phase=phase,
            spotting_score=float(spot[1]),
            macro_score=float(spot[2]),
            class_probabilities=tuple(float(p) for p in probs),
            label=label,
            confidence=confidence,
            intensity=float(min(max(intensity, 0.0), 1.0)) if math.isfinite(intensity) else 0.0,
            onset_ns=memory.onset_ns,
            apex_ns=memory.apex_ns,
            offset_ns=memory.offset_ns,
        )

    def _invalid_state(self, fid: str, box: tuple[int, int, int, int], score: float) -> FaceState:
        n = len(self.class_names)
        return FaceState(
            face_id=fid,
            box=box,
            detection_score=float(score),
            phase=Phase.NONE,
            spotting_score=0.0,
            macro_score=0.0,
            class_probabilities=tuple([1.0 / n] * n),
            label="",
            confidence=0.0,
            intensity=0.0,
            valid=False,
        )
