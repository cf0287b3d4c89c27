"""ROS4HRI for real: with hri_msgs the node publishes /humans/faces/tracked and the REP-155
per-face ROI, and a ROS4HRI consumer in another process receives them; without hri_msgs it
refuses publish_ros4hri at configure instead of claiming it.

hri_msgs is not on PyPI, so the tests build an hri_msgs-compatible interface package
(test/hri_msgs_compat: the hri_msgs 2.x definitions of IdsList and
NormalizedRegionOfInterest2D, field for field) with rosidl and cmake, the route
scripts/setup.sh takes for our own messages, into build/test-hri_msgs (reused while its
sources are unchanged). Only the processes given its paths can import it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from node_support import (
    DT,
    T0,
    RosPeer,
    diagnostics_values,
    face_frame,
    image_msg,
    node_params,
    running_node,
)
from ros_support import child_process

pytest.importorskip("rclpy")

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "test" / "hri_msgs_compat"


def _build_hri_msgs() -> Path:
    """Install prefix of the hri_msgs-compatible package (built once per source change)."""
    inputs = [*sorted(SOURCE.rglob("*")), ROOT / "cmake" / "fix_wheel_python_includes.cmake"]
    digest = hashlib.sha256(sys.executable.encode())
    for path in (p for p in inputs if p.is_file()):
        digest.update(path.name.encode() + path.read_bytes())
    prefix = ROOT / "build" / "test-hri_msgs" / digest.hexdigest()[:16]
    if list(prefix.glob("lib/python*/site-packages/hri_msgs/msg/__init__.py")):
        return prefix
    staging = prefix.with_name(prefix.name + f".{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    venv = str(Path(sys.executable).parent.parent)
    env = {**os.environ, "AMENT_PREFIX_PATH": venv, "CMAKE_PREFIX_PATH": venv}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    configure = ["-Wno-dev", "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_TESTING=OFF"]
    configure += [f"-DCMAKE_INSTALL_PREFIX={prefix}", f"-DPython3_EXECUTABLE={sys.executable}"]
    steps = [
        ["cmake", "-S", str(SOURCE), "-B", str(staging / "build"), *configure],
        ["cmake", "--build", str(staging / "build"), "-j", str(os.cpu_count() or 2)],
        ["cmake", "--install", str(staging / "build"), "--prefix", str(staging / "install")],
    ]
    for step in steps:
        done = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{' '.join(step)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    shutil.rmtree(prefix, ignore_errors=True)
    (staging / "install").rename(prefix)
    shutil.rmtree(staging, ignore_errors=True)
    return prefix


@pytest.fixture(scope="session")
def hri_env() -> dict[str, str]:
    """Environment entries that make hri_msgs importable in a child process."""
    prefix = _build_hri_msgs()
    site = next(prefix.glob("lib/python*/site-packages"))
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "LD_LIBRARY_PATH": os.pathsep.join(
            filter(None, [str(prefix / "lib"), os.environ.get("LD_LIBRARY_PATH")])
        ),
        "AMENT_PREFIX_PATH": os.pathsep.join(
            filter(None, [str(prefix), os.environ.get("AMENT_PREFIX_PATH")])
        ),
    }


def _params(model_dir: Path) -> dict[str, Any]:
    return node_params(model_dir, publish_ros4hri=True, **{"tracking.max_misses": 1})


def test_publish_ros4hri_without_hri_msgs_is_refused_at_configure(model_dir: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    ns = "/me_test_no_hri"
    peer = RosPeer()
    try:
        diags = peer.collect(DiagnosticArray, "/diagnostics")
        with running_node(ns, _params(model_dir)) as node:
            peer.spin_until(
                lambda: "hri_msgs" in diagnostics_values(diags, namespace=ns).get("last_error", "")
            )
            d = diagnostics_values(diags, namespace=ns)
            topics = dict(peer.node.get_topic_names_and_types())
            assert node.poll() is None
    finally:
        peer.close()
    assert d["_level"] == "2" and "publish_ros4hri" in d["_message"], d
    assert "hri_msgs" in d["last_error"], d
    assert not any(t.startswith("/humans/") for t in topics), "ROS4HRI topics claimed anyway"


def test_ros4hri_faces_reach_a_consumer_with_the_rep155_types(
    model_dir: Path, hri_env: dict[str, str]
) -> None:
    from sensor_msgs.msg import Image

    from me_perception.msg import MicroExpressionArray

    ns = "/me_test_hri"
    peer = RosPeer()
    lines: list[dict[str, Any]] = []
    try:
        states = peer.collect(MicroExpressionArray, f"{ns}/state", 100)
        pub = peer.node.create_publisher(Image, f"{ns}/image", 10)
        listener_cmd = [sys.executable, str(ROOT / "test" / "hri_listener.py")]
        with (
            child_process(listener_cmd, env=hri_env) as listener,
            running_node(ns, _params(model_dir), env=hri_env) as node,
        ):
            reader = threading.Thread(
                target=lambda: [lines.append(json.loads(raw)) for raw in listener.stdout],
                daemon=True,
            )
            reader.start()
            ready = peer.spin_until(
                lambda: (
                    (pub.get_subscription_count() > 0 and any(x["kind"] == "ready" for x in lines))
                    or node.poll() is not None
                ),
                60.0,
            )
            assert node.poll() is None and ready, (lines, node.poll())
            frame, blank = face_frame(), np.full((480, 640, 3), 60, np.uint8)
            sent, stamp = [], T0

            def rois() -> list[dict[str, Any]]:
                return [x for x in lines if x["kind"] == "roi"]

            # frames until the consumer has seen the face (its subscriptions match the node's
            # publishers some time after they appear, which varies with the machine's load)
            for _ in range(200):
                pub.publish(image_msg(frame, stamp))
                sent.append(stamp)
                stamp += DT
                peer.spin_for(0.15)
                if len(rois()) >= 3:
                    break
            assert len(rois()) >= 3, lines[-5:]
            face_id = rois()[-1]["id"]
            graph = dict(peer.node.get_topic_names_and_types())
            for _ in range(6):  # the face leaves
                pub.publish(image_msg(blank, stamp))
                sent.append(stamp)
                stamp += DT
                peer.spin_for(0.15)

            def left() -> bool:
                tracked = [x for x in lines if x["kind"] == "tracked"]
                return bool(tracked) and tracked[-1]["ids"] == []

            assert peer.spin_until(left, 20.0), [x for x in lines if x["kind"] == "tracked"][-3:]
            peer.spin_until(lambda: peer.node.count_publishers(f"/humans/faces/{face_id}/roi") == 0)
            roi_publishers = peer.node.count_publishers(f"/humans/faces/{face_id}/roi")
            assert node.poll() is None
    finally:
        peer.close()

    assert graph["/humans/faces/tracked"] == ["hri_msgs/msg/IdsList"]
    assert graph[f"/humans/faces/{face_id}/roi"] == ["hri_msgs/msg/NormalizedRegionOfInterest2D"]
    assert graph[f"/humans/faces/{face_id}/micro_expression"] == [
        "me_perception/msg/MicroExpression"
    ]
    tracked = [x for x in lines if x["kind"] == "tracked" and x["ids"]]
    assert tracked and all(x["ids"] == [face_id] for x in tracked), tracked
    assert all(x["stamp"] in sent for x in tracked), "tracked does not carry the image stamp"
    by_stamp = {
        s.header.stamp.sec * 10**9 + s.header.stamp.nanosec: s.faces[0] for s in states if s.faces
    }
    for roi in rois():
        state = by_stamp[roi["stamp"]]
        assert state.face_id == roi["id"] and roi["frame_id"] == "test_cam"
        box = state.roi
        expected = {
            "xmin": box.x_offset / 640,
            "ymin": box.y_offset / 480,
            "xmax": (box.x_offset + box.width) / 640,
            "ymax": (box.y_offset + box.height) / 480,
        }
        for key, value in expected.items():
            assert abs(roi[key] - value) < 1e-6, (key, roi, expected)
        assert 0.0 < roi["c"] <= 1.0
    assert roi_publishers == 0, "the per-face topic outlived the face"
