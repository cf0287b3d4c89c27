"""A camera publisher without extra packages: a real camera (``--device 0`` or
``/dev/video0``), a video file standing in for one (``--device interview.mp4``), or, without
``--device``, 640x480 ``bgr8`` frames of a real face photograph at a fixed rate.

    me_perception_camera --device /dev/video0 --topic /camera/image_raw
    me_perception_camera --topic /camera/image_raw --rate 30 --count 120 --reliability best_effort

With ``--device`` the frames are published as the device delivers them (a file at its own
timestamps), stamped with the wall clock at capture, as a camera driver does; if publishing
falls behind, the newest frame wins (``ros/camera_capture.py``). ``--count 0`` (the default
with ``--device``) runs until the file ends or Ctrl-C.

Before blaming the node for missing frames, check the transport with what a camera driver does:
this process publishes raw frames with the chosen reliability, with or without the shipped
Fast DDS profile (``--fastdds-profile``), exactly like a driver started by hand would. The
tests and ``benchmarks/bench_delivery.py`` use it as the publisher of the delivery measurements.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from me_perception.perception.stamps import ns_to_time
from me_perception.ros.camera_capture import CameraCapture, CameraError
from me_perception.ros.fastdds import apply_large_image_profile

T0_NS = 1_700_000_000_000_000_000


def face_image(width: int = 640, height: int = 480) -> np.ndarray:
    """A BGR frame with a real face photograph (scikit-image's astronaut) on a grey background."""
    import cv2
    import skimage.data

    frame = np.full((height, width, 3), 60, np.uint8)
    head = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)[10:250, 120:320]
    w, h = width * 11 // 32, height * 13 // 24
    x, y = (width - w) // 2, (height - h) // 3
    frame[y : y + h, x : x + w] = cv2.resize(head, (w, h), interpolation=cv2.INTER_AREA)
    return frame


def publish(
    topic: str,
    *,
    rate: float = 30.0,
    count: int = 120,
    reliability: str = "reliable",
    wait_subscribers: int = 1,
    settle_s: float = 1.0,
    synthetic_stamps: bool = True,
    width: int = 640,
    height: int = 480,
    device: str | None = None,
) -> dict[str, float]:
    """Publish ``count`` frames at ``rate`` Hz once ``wait_subscribers`` subscriptions matched.

    Stamps are ``T0 + i / rate`` (``synthetic_stamps``) or the wall clock. With ``device``, the
    frames of that camera or file instead (``count`` 0: all of them), stamped at capture.
    Returns a summary.
    """
    if device is not None:
        capture = CameraCapture(device, width=width, height=height, fps=rate)  # fails early
    import rclpy
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("me_perception_camera")
    policy = (
        ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    )
    pub = node.create_publisher(
        Image, topic, QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=policy)
    )
    msg = Image()
    msg.header.frame_id = "camera"
    msg.height, msg.width, msg.encoding, msg.step = height, width, "bgr8", width * 3
    msg.data = face_image(width, height).tobytes()
    try:
        deadline = time.monotonic() + 60.0
        while pub.get_subscription_count() < wait_subscribers and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        matched = pub.get_subscription_count()
        time.sleep(settle_s)
        start = time.monotonic()
        if device is not None:
            sent, skipped = _publish_capture(capture.start(), pub, msg, count)
            elapsed = time.monotonic() - start
            time.sleep(1.0)
            return {"sent": sent, "matched": matched, "seconds": round(elapsed, 3),
                    "skipped": skipped}  # fmt: skip
        for i in range(count):
            if synthetic_stamps:
                stamp_ns = T0_NS + round(i * 1e9 / rate)
            else:
                stamp_ns = node.get_clock().now().nanoseconds
            msg.header.stamp.sec, msg.header.stamp.nanosec = ns_to_time(stamp_ns)
            pub.publish(msg)
            time.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))
        elapsed = time.monotonic() - start
        time.sleep(1.0)  # let the last frames leave before the participant goes away
    finally:
        if device is not None:
            capture.close()
        node.destroy_node()
        rclpy.try_shutdown()
    return {"sent": count, "matched": matched, "seconds": round(elapsed, 3)}


def _publish_capture(capture: CameraCapture, pub: Any, msg: Any, count: int) -> tuple[int, int]:
    """Publish the device's frames until it ends or ``count`` were sent; (sent, skipped)."""
    sent = 0
    while count <= 0 or sent < count:
        frame = capture.read(timeout=10.0)
        if frame is None:
            break
        height, width = frame.bgr.shape[:2]
        msg.height, msg.width, msg.step = height, width, width * 3
        msg.data = frame.bgr.tobytes()
        msg.header.stamp.sec, msg.header.stamp.nanosec = ns_to_time(frame.stamp_ns)
        pub.publish(msg)
        sent += 1
    return sent, capture.skipped


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="me_perception_camera", description=__doc__.split("\n")[0])
    p.add_argument("--topic", default="/camera/image_raw")
    p.add_argument(
        "--device", help="camera index (0), device (/dev/video0) or video file to publish"
    )
    p.add_argument("--rate", type=float, default=30.0, help="frames per second")
    p.add_argument(
        "--count", type=int, help="frames to publish (default 120; with --device 0 = all)"
    )
    p.add_argument("--reliability", choices=("reliable", "best_effort"), default="reliable")
    p.add_argument("--wait-subscribers", type=int, default=1, help="start after this many match")
    p.add_argument("--settle", type=float, default=1.0, help="seconds between match and frame 1")
    p.add_argument("--wall-stamps", action="store_true", help="stamp with the clock, not T0+i/rate")
    p.add_argument("--width", type=int, default=640, help="frame width (of a device: requested)")
    p.add_argument("--height", type=int, default=480, help="frame height (of a device: requested)")
    p.add_argument(
        "--fastdds-profile",
        action="store_true",
        help="use the shipped Fast DDS profile for large images (unless one is already set)",
    )
    args = p.parse_args(argv)
    if args.fastdds_profile:
        apply_large_image_profile()
    count = args.count if args.count is not None else (0 if args.device else 120)
    try:
        summary = _run(args, count)
    except CameraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(json.dumps(summary), flush=True)
    return 0


def _run(args: argparse.Namespace, count: int) -> dict[str, float]:
    return publish(
        args.topic,
        rate=args.rate,
        count=count,
        reliability=args.reliability,
        wait_subscribers=args.wait_subscribers,
        settle_s=args.settle,
        synthetic_stamps=not args.wall_stamps,
        device=args.device,
        width=args.width,
        height=args.height,
    )


if __name__ == "__main__":
    sys.exit(main())
