"""Running the real node in a child process and talking to it over the real middleware."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import skimage.data
from ros_support import child_process

from me_perception.perception.stamps import ns_to_time

NODE_EXE = str(Path(sys.executable).with_name("me_perception_node"))
T0 = 1_700_000_000_000_000_000  # stamp of the tests' first frame (ns)
DT = 33_333_333  # 30 Hz
CAMERA_EXE = str(Path(sys.executable).with_name("me_perception_camera"))
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")


def face_frame(width: int = 640, height: int = 480, faces: int = 1, seed: int = 0) -> np.ndarray:
    """A BGR frame with ``faces`` copies of a real face photograph (scikit-image's astronaut)
    on a plain background; returns the frame (boxes: :func:`face_boxes`)."""
    frame = np.full((height, width, 3), 60, np.uint8)
    for box in face_boxes(width, height, faces):
        x, y, w, h = box
        frame[y : y + h, x : x + w] = _face_patch(w, h)
    return frame


def face_boxes(width: int = 640, height: int = 480, faces: int = 1) -> list[tuple[int, ...]]:
    """Where :func:`face_frame` pastes its face patches (x, y, w, h)."""
    if faces == 1:
        return [(200, 90, 220, 260)]
    cols = int(np.ceil(np.sqrt(faces)))
    rows = int(np.ceil(faces / cols))
    w, h = width // cols, height // rows
    return [((i % cols) * w, (i // cols) * h, w, h) for i in range(faces)]


def _face_patch(w: int, h: int) -> np.ndarray:
    astronaut = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    head = astronaut[10:250, 120:320]  # head and shoulders of the photograph
    return cv2.resize(head, (w, h), interpolation=cv2.INTER_AREA)


def image_msg(frame: np.ndarray, stamp_ns: int, frame_id: str = "test_cam") -> Any:
    from sensor_msgs.msg import Image

    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = ns_to_time(stamp_ns)
    msg.header.frame_id = frame_id
    msg.height, msg.width = frame.shape[:2]
    msg.encoding = "bgr8" if frame.ndim == 3 else "mono8"
    msg.step = frame.shape[1] * (3 if frame.ndim == 3 else 1)
    msg.data = frame.tobytes()
    return msg


def compressed_msg(frame: np.ndarray, stamp_ns: int, frame_id: str = "test_cam") -> Any:
    from sensor_msgs.msg import CompressedImage

    msg = CompressedImage()
    msg.header.stamp.sec, msg.header.stamp.nanosec = ns_to_time(stamp_ns)
    msg.header.frame_id = frame_id
    msg.format = "jpeg"
    msg.data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    return msg


class RosPeer:
    """The test's side of the conversation: one rclpy context, node and executor."""

    def __init__(self, name: str = "me_test_peer") -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.subscriptions: dict[str, Any] = {}

    def collect(self, msg_type: type, topic: str, qos: Any = 10) -> list[Any]:
        received: list[Any] = []
        self.subscriptions[topic] = self.node.create_subscription(
            msg_type, topic, received.append, qos
        )
        return received

    def wait_matched(self, topic: str, timeout: float = 30.0) -> bool:
        """Wait until a publisher is matched with our subscription on ``topic`` (discovery of
        the other process's endpoints can lag behind other processes')."""
        sub = self.subscriptions[topic]
        return self.spin_until(lambda: sub.get_publisher_count() > 0, timeout)

    def spin_until(self, predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return predicate()

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)

    def call(self, srv_type: type, name: str, request: Any, timeout: float = 20.0) -> Any:
        client = self.node.create_client(srv_type, name)
        assert client.wait_for_service(timeout_sec=timeout), f"service {name} not available"
        future = client.call_async(request)
        assert self.spin_until(future.done, timeout), f"no answer from {name}"
        return future.result()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)


def diagnostics_values(
    diag_msgs: list[Any], node_name: str = "me_perception", namespace: str | None = None
) -> dict[str, str]:
    """Key/values of the newest status of our node in the collected /diagnostics messages
    (of the node in ``namespace`` only, when given)."""
    for msg in reversed(diag_msgs):
        for status in msg.status:
            if namespace is not None and status.hardware_id != f"{namespace}/{node_name}":
                continue
            if status.name.startswith(node_name):
                values = {kv.key: kv.value for kv in status.values}
                values["_level"] = str(int.from_bytes(status.level, "little"))
                values["_message"] = status.message
                return values
    return {}


def node_params(model_dir: Path, **extra: Any) -> dict[str, Any]:
    """Parameters of the node tests: the test model on ONNX Runtime, configured and active at
    start, a face reported at its first detection, diagnostics five times a second."""
    return {
        "autostart": True,
        "model_path": str(model_dir),
        "backend": "onnxruntime",
        "tracking.confirm_hits": 1,
        "diagnostics_period": 0.2,
        **extra,
    }


@contextmanager
def running_node(
    namespace: str,
    params: dict[str, Any],
    remaps: dict[str, str] | None = None,
    raw_params: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Any]:
    """Start ``me_perception_node`` in a child process; always ended afterwards.

    ``params`` are typed Python values; ``raw_params`` are ``name:=text`` exactly as a user
    types them on the command line (``nominal_fps:=25`` is an integer literal there); ``env``
    adds to the environment."""
    args = [NODE_EXE, "--ros-args", "-r", f"__ns:={namespace}"]
    for key, value in params.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        args += ["-p", f"{key}:={value}"]
    for raw in raw_params or []:
        args += ["-p", raw]
    for src, dst in (remaps or {}).items():
        args += ["-r", f"{src}:={dst}"]
    with child_process(args, env=env or {}) as proc:
        yield proc


@contextmanager
def camera_process(
    topic: str,
    *,
    reliability: str = "reliable",
    count: int = 120,
    rate: float = 30.0,
    fastdds_profile: bool = False,
) -> Iterator[Any]:
    """A stand-in camera driver in its own process (``me_perception_camera``): 640x480 bgr8
    frames at ``rate`` Hz, stamped T0 + i/rate. Without ``fastdds_profile`` it runs with
    Fast DDS's default settings, as a camera driver started by hand does."""
    env = dict(os.environ)
    for name in PROFILE_VARIABLES:
        env.pop(name, None)
    args = [CAMERA_EXE, "--topic", topic, "--reliability", reliability]
    args += ["--count", str(count), "--rate", str(rate)]
    if fastdds_profile:
        args.append("--fastdds-profile")
    with child_process(args, env=env, replace_env=True) as proc:
        yield proc
