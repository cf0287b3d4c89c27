"""A stand-in camera: publish 640x480 ``bgr8`` frames of a real face photograph at a fixed rate.

    me_perception_camera --topic /camera/image_raw --rate 30 --count 120 --reliability best_effort

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

import numpy as np

from me_perception.perception.stamps import ns_to_time
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
) -> dict[str, float]:
    """Publish ``count`` frames at ``rate`` Hz once ``wait_subscribers`` subscriptions matched.

    Stamps are ``T0 + i / rate`` (``synthetic_stamps``) or the wall clock. Returns a summary.
    """
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
        node.destroy_node()
        rclpy.try_shutdown()
    return {"sent": count, "matched": matched, "seconds": round(elapsed, 3)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="me_perception_camera", description=__doc__.split("\n")[0])
    p.add_argument("--topic", default="/camera/image_raw")
    p.add_argument("--rate", type=float, default=30.0, help="frames per second")
    p.add_argument("--count", type=int, default=120, help="frames to publish")
    p.add_argument("--reliability", choices=("reliable", "best_effort"), default="reliable")
    p.add_argument("--wait-subscribers", type=int, default=1, help="start after this many match")
    p.add_argument("--settle", type=float, default=1.0, help="seconds between match and frame 1")
    p.add_argument("--wall-stamps", action="store_true", help="stamp with the clock, not T0+i/rate")
    p.add_argument(
        "--fastdds-profile",
        action="store_true",
        help="use the shipped Fast DDS profile for large images (unless one is already set)",
    )
    args = p.parse_args(argv)
    if args.fastdds_profile:
        apply_large_image_profile()
    summary = publish(
        args.topic,
        rate=args.rate,
        count=args.count,
        reliability=args.reliability,
        wait_subscribers=args.wait_subscribers,
        settle_s=args.settle,
        synthetic_stamps=not args.wall_stamps,
    )
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
