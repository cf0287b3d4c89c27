"""Helpers shared by the ROS tests: a fully populated sample message, a field-by-field
comparison that names the first differing field, and child processes that are always ended.

Run as a script it is the *other process* of the cross-process tests:
    python ros_support.py publish TOPIC   # publishes sample_array() every 50 ms until killed
"""

from __future__ import annotations

import array
import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from me_perception.ros import messages

HERE = Path(__file__).resolve().parent

CLASS_NAMES = ["happiness", "disgust", "repression", "surprise", "others"]


def sample_fields() -> dict[str, Any]:
    """Plain-data description of a MicroExpressionArray with every field set to a distinct,
    non-default value (two faces, different phases), so a dropped or swapped field shows."""

    def face(i: int, phase: int) -> dict[str, Any]:
        return {
            "header": {"stamp": {"sec": 1700000000 + i, "nanosec": 123456789}, "frame_id": "cam"},
            "face_id": f"face{i}abc",
            "roi": {
                "x_offset": 10 + i,
                "y_offset": 20 + i,
                "height": 111 + i,
                "width": 97 + i,
                "do_rectify": bool(i % 2),
            },
            "phase": phase,
            "kind": 1 + i % 2,
            "onset_stamp": {"sec": 1699999999, "nanosec": 900000000 + i},
            "apex_stamp": {"sec": 1700000000, "nanosec": 100000000 + i},
            "offset_stamp": {"sec": 1700000000, "nanosec": 300000000 + i},
            "spotting_score": 0.75 + 0.125 * i,
            "macro_score": 0.0625 * (i + 1),
            "label": CLASS_NAMES[i + 1],
            "confidence": 0.5 + 0.25 * i,
            "class_names": list(CLASS_NAMES),
            "class_probabilities": [0.5, 0.25, 0.125, 0.0625, 0.0625][::-1]
            if i
            else [0.5, 0.25, 0.125, 0.0625, 0.0625],
            "intensity": 0.375 + i * 0.25,
            "model_id": f"tcn-memory-v1@{i:08x}",
        }

    return {
        "header": {"stamp": {"sec": 1700000000, "nanosec": 123456789}, "frame_id": "cam"},
        "faces": [face(0, 2), face(1, 3)],
    }


# One implementation of the builders: the package's own (used by the node and offline tool).
build_rclpy = messages.build_rclpy
build_rosbags = messages.build_rosbags


def to_plain(msg: Any) -> Any:
    """Nested plain data of an rclpy *or* rosbags message (for comparisons)."""
    if hasattr(msg, "get_fields_and_field_types"):
        return {name: to_plain(getattr(msg, name)) for name in msg.get_fields_and_field_types()}
    if dataclasses.is_dataclass(msg):  # rosbags message
        # ROS field names are lower case and constant names upper case (rosidl enforces it);
        # rosbags keeps the constants among the dataclass fields.
        return {
            f.name: to_plain(getattr(msg, f.name))
            for f in dataclasses.fields(msg)
            if f.name != "__msgtype__" and not f.name.isupper()
        }
    if isinstance(msg, (list, tuple, array.array)) or type(msg).__name__ == "ndarray":
        return [to_plain(v) for v in list(msg)]
    if hasattr(msg, "item"):  # numpy scalar
        return msg.item()
    return msg


def assert_plain_equal(actual: Any, expected: Any, path: str = "msg", rel: float = 1e-6) -> None:
    """Recursive equality that names the first differing field; floats compared as float32."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected a message, got {actual!r}"
        assert set(actual) == set(expected), (
            f"{path}: fields {sorted(actual)} != {sorted(expected)}"
        )
        for key in expected:
            assert_plain_equal(actual[key], expected[key], f"{path}.{key}", rel)
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a sequence, got {actual!r}"
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_plain_equal(a, e, f"{path}[{i}]", rel)
    elif isinstance(expected, float):
        assert abs(actual - expected) <= rel * max(1.0, abs(expected)), (
            f"{path}: {actual!r} != {expected!r}"
        )
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def venv_python() -> str:
    return sys.executable


@contextmanager
def child_process(args: Sequence[str], **kwargs: Any) -> Iterator[subprocess.Popen]:
    """Start a child process in its own process group and always end it (and its children).

    ``env`` adds to this process's environment, or replaces it with ``replace_env=True``."""
    env = kwargs.pop("env", {})
    if not kwargs.pop("replace_env", False):
        env = {**os.environ, **env}
    proc = subprocess.Popen(
        list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
        **kwargs,
    )
    try:
        yield proc
    finally:
        for sig, wait in ((signal.SIGINT, 5), (signal.SIGTERM, 3), (signal.SIGKILL, 3)):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        if proc.stdout:
            proc.stdout.close()


def spin_until_ended(node: Any) -> None:
    """Spin a child process's node until it is interrupted or shut down, then clean up (the
    main loop of every *other process* of the tests)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def _publish_forever(topic: str) -> None:
    import rclpy

    from me_perception.msg import MicroExpressionArray

    rclpy.init()
    node = rclpy.create_node("sample_publisher")
    pub = node.create_publisher(MicroExpressionArray, topic, 10)
    msg = build_rclpy(MicroExpressionArray, sample_fields())
    node.create_timer(0.05, lambda: pub.publish(msg))
    print("publishing", flush=True)
    spin_until_ended(node)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "publish":
        _publish_forever(sys.argv[2])
    else:
        sys.exit(f"usage: {sys.argv[0]} publish TOPIC")
