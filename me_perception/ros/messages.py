"""Pipeline results -> the fields of MicroExpression / MicroExpressionArray messages.

The fields are built once, as plain nested data, and turned into rclpy messages by the live
node or into rosbags messages by the offline tool (:func:`build_rclpy`, :func:`build_rosbags`):
one description of the message content, so live and offline outputs cannot drift apart.
This module imports no ROS package.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from me_perception.perception.pipeline import EventRecord, FaceState, FrameResult
from me_perception.perception.stamps import ns_to_time

ARRAY_TYPE = "me_perception/msg/MicroExpressionArray"
#: MicroExpression.KIND_* values
KINDS = {"": 0, "micro": 1, "macro": 2, "withdrawn": 3}
EVENT_TYPE = "me_perception/msg/MicroExpression"


def stamp_fields(ns: int) -> dict[str, int]:
    """builtin_interfaces/Time of a nanosecond stamp (0 -> zero time, meaning "unknown")."""
    sec, nanosec = ns_to_time(ns)
    return {"sec": sec, "nanosec": nanosec}


def header_fields(result: FrameResult) -> dict[str, Any]:
    """The source image's header (stamp and frame_id), unchanged."""
    return {"stamp": stamp_fields(result.stamp_ns), "frame_id": result.frame_id}


def _roi(box: tuple[int, int, int, int]) -> dict[str, Any]:
    x, y, w, h = box
    return {"x_offset": x, "y_offset": y, "width": w, "height": h, "do_rectify": False}


def face_fields(result: FrameResult, face: FaceState) -> dict[str, Any]:
    """MicroExpression fields of one face's per-frame state."""
    return {
        "header": header_fields(result),
        "face_id": face.face_id,
        "roi": _roi(face.box),
        "phase": int(face.phase),
        "kind": KINDS.get(face.kind, 0),
        "onset_stamp": stamp_fields(face.onset_ns),
        "apex_stamp": stamp_fields(face.apex_ns),
        "offset_stamp": stamp_fields(face.offset_ns),
        "spotting_score": face.spotting_score,
        "macro_score": face.macro_score,
        "label": face.label,
        "confidence": face.confidence,
        "class_names": list(result.class_names),
        "class_probabilities": list(face.class_probabilities),
        "intensity": face.intensity,
        "model_id": result.model_id,
    }


def event_fields(result: FrameResult, record: EventRecord) -> dict[str, Any]:
    """MicroExpression fields of one event (onset, apex or offset)."""
    ev = record.event
    probs = list(ev.class_probabilities) or [0.0] * len(result.class_names)
    state = next((f for f in result.faces if f.face_id == record.face_id), None)
    return {
        "header": header_fields(result),
        "face_id": record.face_id,
        "roi": _roi(record.box),
        "phase": int(ev.phase),
        "kind": KINDS[ev.kind.value],
        "onset_stamp": stamp_fields(ev.onset_ns),
        "apex_stamp": stamp_fields(ev.apex_ns),
        "offset_stamp": stamp_fields(ev.offset_ns),
        "spotting_score": float(ev.peak_score),
        "macro_score": state.macro_score if state else 0.0,
        "label": ev.label,
        "confidence": float(ev.confidence),
        "class_names": list(result.class_names),
        "class_probabilities": probs,
        "intensity": float(ev.intensity),
        "model_id": result.model_id,
    }


def array_fields(result: FrameResult) -> dict[str, Any]:
    """MicroExpressionArray fields of one frame (faces in the pipeline's stable order)."""
    return {
        "header": header_fields(result),
        "faces": [face_fields(result, f) for f in result.faces],
    }


# -- builders -------------------------------------------------------------------------------
def build_rclpy(msg_type: type, fields: dict[str, Any]) -> Any:
    """An rclpy message of ``msg_type`` from nested plain data."""
    msg = msg_type()
    slot_types = None
    for name, value in fields.items():
        if isinstance(value, dict):
            setattr(msg, name, build_rclpy(type(getattr(msg, name)), value))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            if slot_types is None:
                slot_types = dict(
                    zip(msg.get_fields_and_field_types(), msg.SLOT_TYPES, strict=True)
                )
            namespaced = slot_types[name].value_type
            module = importlib.import_module(".".join(namespaced.namespaces))
            element = getattr(module, namespaced.name)
            setattr(msg, name, [build_rclpy(element, v) for v in value])
        else:
            setattr(msg, name, value)
    return msg


_NUMPY_TYPES = {
    "float32": np.float32,
    "float64": np.float64,
    "uint8": np.uint8,
    "int8": np.int8,
    "uint16": np.uint16,
    "int16": np.int16,
    "uint32": np.uint32,
    "int32": np.int32,
    "uint64": np.uint64,
    "int64": np.int64,
}


def build_rosbags(typestore: Any, type_name: str, fields: dict[str, Any]) -> Any:
    """A rosbags message of ``type_name`` from nested plain data (missing fields: defaults
    are not invented, every field of the type must be given)."""
    cls = typestore.types[type_name]
    kwargs: dict[str, Any] = {}
    for name, (kind, detail) in typestore.fielddefs[type_name][1]:
        if name not in fields:
            raise KeyError(f"{type_name}: field {name!r} missing")
        value = fields[name]
        kind_name = getattr(kind, "name", str(kind))
        if kind_name == "NAME":
            kwargs[name] = build_rosbags(typestore, detail, value)
        elif kind_name in ("SEQUENCE", "ARRAY"):
            element_kind, element_detail = detail[0]
            if getattr(element_kind, "name", str(element_kind)) == "NAME":
                kwargs[name] = [build_rosbags(typestore, element_detail, v) for v in value]
            else:
                base = element_detail[0] if isinstance(element_detail, tuple) else element_detail
                if base == "string":
                    kwargs[name] = list(value)
                else:
                    kwargs[name] = np.asarray(value, dtype=_NUMPY_TYPES[base])
        else:
            kwargs[name] = value
    return cls(**kwargs)
