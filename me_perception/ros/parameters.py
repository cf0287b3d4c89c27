"""The node's parameters: one table with defaults, descriptions and ranges (no ROS import).

The node declares every entry with its description and range, validates changes against it,
and builds the :class:`~me_perception.perception.pipeline.PipelineConfig` from the values. The
launch file and config/me_perception.yaml use the same names. Every parameter is read at
configure: changes made while the node is configured take effect at the next configure
(lifecycle: deactivate, cleanup, configure, activate). A double parameter accepts an integer
(``nominal_fps:=25`` is what users type); any other mismatch of kind or range is refused with a
reason. QoS is not a parameter of ours: rclpy's standard
``qos_overrides.<topic>.<entity>.<policy>`` parameters apply (see docs/node.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from me_perception.backends import BACKEND_NAMES
from me_perception.perception.detection.haar import HaarDetectorConfig
from me_perception.perception.events import EventConfig
from me_perception.perception.face_tracking import TrackerConfig
from me_perception.perception.front_end import FrontEndConfig
from me_perception.perception.pipeline import PipelineConfig
from me_perception.perception.stream_clock import ClockConfig


@dataclass(frozen=True)
class ParameterSpec:
    """One declared parameter. ``low``/``high`` bound numbers, ``choices`` bound strings."""

    name: str
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def validate(self, value: Any) -> str | None:
        """Reason the value is refused, or None when it is acceptable."""
        if isinstance(self.default, bool):
            return None if isinstance(value, bool) else f"{self.name} must be a bool"
        if isinstance(self.default, int) and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            return f"{self.name} must be an integer"
        if isinstance(self.default, float) and (
            isinstance(value, bool) or not isinstance(value, (int, float))
        ):
            return f"{self.name} must be a number"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{self.name}={value} is not a finite number"
        if isinstance(self.default, str) and not isinstance(value, str):
            return f"{self.name} must be a string"
        if self.low is not None and value < self.low:
            return f"{self.name}={value} is below the minimum {self.low}"
        if self.high is not None and value > self.high:
            return f"{self.name}={value} is above the maximum {self.high}"
        if self.choices and value not in self.choices:
            return f"{self.name}={value!r} is not one of {', '.join(self.choices)}"
        return None


_E = EventConfig()
_D = HaarDetectorConfig()
_T = TrackerConfig()
_F = FrontEndConfig()

PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("autostart", False, "Configure and activate on start-up (no lifecycle manager)"),
    ParameterSpec(
        "image_transport",
        "raw",
        "Subscribe to sensor_msgs/Image on 'image' (raw) or CompressedImage on "
        "'image/compressed' (compressed)",
        choices=("raw", "compressed"),
    ),
    ParameterSpec(
        "model_path",
        "",
        "Spotter: roi_flow (training-free), network (the shipped network), a model directory "
        "or .onnx file; empty: the shipped default (roi_flow)",
    ),
    ParameterSpec(
        "backend",
        "auto",
        "Inference backend; auto: TensorRT > ONNX Runtime CUDA > ONNX Runtime CPU > PyTorch",
        choices=BACKEND_NAMES,
    ),
    ParameterSpec("num_threads", 2, "CPU threads of ONNX Runtime / PyTorch", 1, 64),
    ParameterSpec(
        "engine_cache_dir", "", "TensorRT engine cache directory; empty: ~/.cache/me_perception"
    ),
    ParameterSpec(
        "max_faces",
        _F.max_faces,
        "Faces processed per frame: the largest; a processed face keeps its slot while tracked",
        1,
        64,
    ),
    ParameterSpec(
        "nominal_fps",
        ClockConfig().nominal_fps,
        "Frame rate assumed until it is measured from the image stamps (frames/s)",
        1.0,
        1000.0,
    ),
    ParameterSpec(
        "analysis_rate",
        PipelineConfig().analysis_rate_hz,
        "Faces are analysed at most this often per second of stream time; frames between "
        "repeat the last analysis with their own stamp (a 200 fps camera costs what a 67 fps "
        "one does); 0: every frame",
        0.0,
        1000.0,
    ),
    ParameterSpec(
        "detection.full_every",
        _F.detect_full_every,
        "Full-image face detection every n frames; tracked faces are re-detected in between",
        1,
        100,
    ),
    ParameterSpec(
        "detection.slices",
        _F.detect_slices,
        "A full-image pass is spread over this many frames (<= detection.full_every)",
        1,
        100,
    ),
    ParameterSpec(
        "detection.width",
        _D.detect_width,
        "Width (pixels) the image is resized to for full-image detection",
        80,
        4096,
    ),
    ParameterSpec("detection.min_face_px", _D.min_face_px, "Smallest face (pixels)", 8, 4096),
    ParameterSpec(
        "detection.min_neighbors", _D.min_neighbors, "Cascade evidence needed per face", 1, 50
    ),
    ParameterSpec(
        "tracking.confirm_hits", _T.confirm_hits, "Detections before a face is reported", 1, 100
    ),
    ParameterSpec(
        "tracking.max_misses", _T.max_misses, "Missed detections before a face is dropped", 0, 1000
    ),
    ParameterSpec(
        "events.on_threshold",
        0.0,
        "Expression score that starts an event; 0 = the spotter's own (roi_flow 0.5, a network "
        "the threshold chosen in its training)",
        0.0,
        1.0,
    ),
    ParameterSpec(
        "events.off_threshold",
        0.0,
        "Expression score below which an event may end; 0 = the spotter's own (at most on)",
        0.0,
        1.0,
    ),
    ParameterSpec(
        "events.min_duration", _E.min_duration_s, "Shorter segments are noise (s)", 0.0, 1.0
    ),
    ParameterSpec(
        "events.max_micro_duration",
        _E.max_micro_duration_s,
        "Longer segments are macro-expressions (s)",
        0.04,
        5.0,
    ),
    ParameterSpec(
        "events.mode",
        _E.mode,
        "online: onset/apex as soon as known; deferred: all three once the segment ended",
        choices=("online", "deferred"),
    ),
    ParameterSpec("events.report_macro", _E.report_macro, "Also publish macro-expression events"),
    ParameterSpec(
        "publish_ros4hri",
        False,
        "Also publish ROS4HRI (REP-155) /humans/faces/tracked and /humans/faces/<id>/roi "
        "(needs hri_msgs) and /humans/faces/<id>/micro_expression",
    ),
    ParameterSpec("max_image_pixels", 4096 * 4096, "Larger images are refused", 1, 100_000_000),
    ParameterSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages", 0.1, 60.0),
    ParameterSpec(
        "diagnostics_window",
        5.0,
        "Seconds of recent frames the diagnostics level and message are judged on",
        0.5,
        600.0,
    ),
)

SPECS = {spec.name: spec for spec in PARAMETERS}


def validate_detailed(values: dict[str, Any]) -> list[tuple[frozenset[str], str]]:
    """Each reason the values are refused, with the names of the parameters it concerns
    (cross-parameter rules name all of theirs)."""
    reasons = [
        (frozenset([name]), r)
        for name, v in values.items()
        if name in SPECS and (r := SPECS[name].validate(v))
    ]
    on = values.get("events.on_threshold")
    off = values.get("events.off_threshold")
    if _is_number(on) and _is_number(off) and off > 0 and on == 0:
        reasons.append(
            (
                frozenset(["events.on_threshold", "events.off_threshold"]),
                f"events.off_threshold={off} needs events.on_threshold set too (0 = the "
                "spotter's own on and off)",
            )
        )
    elif _is_number(on) and _is_number(off) and off > on > 0:
        reasons.append(
            (
                frozenset(["events.on_threshold", "events.off_threshold"]),
                f"events.off_threshold={off} must not exceed events.on_threshold={on}",
            )
        )
    every, slices = values.get("detection.full_every"), values.get("detection.slices")
    if _is_int(every) and _is_int(slices) and slices > every:
        reasons.append(
            (
                frozenset(["detection.full_every", "detection.slices"]),
                f"detection.slices={slices} must not exceed detection.full_every={every}",
            )
        )
    return reasons


def validate(values: dict[str, Any]) -> list[str]:
    """Reasons the values are refused (empty when they are all acceptable), cross-field rules
    included."""
    return [reason for _, reason in validate_detailed(values)]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _thresholds(on: float, off: float) -> tuple[float, float] | None:
    """(on, off) with 0 = the spotter's own; None when both are the spotter's."""
    return (on, off) if on > 0 or off > 0 else None


def pipeline_config(values: dict[str, Any]) -> PipelineConfig:
    """The pipeline configuration for a complete, validated set of parameter values."""
    v = {spec.name: values.get(spec.name, spec.default) for spec in PARAMETERS}
    return PipelineConfig(
        model_path=v["model_path"],
        backend=v["backend"],
        num_threads=int(v["num_threads"]),
        engine_cache_dir=v["engine_cache_dir"],
        front_end=FrontEndConfig(
            max_faces=int(v["max_faces"]),
            detect_full_every=int(v["detection.full_every"]),
            detect_slices=int(v["detection.slices"]),
            detector=HaarDetectorConfig(
                detect_width=int(v["detection.width"]),
                min_face_px=int(v["detection.min_face_px"]),
                min_neighbors=int(v["detection.min_neighbors"]),
            ),
            tracker=TrackerConfig(
                confirm_hits=int(v["tracking.confirm_hits"]),
                max_misses=int(v["tracking.max_misses"]),
            ),
        ),
        clock=ClockConfig(nominal_fps=float(v["nominal_fps"])),
        analysis_rate_hz=float(v["analysis_rate"]),
        thresholds=_thresholds(float(v["events.on_threshold"]), float(v["events.off_threshold"])),
        events=EventConfig(
            min_duration_s=float(v["events.min_duration"]),
            max_micro_duration_s=float(v["events.max_micro_duration"]),
            mode=v["events.mode"],
            report_macro=bool(v["events.report_macro"]),
        ),
    )
