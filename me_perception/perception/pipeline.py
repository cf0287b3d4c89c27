"""The perception pipeline of one camera stream, without ROS.

image -> faces (detect + track) -> aligned crops -> per-face feature buffers -> network step
-> event logic -> :class:`FrameResult`.

The live node and the offline bag tool both feed frames to this class, so they share one code
path and give identical results for identical (image, stamp) sequences. Everything that depends
on time uses the *frame stamps* passed in, never the wall clock: results do not depend on how
fast frames arrive, which is what makes replay deterministic.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from me_perception.backends import BackendSelection, InferenceBackend, create_backend
from me_perception.model.config import ModelConfig
from me_perception.model.export import read_onnx_metadata
from me_perception.perception.detection import FaceDetector
from me_perception.perception.events import EventConfig, EventDetector, FaceEvent, Phase
from me_perception.perception.feature_buffer import BufferConfig, FeatureBufferBank
from me_perception.perception.front_end import FrontEnd, FrontEndConfig
from me_perception.perception.image_decoding import DecodedImage

_LOG = logging.getLogger(__name__)

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
DEFAULT_MODEL_DIR = RESOURCES / "default_model"

NS = 1_000_000_000


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

    ``nominal_fps`` is only the starting assumption: the frame rate is measured from the frame
    stamps (median interval of the last ``fps_window`` frames) and the feature buffers adopt it
    when it differs by more than ``fps_tolerance`` (relative), so k and N stay in *seconds*.
    """

    model_path: str = ""
    backend: str = "auto"
    num_threads: int = 2
    engine_cache_dir: str = ""
    front_end: FrontEndConfig = field(default_factory=FrontEndConfig)
    nominal_fps: float = 30.0
    fps_window: int = 30
    fps_tolerance: float = 0.2
    max_gap_s: float = 0.5
    events: EventConfig = field(default_factory=EventConfig)

    def __post_init__(self) -> None:
        if self.nominal_fps <= 0:
            raise ValueError("nominal_fps must be > 0")


@dataclass(frozen=True)
class FaceState:
    """One tracked face at one frame."""

    face_id: str
    box: tuple[int, int, int, int]  # x, y, width, height in pixels (clipped to the image)
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
    box: tuple[int, int, int, int]
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


@dataclass
class _FaceMemory:
    """Per-face state kept by the pipeline besides the feature buffer."""

    events: EventDetector
    onset_ns: int = 0
    apex_ns: int = 0
    offset_ns: int = 0
    label: str = ""
    confidence: float = 0.0


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
        self._fps = cfg.nominal_fps
        self._buffer_config = BufferConfig.from_model(
            self.model_config, cfg.nominal_fps, max_gap_s=cfg.max_gap_s
        )
        self._intervals: deque[int] = deque(maxlen=cfg.fps_window)
        self._reset_state()

    # -- lifecycle ----------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.front_end.reset()
        self.bank = FeatureBufferBank(self._buffer_config)
        self._faces: dict[str, _FaceMemory] = {}
        self._last_stamp_ns: int | None = None
        self._intervals.clear()

    def reset(self) -> None:
        """Forget every face and all temporal state (e.g. a new recording)."""
        self._reset_state()

    def close(self) -> None:
        """Release the inference backend (GPU memory, sessions)."""
        self.backend.close()

    @property
    def fps(self) -> float:
        """Frame rate currently assumed by the feature buffers."""
        return self._fps

    @property
    def tracked_faces(self) -> int:
        return len(self._faces)

    # -- time ---------------------------------------------------------------------------------
    def _observe_time(self, stamp_ns: int, notes: list[str]) -> list[EventRecord]:
        """Handle time going backwards (bag loop) and measure the frame rate."""
        closed: list[EventRecord] = []
        last = self._last_stamp_ns
        if last is not None and stamp_ns < last:
            notes.append(f"time went backwards by {(last - stamp_ns) / 1e6:.1f} ms: state reset")
            for fid in list(self._faces):
                closed += self._forget_face(fid)
            self._reset_state()
        elif last is not None and stamp_ns > last:
            gap = stamp_ns - last
            if gap <= self.config.max_gap_s * NS:
                self._intervals.append(gap)
                self._maybe_adopt_fps()
            else:
                notes.append(f"frame gap of {gap / 1e6:.0f} ms: face buffers restart")
        self._last_stamp_ns = stamp_ns
        return closed

    def _maybe_adopt_fps(self) -> None:
        if len(self._intervals) < min(10, self.config.fps_window):
            return
        measured = NS / float(np.median(np.fromiter(self._intervals, np.int64)))
        if abs(measured - self._fps) / self._fps > self.config.fps_tolerance:
            _LOG.info("frame rate %.1f fps measured (was %.1f): buffers adapt", measured, self._fps)
            self._fps = measured
            self.bank.set_fps(measured)
            self._buffer_config = self.bank.config

    # -- faces --------------------------------------------------------------------------------
    def _forget_face(self, face_id: str) -> list[EventRecord]:
        """Drop a face; its open event, if any, is closed (truncated). The face is gone, so
        the closing events carry an empty box."""
        memory = self._faces.pop(face_id, None)
        self.bank.remove(face_id)
        if memory is None:
            return []
        return [EventRecord(face_id, (0, 0, 0, 0), ev) for ev in memory.events.reset()]

    # -- main entry ---------------------------------------------------------------------------
    def process(self, image: DecodedImage, stamp_ns: int, frame_id: str = "") -> FrameResult:
        """Run one frame. ``stamp_ns`` is the image header stamp in nanoseconds."""
        t0 = time.perf_counter()
        notes: list[str] = []
        stamp_ns = int(stamp_ns)
        events = self._observe_time(stamp_ns, notes)
        frame = self.front_end.process(image)
        timings = dict(frame.timings_ms)
        for fid in frame.lost:
            events += self._forget_face(fid)
        if frame.tracked > len(frame.faces):
            notes.append(
                f"{frame.tracked} faces tracked, processing {len(frame.faces)} (max_faces): "
                "the largest, each kept while it is tracked"
            )
        tracks, face_ids, boxes = frame.faces, frame.face_ids, frame.boxes

        t_model = time.perf_counter()
        inputs = self.bank.gather(face_ids, frame.crops, stamp_ns / NS)
        outputs = self.backend.step(inputs)
        timings["model"] = (time.perf_counter() - t_model) * 1e3
        # A face whose output is not finite is reset by the bank (never stored in its history).
        bad = set(self.bank.scatter(face_ids, outputs))
        notes += [f"face {fid}: non-finite network output, its state was reset" for fid in bad]

        faces: list[FaceState] = []
        for i, (fid, track, box) in enumerate(zip(face_ids, tracks, boxes, strict=True)):
            memory = self._faces.get(fid)
            if memory is None:
                memory = self._faces[fid] = _FaceMemory(EventDetector(self.events_config))
            if fid in bad:
                faces.append(self._invalid_state(fid, box, track.score))
                continue
            spot = outputs.spot_probs[i]
            probs = outputs.class_probs[i]
            intensity = float(outputs.intensity[i, 0])
            for ev in memory.events.update(stamp_ns, float(spot[1]), probs, intensity):
                events.append(EventRecord(fid, box, ev))
                self._remember(memory, ev)
            faces.append(self._state(fid, box, track.score, memory, spot, probs, intensity))
        timings["total"] = (time.perf_counter() - t0) * 1e3
        return FrameResult(
            stamp_ns=stamp_ns,
            frame_id=frame_id,
            width=frame.width,
            height=frame.height,
            faces=faces,
            events=events,
            class_names=self.class_names,
            model_id=self.model_id,
            timings_ms=timings,
            notes=notes,
        )

    @staticmethod
    def _remember(memory: _FaceMemory, ev: FaceEvent) -> None:
        if ev.phase == Phase.ONSET:
            memory.onset_ns, memory.apex_ns, memory.offset_ns = ev.onset_ns, 0, 0
            memory.label, memory.confidence = "", 0.0
        if ev.apex_ns:
            memory.apex_ns = ev.apex_ns
        if ev.offset_ns:
            memory.offset_ns = ev.offset_ns
        if ev.label:
            memory.label, memory.confidence = ev.label, ev.confidence

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
