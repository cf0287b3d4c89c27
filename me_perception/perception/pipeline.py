"""The perception pipeline of one camera stream, without ROS.

image -> measurement (front end: detect, track, choose, align; per-face motion) -> spotter
(the training-free ROI optical-flow spotter, or the network with its per-face feature buffers)
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
from me_perception.perception.detection import FaceDetector
from me_perception.perception.events import EventConfig, EventDetector, FaceEvent, Phase
from me_perception.perception.front_end import FrontEndConfig
from me_perception.perception.image_decoding import DecodedImage
from me_perception.perception.measurement import FaceMeasurement, MeasuredFrame
from me_perception.perception.motion import MotionConfig
from me_perception.perception.network_spotter import NetworkSpotter
from me_perception.perception.results import EventRecord, FaceState, FrameResult
from me_perception.perception.roi_spotter import RoiFlowSpotter, RoiSpotterConfig
from me_perception.perception.spotting import ROI_FLOW, SpotOutput, Spotter
from me_perception.perception.stamps import ns_to_s
from me_perception.perception.stream_clock import ClockConfig, StampKind, StreamClock, Tick

__all__ = [
    "DEFAULT_MODEL_DIR",
    "NETWORK",
    "SHIPPED_SPOTTER",
    "EventRecord",
    "FaceState",
    "FrameResult",
    "ModelNotFoundError",
    "Pipeline",
    "PipelineConfig",
    "analysis_step",
    "resolve_model_files",
]

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
DEFAULT_MODEL_DIR = RESOURCES / "default_model"
#: ``model_path`` value naming the shipped network (resources/default_model)
NETWORK = "network"
#: what ``model_path=""`` runs: the training-free spotter, because the shipped network does not
#: beat it by the margin the model card requires on faces it never saw (MODEL_CARD.md)
SHIPPED_SPOTTER = ROI_FLOW


def analysis_step(fps: float, rate_hz: float) -> int:
    """Faces of a ``fps`` camera are analysed every n-th frame at ``rate_hz`` (0: every frame):
    n is the smallest frame count reaching the analysis period less half a frame, so 200 fps at
    60 Hz is every 3rd frame (67 Hz) and 30 fps every frame. Training measures at this rate too.
    """
    if rate_hz <= 0 or fps <= 0:
        return 1
    return max(1, math.ceil(fps / rate_hz - 0.5))


class ModelNotFoundError(FileNotFoundError):
    """The configured model files do not exist."""


def resolve_model_files(model_path: str | os.PathLike[str] = "") -> tuple[Path, Path | None]:
    """Find ``(onnx, checkpoint-or-None)`` for a model directory, an .onnx file or "network"
    (the shipped network).

    A directory must hold ``model.onnx``; ``model.safetensors`` beside it enables the torch
    backend.
    """
    p = Path(model_path) if str(model_path) not in ("", NETWORK) else DEFAULT_MODEL_DIR
    if p.is_dir():
        onnx_path, ckpt = p / "model.onnx", p / "model.safetensors"
    else:
        onnx_path, ckpt = p, p.with_suffix(".safetensors")
    if not onnx_path.is_file():
        raise ModelNotFoundError(f"model file not found: {onnx_path}")
    return onnx_path, ckpt if ckpt.is_file() else None


def model_thresholds(metrics: dict[str, float]) -> tuple[float, float] | None:
    """The (on, off) event thresholds a model was trained with (chosen on validation data by
    the node's event logic, stored in its metadata), or None if it carries none."""
    on, off = metrics.get("on_threshold"), metrics.get("off_threshold")
    if on is None or off is None or not 0.0 <= off <= on <= 1.0:
        return None
    return float(on), float(off)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the pipeline needs; the node builds it from its ROS parameters.

    ``model_path``: "" runs :data:`SHIPPED_SPOTTER`, ``"roi_flow"`` the training-free spotter,
    ``"network"`` the shipped network, anything else a model directory or .onnx file.
    ``thresholds``: (on, off) for the event logic; None or a 0 takes the spotter's own (each
    spotter was tuned with its own). ``clock.nominal_fps`` is only the starting assumption:
    the stream clock measures the frame rate from the stamps.
    """

    model_path: str = ""
    backend: str = "auto"
    num_threads: int = 2
    engine_cache_dir: str = ""
    front_end: FrontEndConfig = field(default_factory=FrontEndConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    events: EventConfig = field(default_factory=EventConfig)
    thresholds: tuple[float, float] | None = None
    analysis_rate_hz: float = 60.0
    """Faces are analysed at most this often (stream time); the frames between repeat the last
    analysis with their own stamp. Expressions last 40 ms and more, so 60 Hz sees each of them,
    and a 200 fps camera costs what a 67 fps one does. 0: every frame."""
    motion: MotionConfig = field(default_factory=MotionConfig)
    roi_flow: RoiSpotterConfig = field(default_factory=RoiSpotterConfig)

    @property
    def uses_roi_flow(self) -> bool:
        return (self.model_path or SHIPPED_SPOTTER) == ROI_FLOW


@dataclass
class _FaceMemory:
    """Per-face state kept by the pipeline besides the feature buffer."""

    events: EventDetector
    onset_ns: int = 0
    apex_ns: int = 0
    offset_ns: int = 0
    label: str = ""
    confidence: float = 0.0
    kind: str = ""

    def remember(self, ev: FaceEvent) -> None:
        """Keep what the face's per-frame state repeats of its latest event."""
        self.kind = ev.kind.value
        if ev.phase == Phase.ONSET and ev.onset_ns != self.onset_ns:
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
        self.clock = StreamClock(cfg.clock)
        self.backend: InferenceBackend | None = None
        self.spotter: Spotter = self._spotter(cfg, backend)
        self.class_names = tuple(self.spotter.class_names)
        self.model_id = self.spotter.model_id
        crop = self.model_config.crop_size if self.model_config else 32
        gray = self.model_config.in_channels != 3 if self.model_config else True
        self.measurement = FaceMeasurement(
            cfg.front_end, cfg.motion, crop_size=crop, gray=gray, detector=detector
        )
        self.front_end = self.measurement.front_end
        on, off = self._thresholds(cfg.thresholds)
        self.events_config = replace(
            cfg.events, on_threshold=on, off_threshold=off, class_names=self.class_names
        )
        self._faces: dict[str, _FaceMemory] = {}
        self._last_states: list[FaceState] = []
        self._last_analysed_ns: int | None = None
        self._size = (0, 0)

    def _spotter(self, cfg: PipelineConfig, backend: InferenceBackend | None) -> Spotter:
        """The training-free spotter, or the network behind its backend."""
        self.model_config: ModelConfig | None = None
        if backend is None and cfg.uses_roi_flow:
            return RoiFlowSpotter(cfg.roi_flow)
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
            meta = read_onnx_metadata(onnx_path).metadata
            model_config = meta.config
            thresholds = model_thresholds(meta.metrics)
            try:
                backend.check()  # shapes and class count as the metadata says, finite
            except Exception:
                backend.close()
                raise
        else:
            model_config, thresholds = backend.config, None
        self.backend, self.model_config = backend, model_config
        fps = self.analysis_fps(self.clock.fps)
        if thresholds is None:
            return NetworkSpotter(backend, model_config, fps)
        return NetworkSpotter(backend, model_config, fps, thresholds=thresholds)

    def _thresholds(self, given: tuple[float, float] | None) -> tuple[float, float]:
        """(on, off) for the events: each given value > 0, else the spotter's own (off never
        above on)."""
        own_on, own_off = self.spotter.default_thresholds
        on = given[0] if given and given[0] > 0 else own_on
        off = given[1] if given and given[1] > 0 else min(own_off, on)
        return on, off

    def describe_backend(self) -> str:
        """What computes the scores, for diagnostics and reports."""
        if self.backend is None:
            return f"{ROI_FLOW} (training-free, no weights)"
        return self.backend.describe()

    # -- lifecycle ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every face and all temporal state (e.g. a new recording)."""
        for fid in list(self._faces):
            self._forget_face(fid)
        self.measurement.reset()
        self.spotter.restart()
        self.clock.reset()
        self._last_states = []

    def finish(self) -> list[EventRecord]:
        """End of the stream: close every open event (truncated) and forget the faces."""
        closed: list[EventRecord] = []
        for fid in list(self._faces):
            closed += self._forget_face(fid)
        return closed

    def close(self) -> None:
        """Release the inference backend (GPU memory, sessions)."""
        self.spotter.close()

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
        self.spotter.remove(face_id)
        self.measurement.forget(face_id)
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
            self.measurement.reset()
        elif tick.kind is StampKind.GAP:
            self.spotter.restart()  # open events end in the face loop
            self.measurement.restart()
        self._adopt_fps(tick, notes)
        return closed

    def _adopt_fps(self, tick: Tick, notes: list[str]) -> None:
        """A newly measured frame rate goes to the spotter (a network's buffers count frames)."""
        if tick.fps_changed:
            analysed = self.analysis_fps(tick.fps)
            restarted = self.spotter.set_fps(analysed)
            notes.append(
                f"frame rate {tick.fps:.1f} fps measured"
                + (f", faces analysed at {analysed:.1f} Hz" if analysed < tick.fps else "")
                + (": feature buffers restart (k and N changed in frames)" if restarted else "")
            )

    def analysis_fps(self, fps: float) -> float:
        """The rate faces are analysed at for a camera of ``fps``: every n-th frame, n the
        smallest count that spans the analysis period (see :meth:`wants_image`). This, not the
        camera's rate, is what a network's frame-counted buffers see."""
        return fps / analysis_step(fps, self.config.analysis_rate_hz)

    # -- main entry ---------------------------------------------------------------------------
    def wants_image(self, stamp_ns: int) -> bool:
        """Whether the frame with this stamp will be analysed (else its image need not even
        be decoded: pass ``None`` to :meth:`process`). Conservative: any stamp that is not
        plainly between two analyses says yes."""
        last = self._last_analysed_ns
        rate = self.config.analysis_rate_hz
        if rate <= 0 or last is None or stamp_ns <= last:
            return True
        return stamp_ns - last >= self._analysis_period_ns()

    def _analysis_period_ns(self) -> float:
        """1 / analysis_rate_hz, less half a frame so a 200 fps stream is analysed every 3rd
        frame (67 Hz) rather than every 4th (50 Hz)."""
        return 1e9 / self.config.analysis_rate_hz - 0.5e9 / max(self.clock.fps, 1.0)

    def process(self, image: DecodedImage | None, stamp_ns: int, frame_id: str = "") -> FrameResult:
        """Run one frame. ``stamp_ns`` is the image header stamp in nanoseconds; ``image`` may
        be None for a frame :meth:`wants_image` declined."""
        t0 = time.perf_counter()
        notes: list[str] = []
        due = self.wants_image(int(stamp_ns))  # decided before the clock sees the stamp
        tick = self.clock.observe(int(stamp_ns))
        if not tick.advances:
            return self._repeat(tick, frame_id, t0)
        if image is None or not due:
            return self._hold(tick, frame_id, t0)
        self._last_analysed_ns = tick.stamp_ns
        events = self._apply_time(tick, notes)
        measured = self.measurement.process(image, ns_to_s(tick.stamp_ns))
        frame = measured.frame
        self._size = (frame.width, frame.height)
        timings = dict(frame.timings_ms)
        for fid in frame.lost:
            events += self._forget_face(fid)
        if frame.tracked > len(frame.faces):
            notes.append(
                f"{frame.tracked} faces tracked, processing {len(frame.faces)} (max_faces): "
                "the largest, each kept while it is tracked"
            )
        t_model = time.perf_counter()
        out = self.spotter.step(frame.face_ids, measured.motion, frame.crops)
        timings["model"] = (time.perf_counter() - t_model) * 1e3
        notes += [
            f"face {fid}: non-finite network output, its state was reset"
            for fid, ok in zip(frame.face_ids, out.valid, strict=True)
            if not ok
        ]
        faces = self._last_states = self._face_states(measured, out, tick, events)
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

    def _repeat(self, tick: Tick, frame_id: str, t0: float) -> FrameResult:
        """A repeated stamp is not a new instant: nothing runs, the previous frame's faces are
        reported again (same stamp), no event, a note."""
        return self._previous(tick, frame_id, t0, [tick.note or ""], analysed=False)

    def _hold(self, tick: Tick, frame_id: str, t0: float) -> FrameResult:
        """A frame between two analyses: the clock saw it (rates stay measured), the faces keep
        their last state, stamped with this frame."""
        notes = [tick.note] if tick.note else []
        self._adopt_fps(tick, notes)
        return self._previous(tick, frame_id, t0, notes, analysed=False)

    def _previous(
        self, tick: Tick, frame_id: str, t0: float, notes: list[str], analysed: bool
    ) -> FrameResult:
        return FrameResult(
            stamp_ns=tick.stamp_ns,
            frame_id=frame_id,
            width=self._size[0],
            height=self._size[1],
            faces=list(self._last_states),
            events=[],
            class_names=self.class_names,
            model_id=self.model_id,
            timings_ms={"total": (time.perf_counter() - t0) * 1e3},
            notes=notes,
            stamp_kind=tick.kind,
            analysed=analysed,
        )

    def _face_states(
        self, measured: MeasuredFrame, out: SpotOutput, tick: Tick, events: list[EventRecord]
    ) -> list[FaceState]:
        """Per-face states of this frame; events the faces complete are appended to ``events``
        (on a gap, the open events end first)."""
        frame = measured.frame
        faces: list[FaceState] = []
        for i, (track, box) in enumerate(zip(frame.faces, frame.boxes, strict=True)):
            fid = track.id
            memory = self._faces.get(fid)
            if memory is None:
                memory = self._faces[fid] = _FaceMemory(EventDetector(self.events_config))
            if tick.kind is StampKind.GAP:
                events += [EventRecord(fid, box, ev) for ev in memory.events.reset()]
            if not out.valid[i]:
                faces.append(self._invalid_state(fid, box, track.score))
                continue
            probs = out.class_probs[i]
            intensity = float(out.intensity[i])
            for ev in memory.events.update(
                tick.stamp_ns,
                float(out.expression[i]),
                probs,
                intensity,
                level=float(out.level[i]),
                reject=bool(out.reject[i]),
            ):
                events.append(EventRecord(fid, box, ev))
                memory.remember(ev)
            spot = (float(out.p_micro[i]), float(out.p_macro[i]))
            faces.append(self._state(fid, box, track.score, memory, spot, probs, intensity))
        return faces

    def _state(
        self,
        fid: str,
        box: tuple[int, int, int, int],
        det_score: float,
        memory: _FaceMemory,
        spot: tuple[float, float],
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
            spotting_score=spot[0],
            macro_score=spot[1],
            class_probabilities=tuple(float(p) for p in probs),
            label=label,
            confidence=confidence,
            intensity=float(min(max(intensity, 0.0), 1.0)) if math.isfinite(intensity) else 0.0,
            onset_ns=memory.onset_ns,
            apex_ns=memory.apex_ns,
            offset_ns=memory.offset_ns,
            kind=memory.kind,
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
