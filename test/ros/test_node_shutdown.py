"""Stopping the node while a frame is still in the model: the backend is never closed under
the worker's feet (it used to be, after the 10 s stop timeout), and the frame is accounted for.

The node runs in this process (real rclpy, real ONNX Runtime backend) so the test can hold the
worker inside a model step: the backend's step is wrapped to take longer than the node's stop
timeout, which is what a slow first TensorRT/CUDA step or an overloaded Jetson does.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from node_support import DT, T0, face_frame, image_msg

pytest.importorskip("rclpy")


def test_backend_outlives_a_frame_still_processed_after_the_stop_timeout(
    model_dir: Path,
) -> None:
    import rclpy
    from rclpy.lifecycle import TransitionCallbackReturn

    from me_perception.ros.node import MicroExpressionNode

    stop_timeout = float(os.environ.get("ME_TEST_STOP_TIMEOUT", "0.3"))
    context = rclpy.Context()
    rclpy.init(
        context=context,
        args=[
            "me_test",
            "--ros-args",
            "-r",
            "__ns:=/me_test_shutdown_race",
            "-p",
            f"model_path:={model_dir}",
            "-p",
            "backend:=onnxruntime",
            "-p",
            "tracking.confirm_hits:=1",
        ],
    )
    node = MicroExpressionNode(context=context)
    try:
        node.stop_timeout_s = stop_timeout
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        backend = node.pipeline.backend
        real_run = backend._run
        inside, done = threading.Event(), threading.Event()
        errors: list[str] = []

        def slow_run(inputs: Any) -> Any:
            inside.set()
            time.sleep(stop_timeout + 1.0)
            try:
                return real_run(inputs)
            except Exception as exc:  # what the old node ran into: a closed session
                errors.append(repr(exc))
                raise
            finally:
                done.set()

        backend._run = slow_run
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        frame = face_frame()
        for i in range(60):  # frames until the face is found and the model runs on it
            node._on_image(image_msg(frame, T0 + i * DT), False)  # as the subscription
            if inside.wait(0.1):
                break
        assert inside.is_set(), "the worker never reached the model"
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert done.wait(stop_timeout + 20.0), "the frame in the model never finished"
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and not backend._closed:
            time.sleep(0.05)
        time.sleep(0.2)  # the worker's accounting after the step
        stats = node.stats
        assert errors == [], errors
        assert backend._closed, "the model was never released"
        assert "pipeline_error" not in stats.dropped, dict(stats.dropped)
        assert stats.received == stats.processed + sum(stats.dropped.values())
    finally:
        node._stop_worker()
        node._release()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
