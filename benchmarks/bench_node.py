"""End-to-end benchmark of the live node through the real middleware.

    .venv/bin/python benchmarks/bench_node.py [--seconds 10] [--faces 1 3] [--model DIR]

Starts ``me_perception_node`` in its own process (ONNX Runtime CPU backend), publishes 640x480
bgr8 frames of real face photographs at 30 fps and then flat out, and reports for each case:
frames/s processed by the node, the node's own receipt-to-publish latency p50/p99 (from
/diagnostics) and the end-to-end publish-to-receive latency seen by this process, plus how many
frames the node dropped because a newer one arrived. All cases run in one invocation, so the
ratios between them are comparable on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test"))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", "77")

from node_support import (
    RosPeer,
    diagnostics_values,
    face_frame,
    image_msg,
    running_node,
)

from me_perception.perception.stamps import time_to_ns


def run_case(peer: RosPeer, model: str, faces: int, rate: float, seconds: float, idx: int) -> dict:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    from me_perception.msg import MicroExpressionArray

    ns = f"/bench{idx}"
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    counts = {"states": 0}

    def on_state(msg: MicroExpressionArray) -> None:
        stamp = time_to_ns(msg.header.stamp)
        t = sent_at.pop(stamp, None)
        counts["states"] += 1
        if t is not None:
            latencies.append((time.perf_counter() - t) * 1e3)

    peer.node.create_subscription(MicroExpressionArray, f"{ns}/state", on_state, 100)
    diags = peer.collect(DiagnosticArray, "/diagnostics")
    pub = peer.node.create_publisher(Image, f"{ns}/image", 10)
    frame = face_frame(faces=faces)
    params = {
        "autostart": True,
        "backend": "onnxruntime",
        "num_threads": 1,
        "diagnostics_period": 0.5,
        "tracking.confirm_hits": 1,
        "max_faces": max(1, faces),
    }
    if model:
        params["model_path"] = model
    with running_node(ns, params) as proc:
        peer.spin_until(lambda: pub.get_subscription_count() > 0, 30.0)
        # warm-up: a second of frames, not measured
        t0 = 1_700_000_000 * 10**9
        for i in range(30):
            pub.publish(image_msg(frame, t0 + i * 33_333_333))
            peer.spin_for(1 / 30)
        peer.spin_for(0.5)
        start_states = counts["states"]
        before = diagnostics_values(diags)
        latencies.clear()
        n = 0
        publish_failed = 0
        start = time.perf_counter()
        next_due = start
        while time.perf_counter() - start < seconds:
            stamp = t0 + (1000 + n) * 33_333_333
            msg = image_msg(frame, stamp)
            sent_at[stamp] = time.perf_counter()
            try:
                pub.publish(msg)
            except Exception:  # Fast DDS refuses when its send queue is full under a flood
                publish_failed += 1
                sent_at.pop(stamp, None)
                continue
            n += 1
            if rate > 0:
                next_due += 1.0 / rate
                while time.perf_counter() < next_due:
                    peer.executor.spin_once(timeout_sec=max(0.0, next_due - time.perf_counter()))
            else:
                peer.executor.spin_once(timeout_sec=0)
        elapsed = time.perf_counter() - start
        peer.spin_for(1.0)
        after = diagnostics_values(diags)
        alive = proc.poll() is None
    processed = counts["states"] - start_states
    dropped = int(after.get("dropped_superseded", 0)) - int(before.get("dropped_superseded", 0))
    received = int(after.get("frames_received", 0)) - int(before.get("frames_received", 0))
    lat = np.array(latencies) if latencies else np.array([np.nan])
    return {
        "faces": faces,
        "rate": "flat-out" if rate <= 0 else f"{rate:.0f} Hz",
        "sent": n,
        "sent_fps": n / elapsed,
        "publish_failed": publish_failed,
        "received_fps": received / elapsed,
        "processed_fps": processed / elapsed,
        "superseded": dropped,
        "node_p50_ms": float(after.get("latency_p50_ms", "nan")),
        "node_p99_ms": float(after.get("latency_p99_ms", "nan")),
        "e2e_p50_ms": float(np.percentile(lat, 50)),
        "e2e_p99_ms": float(np.percentile(lat, 99)),
        "alive": alive,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--faces", type=int, nargs="*", default=[1, 3])
    p.add_argument("--model", default="", help="model dir (default: the shipped model)")
    args = p.parse_args()
    model = args.model  # "" = the shipped default model
    print(f"load average before: {os.getloadavg()}")
    peer = RosPeer("bench_node")
    rows = []
    try:
        idx = 0
        for faces in args.faces:
            for rate in (30.0, 0.0):
                rows.append(run_case(peer, model, faces, rate, args.seconds, idx))
                idx += 1
                r = rows[-1]
                print(
                    f"faces {r['faces']}  {r['rate']:>8s}: sent {r['sent_fps']:6.1f}/s  "
                    f"received {r['received_fps']:6.1f}/s  processed {r['processed_fps']:6.1f}/s  "
                    f"superseded {r['superseded']:5d}  "
                    f"node latency p50 {r['node_p50_ms']:6.2f} ms p99 {r['node_p99_ms']:6.2f} ms  "
                    f"end-to-end p50 {r['e2e_p50_ms']:6.2f} ms p99 {r['e2e_p99_ms']:6.2f} ms",
                    flush=True,
                )
    finally:
        peer.close()
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
