"""MicroExpression messages cross a real middleware between two processes, intact."""

from __future__ import annotations

import time

import pytest
from ros_support import (
    HERE,
    assert_plain_equal,
    child_process,
    sample_fields,
    to_plain,
    venv_python,
)

rclpy = pytest.importorskip("rclpy")


def test_generated_messages_import_and_have_phase_constants() -> None:
    from me_perception.msg import MicroExpression, MicroExpressionArray

    assert (
        MicroExpression.PHASE_NONE,
        MicroExpression.PHASE_ONSET,
        MicroExpression.PHASE_APEX,
        MicroExpression.PHASE_OFFSET,
    ) == (0, 1, 2, 3)
    fields = MicroExpression.get_fields_and_field_types()
    for name in (
        "header",
        "face_id",
        "roi",
        "phase",
        "onset_stamp",
        "apex_stamp",
        "offset_stamp",
        "spotting_score",
        "macro_score",
        "label",
        "confidence",
        "class_names",
        "class_probabilities",
        "intensity",
        "model_id",
    ):
        assert name in fields, name
    assert MicroExpressionArray.get_fields_and_field_types()["faces"] == (
        "sequence<me_perception/MicroExpression>"
    )


def test_array_published_by_another_process_arrives_intact() -> None:
    from rclpy.executors import SingleThreadedExecutor

    from me_perception.msg import MicroExpressionArray

    topic = "/me_test/transport"
    received: list[MicroExpressionArray] = []
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("transport_subscriber", context=context)
        node.create_subscription(MicroExpressionArray, topic, received.append, 10)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        with child_process([venv_python(), str(HERE / "ros_support.py"), "publish", topic]) as pub:
            deadline = time.monotonic() + 30.0
            while not received and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.1)
                assert pub.poll() is None, f"publisher died: {pub.stdout.read().decode()}"
        assert received, "no MicroExpressionArray received from the publisher process in 30 s"
        assert_plain_equal(to_plain(received[0]), sample_fields())
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
