"""Delivery of raw camera frames per QoS and transport setting, through the real middleware.

    .venv/bin/python benchmarks/bench_delivery.py [--frames 120] [--rate 30]

A real camera process (``me_perception_camera``: 640x480 bgr8, stamped, paced at --rate)
publishes to a subscriber in another process; each case counts what arrives:

* a plain subscriber, best effort or reliable, against a best-effort or reliable publisher,
  with Fast DDS's default settings or with the shipped profile for large images on both sides
  (or on the subscriber only);
* the node itself with its default parameters (the input follows the publisher's
  reliability), reading frames_received and the diagnostics verdict from /diagnostics.

All cases run in one invocation, one after the other, on the same machine (LOCALHOST
discovery, a domain of its own), so they compare with each other.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", "78")
BIN = Path(sys.executable).parent

from me_perception.ros.fastdds import PROFILE_VARIABLES, large_image_profile_env  # noqa: E402


def _env(profile: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES}
    return {**env, **large_image_profile_env()} if profile else env


@contextmanager
def _process(args: list[str], env: dict[str, str]) -> Any:
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield proc
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                continue


def _camera(topic: str, reliability: str, frames: int, rate: float, profile: bool) -> list[str]:
    args = [str(BIN / "me_perception_camera"), "--topic", topic, "--reliability", reliability]
    args += ["--count", str(frames), "--rate", str(rate)]
    return args + (["--fastdds-profile"] if profile else [])


def subscriber_case(
    pub: str, sub: str, pub_profile: bool, sub_profile: bool, frames: int, rate: float, i: int
) -> dict[str, Any]:
    topic = f"/bench_delivery_{i}/image_raw"
    sub_args = [sys.executable, __file__, "subscribe", topic, sub]
    with _process(sub_args, _env(sub_profile)) as subscriber:
        with _process(_camera(topic, pub, frames, rate, pub_profile), _env(pub_profile)) as cam:
            cam.wait(timeout=120)
        time.sleep(1.0)
        subscriber.send_signal(signal.SIGINT)
        out = subscriber.communicate(timeout=20)[0].decode()
    counts = [line.split()[-1] for line in out.splitlines() if line.startswith("received ")]
    assert counts, f"the subscriber printed no count:\n{out}"
    received = int(counts[-1])
    return {"received": received}


def node_case(pub: str, pub_profile: bool, frames: int, rate: float, i: int) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test"))
    from diagnostic_msgs.msg import DiagnosticArray
    from node_support import RosPeer, diagnostics_values

    ns, topic = f"/bench_node_{i}", f"/bench_node_{i}/image_raw"
    peer = RosPeer(f"bench_delivery_{i}")
    diags = peer.collect(DiagnosticArray, "/diagnostics")
    node_args = [str(BIN / "me_perception_node"), "--ros-args", "-r", f"__ns:={ns}"]
    node_args += ["-r", f"image:={topic}", "-p", "autostart:=true", "-p", "diagnostics_period:=0.5"]
    warned, during = "", "?"
    try:
        with _process(node_args, _env(True)):
            with _process(_camera(topic, pub, frames, rate, pub_profile), _env(pub_profile)) as cam:
                while cam.poll() is None:
                    peer.spin_for(0.1)
                    values = diagnostics_values(diags, namespace=ns)
                    if int(values.get("input_publishers", 0)):
                        during = values.get("input_reliability", "?")
                    if not warned and "lost" in values.get("_message", ""):
                        warned = values["_message"]
            peer.spin_for(1.5)
            d = diagnostics_values(diags, namespace=ns)
    finally:
        peer.close()
    return {
        "received": int(d.get("frames_received", 0)),
        "reliability": during,  # while the camera was publishing
        "verdict": "WARN: loss reported" if warned else "OK",
    }


def _subscribe(topic: str, reliability: str) -> None:
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_subscriber")
    count = [0]
    policy = (
        ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    )
    qos = QoSProfile(depth=5, reliability=policy)
    node.create_subscription(Image, topic, lambda _m: count.__setitem__(0, count[0] + 1), qos)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        print(f"received {count[0]}", flush=True)
        node.destroy_node()
        rclpy.try_shutdown()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=120)
    p.add_argument("--rate", type=float, default=30.0)
    args = p.parse_args()
    n, rate = args.frames, args.rate
    print(f"{n} frames of 640x480 bgr8 at {rate:g} Hz per case\n")
    print("| publisher | subscriber | Fast DDS profile | received | verdict |")
    print("|---|---|---|---|---|")
    plain = [
        ("reliable", "reliable", False, False),
        ("reliable", "best_effort", False, False),
        ("best_effort", "best_effort", False, False),
        ("best_effort", "best_effort", False, True),
        ("reliable", "best_effort", True, True),
        ("best_effort", "best_effort", True, True),
    ]
    names = {(False, False): "none", (False, True): "subscriber only", (True, True): "both"}
    for i, (pub, sub, pub_profile, sub_profile) in enumerate(plain):
        r = subscriber_case(pub, sub, pub_profile, sub_profile, n, rate, i)
        where = names[(pub_profile, sub_profile)]
        print(
            f"| {pub} | {sub} | {where} | {r['received']}/{n} ({100 * r['received'] / n:.0f} %) | |"
        )
    nodes = [("reliable", False), ("best_effort", False), ("best_effort", True)]
    for i, (pub, pub_profile) in enumerate(nodes):
        r = node_case(pub, pub_profile, n, rate, i)
        where = "both" if pub_profile else "node only"
        print(
            f"| {pub} | node, defaults ({r['reliability']}) | {where} | "
            f"{r['received']}/{n} ({100 * r['received'] / n:.0f} %) | {r['verdict']} |"
        )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "subscribe":
        _subscribe(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
