"""Play a rosbag2 recording onto ROS topics, with /clock, for the live node.

    me_perception_play BAG [--rate 1.0] [--clock] [--lockstep /me_perception/state]

On a ROS 2 distro ``ros2 bag play --clock`` does the same; this player needs only rclpy and
rosbags, so it also works in the project's own environment and in tests. It loads the shipped
Fast DDS profile for large images unless one is configured. ``--lockstep TOPIC`` publishes the
next frame only after a message arrived on TOPIC (e.g. the node's ``state``), so every frame is
processed whatever the machine's load: the live node then gives exactly the results of the
offline command.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path

from rosbags.rosbag2 import Reader

from me_perception.perception.stamps import ns_to_s, ns_to_time
from me_perception.recording.bag_io import IMAGE_TYPES, BagError
from me_perception.ros.fastdds import apply_large_image_profile


def _rclpy_type(msgtype: str) -> type:
    pkg, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


def play(
    bag: str | Path,
    *,
    topics: list[str] | None = None,
    rate: float = 1.0,
    clock: bool = True,
    lockstep: str | None = None,
    lockstep_timeout: float = 10.0,
    start_delay: float = 1.0,
    remap: dict[str, str] | None = None,
) -> int:
    """Publish the bag's messages (default: its image topics); returns how many were sent."""
    import rclpy
    import rclpy.executors
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock

    path = Path(bag)
    if not path.exists():
        raise BagError(f"bag not found: {path}")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:
        raise BagError(f"cannot read bag {path}: {exc}") from None
    remap = remap or {}
    # Raw frames are large: the shipped Fast DDS profile (unless one is set) lets best-effort
    # subscribers that load it too receive them completely.
    apply_large_image_profile()
    rclpy.init()
    node = rclpy.create_node("me_perception_player")
    sent = 0
    try:
        chosen = [
            c
            for c in reader.connections
            if (c.topic in topics if topics else c.msgtype in IMAGE_TYPES)
        ]
        if not chosen:
            raise BagError(f"nothing to play in {path} (topics: {topics or 'image topics'})")
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        pubs = {
            c.id: node.create_publisher(_rclpy_type(c.msgtype), remap.get(c.topic, c.topic), qos)
            for c in chosen
        }
        clock_pub = node.create_publisher(Clock, "/clock", 10) if clock else None
        acks = [0]
        executor = rclpy.executors.SingleThreadedExecutor()
        executor.add_node(node)

        def spin_for(seconds: float, until: Callable[[], bool] = lambda: False) -> bool:
            # Single-threaded on purpose: no executor thread to stop at shutdown.
            deadline = time.monotonic() + seconds
            while not until() and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=min(0.01, max(0.0, deadline - time.monotonic())))
            return until()

        if lockstep:
            from me_perception.msg import MicroExpressionArray

            def on_ack(_msg: object) -> None:
                acks[0] += 1

            ack_sub = node.create_subscription(MicroExpressionArray, lockstep, on_ack, 10)
        pub_list = list(pubs.values())
        spin_for(start_delay + 10.0, lambda: all(p.get_subscription_count() for p in pub_list))
        if lockstep:
            spin_for(10.0, lambda: ack_sub.get_publisher_count() > 0)
        spin_for(start_delay)
        first_log: int | None = None
        wall0 = time.monotonic()
        for connection, log_time, raw in reader.messages(connections=chosen):
            if first_log is None:
                first_log = log_time
            if not lockstep and rate > 0:
                due = wall0 + ns_to_s(log_time - first_log) / rate
                spin_for(due - time.monotonic())
            if clock_pub is not None:
                msg = Clock()
                msg.clock.sec, msg.clock.nanosec = ns_to_time(log_time)
                clock_pub.publish(msg)
            expected = acks[0] + 1
            pubs[connection.id].publish(bytes(raw))
            sent += 1
            if lockstep and not spin_for(lockstep_timeout, lambda e=expected: acks[0] >= e):
                node.get_logger().warning(f"no message on {lockstep} after frame {sent}")
        spin_for(0.2)
        executor.shutdown()
    finally:
        reader.close()
        node.destroy_node()
        rclpy.try_shutdown()
    return sent
