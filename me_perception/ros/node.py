"""The ROS 2 node: a thin lifecycle shell over :class:`~me_perception.perception.pipeline.Pipeline`.

Topics (relative to the node's namespace, remappable):
  in:  ``image`` (sensor_msgs/Image) or ``image/compressed`` (sensor_msgs/CompressedImage)
  out: ``state`` (MicroExpressionArray, every processed frame), ``events`` (MicroExpression,
       onset/apex/offset), ``debug_image`` (only rendered while someone subscribes),
       ``/diagnostics``, and optionally ROS4HRI ``/humans/faces/<id>/roi`` and
       ``/humans/faces/<id>/micro_expression``.

Frames are taken by the subscription callback and handed to one worker thread through a
single slot: if a new frame arrives before the previous one was processed, the older one is
dropped and counted ("superseded"), so the node always works on the newest frame and never
queues without bound. Every received frame ends up counted as processed or dropped (by reason).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections import Counter, deque
from typing import Any

import numpy as np
import rclpy
import rclpy.executors
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest

from me_perception.msg import MicroExpression, MicroExpressionArray
from me_perception.perception.image_decoding import (
    DecodeConfig,
    ImageDecodeError,
    decode_message,
)
from me_perception.perception.pipeline import FrameResult, Pipeline
from me_perception.perception.stamps import ns_to_time, time_to_ns
from me_perception.ros.messages import array_fields, build_rclpy, event_fields, face_fields
from me_perception.ros.overlay import draw_overlay
from me_perception.ros.parameters import PARAMETERS, SPECS, pipeline_config, validate

NODE_NAME = "me_perception"


def _qos(reliability: str, depth: int) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.BEST_EFFORT
        if reliability == "best_effort"
        else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )


class FrameStats:
    """Thread-safe accounting: received = processed + sum(dropped) + pending."""

    def __init__(self, latency_window: int = 1000) -> None:
        self.lock = threading.Lock()
        self.received = 0
        self.processed = 0
        self.dropped: Counter[str] = Counter()
        self.latencies_ms: deque[float] = deque(maxlen=latency_window)
        self.last_error = ""
        self._window_start = time.monotonic()
        self._window_processed = 0

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            lat = np.fromiter(self.latencies_ms, float) if self.latencies_ms else None
            now = time.monotonic()
            rate = (self.processed - self._window_processed) / max(1e-6, now - self._window_start)
            self._window_start, self._window_processed = now, self.processed
            return {
                "received": self.received,
                "processed": self.processed,
                "dropped": dict(self.dropped),
                "latency_p50_ms": float(np.percentile(lat, 50)) if lat is not None else 0.0,
                "latency_p99_ms": float(np.percentile(lat, 99)) if lat is not None else 0.0,
                "processing_rate": rate,
                "last_error": self.last_error,
            }


class MicroExpressionNode(LifecycleNode):
    """Lifecycle node: configure loads the model, activate subscribes, cleanup releases."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        for spec in PARAMETERS:
            self.declare_parameter(spec.name, spec.default, self._descriptor(spec))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.pipeline: Pipeline | None = None
        self.stats = FrameStats()
        self._slot_lock = threading.Condition()
        self._pending: tuple[Any, float, bool] | None = None
        self._worker: threading.Thread | None = None
        self._running = False
        self._subscription = None
        self._state_pub = self._events_pub = self._debug_pub = None
        self._hri_pubs: dict[str, tuple[Any, Any]] = {}
        self._decode_config = DecodeConfig()
        self._backend_text = "not configured"
        # Diagnostics exist in every lifecycle state, so "not configured" and its reason show.
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(
            float(self.get_parameter("diagnostics_period").value), self._publish_diagnostics
        )

    # -- parameters ---------------------------------------------------------------------------
    @staticmethod
    def _descriptor(spec: Any) -> ParameterDescriptor:
        d = ParameterDescriptor(description=spec.description)
        if spec.choices:
            d.additional_constraints = "one of: " + ", ".join(spec.choices)
        if spec.low is not None and not isinstance(spec.default, bool):
            if isinstance(spec.default, int):
                d.integer_range = [
                    IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=0)
                ]
            else:
                d.floating_point_range = [
                    FloatingPointRange(
                        from_value=float(spec.low), to_value=float(spec.high), step=0.0
                    )
                ]
        return d

    def _values(self) -> dict[str, Any]:
        return {spec.name: self.get_parameter(spec.name).value for spec in PARAMETERS}

    def _on_set_parameters(self, params: list[Any]) -> SetParametersResult:
        values = self._values()
        for p in params:
            if p.name in SPECS:
                values[p.name] = p.value
        reasons = validate(values)  # the merged set, so cross-parameter rules apply too
        if reasons:
            return SetParametersResult(successful=False, reason="; ".join(reasons))
        return SetParametersResult(successful=True)

    # -- lifecycle ----------------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        values = self._values()
        reasons = validate(values)
        if reasons:
            self.get_logger().error("invalid parameters: " + "; ".join(reasons))
            return TransitionCallbackReturn.FAILURE
        try:
            self.pipeline = Pipeline(pipeline_config(values))
        except Exception as exc:  # missing/corrupt model, no backend: stay unconfigured
            self.stats.last_error = f"configure failed: {exc}"
            self.get_logger().error(self.stats.last_error)
            return TransitionCallbackReturn.FAILURE
        sel = self.pipeline.selection
        self._backend_text = self.pipeline.backend.describe()
        for reason in sel.reasons:
            self.get_logger().info(f"backend: {reason}")
        self._decode_config = DecodeConfig(max_pixels=int(values["max_image_pixels"]))
        out_qos = _qos(values["qos.output_reliability"], values["qos.output_depth"])
        self._state_pub = self.create_lifecycle_publisher(MicroExpressionArray, "state", out_qos)
        self._events_pub = self.create_lifecycle_publisher(MicroExpression, "events", out_qos)
        # Reliable, depth 1: matches both reliable (rviz default) and best-effort subscribers.
        debug_qos = _qos("reliable", 1)
        self._debug_pub = self.create_lifecycle_publisher(Image, "debug_image", debug_qos)
        self.get_logger().info(f"configured: {self._backend_text}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        values = self._values()
        in_qos = _qos(values["qos.input_reliability"], values["qos.input_depth"])
        if values["image_transport"] == "compressed":
            self._subscription = self.create_subscription(
                CompressedImage, "image/compressed", lambda m: self._on_image(m, True), in_qos
            )
        else:
            self._subscription = self.create_subscription(
                Image, "image", lambda m: self._on_image(m, False), in_qos
            )
        self._running = True
        self._worker = threading.Thread(target=self._work, name="me_perception_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(f"active: listening on {self._subscription.topic_name}")
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_worker()
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self._stop_worker()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _stop_worker(self) -> None:
        with self._slot_lock:
            self._running = False
            if self._pending is not None:
                with self.stats.lock:
                    self.stats.dropped["deactivated"] += 1
                self._pending = None
            self._slot_lock.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=10.0)
            self._worker = None

    def _release(self) -> None:
        """Release the model and the outputs (cleanup): the backend's memory is freed."""
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None
        for pub in (self._state_pub, self._events_pub, self._debug_pub):
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
        self._state_pub = self._events_pub = self._debug_pub = None
        for roi_pub, me_pub in self._hri_pubs.values():
            self.destroy_publisher(roi_pub)
            self.destroy_publisher(me_pub)
        self._hri_pubs.clear()
        self._backend_text = "not configured"

    # -- frames -------------------------------------------------------------------------------
    def _on_image(self, msg: Any, compressed: bool) -> None:
        received = time.monotonic()
        with self._slot_lock:
            with self.stats.lock:
                self.stats.received += 1
                if self._pending is not None:
                    self.stats.dropped["superseded"] += 1
            self._pending = (msg, received, compressed)
            self._slot_lock.notify()

    def _work(self) -> None:
        while True:
            with self._slot_lock:
                while self._running and self._pending is None:
                    self._slot_lock.wait(timeout=0.5)
                if not self._running:
                    return
                msg, received, compressed = self._pending
                self._pending = None
            self._process(msg, received, compressed)

    def _drop(self, reason: str, detail: str) -> None:
        with self.stats.lock:
            self.stats.dropped[reason] += 1
            self.stats.last_error = detail
        self.get_logger().warning(detail, throttle_duration_sec=2.0)

    def _process(self, msg: Any, received: float, compressed: bool) -> None:
        pipeline = self.pipeline
        if pipeline is None:
            self._drop("not_configured", "frame received while not configured")
            return
        try:
            image = decode_message(msg, compressed, self._decode_config)
        except ImageDecodeError as exc:
            self._drop(f"decode_{exc.reason}", f"image dropped: {exc}")
            return
        stamp_ns = time_to_ns(msg.header.stamp)
        try:
            result = pipeline.process(image, stamp_ns, msg.header.frame_id)
        except Exception as exc:
            self._drop("pipeline_error", f"pipeline error: {exc!r}")
            self.get_logger().debug(traceback.format_exc())
            return
        try:
            self._publish(result, image)
        except Exception as exc:
            self._drop("publish_error", f"publish error: {exc!r}")
            return
        with self.stats.lock:
            self.stats.processed += 1
            self.stats.latencies_ms.append((time.monotonic() - received) * 1e3)
            if result.notes:
                self.stats.last_error = "; ".join(result.notes)
        for note in result.notes:
            self.get_logger().info(note, throttle_duration_sec=2.0)

    def _publish(self, result: FrameResult, image: Any) -> None:
        if self._state_pub is None:
            return
        self._state_pub.publish(build_rclpy(MicroExpressionArray, array_fields(result)))
        for record in result.events:
            self._events_pub.publish(build_rclpy(MicroExpression, event_fields(result, record)))
        if self._debug_pub is not None and self._debug_pub.get_subscription_count() > 0:
            self._debug_pub.publish(self._overlay_msg(result, image))
        if self.get_parameter("publish_ros4hri").value:
            self._publish_ros4hri(result)

    def _overlay_msg(self, result: FrameResult, image: Any) -> Image:
        drawn = draw_overlay(image.bgr, result)
        msg = Image()
        msg.header.stamp.sec, msg.header.stamp.nanosec = ns_to_time(result.stamp_ns)
        msg.header.frame_id = result.frame_id
        msg.height, msg.width = drawn.shape[:2]
        msg.encoding = "bgr8"
        msg.step = msg.width * 3
        msg.data = drawn.tobytes()
        return msg

    def _publish_ros4hri(self, result: FrameResult) -> None:
        seen = set()
        for face in result.faces:
            seen.add(face.face_id)
            pubs = self._hri_pubs.get(face.face_id)
            if pubs is None:
                base = f"/humans/faces/{face.face_id}"
                pubs = self._hri_pubs[face.face_id] = (
                    self.create_publisher(RegionOfInterest, f"{base}/roi", 10),
                    self.create_publisher(MicroExpression, f"{base}/micro_expression", 10),
                )
            fields = face_fields(result, face)
            pubs[0].publish(build_rclpy(RegionOfInterest, fields["roi"]))
            pubs[1].publish(build_rclpy(MicroExpression, fields))
        for fid in [f for f in self._hri_pubs if f not in seen]:
            roi_pub, me_pub = self._hri_pubs.pop(fid)
            self.destroy_publisher(roi_pub)
            self.destroy_publisher(me_pub)

    # -- diagnostics --------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        if self._diag_pub is None:
            return
        snap = self.stats.snapshot()
        with self._slot_lock:
            pending = 1 if self._pending is not None else 0
        status = DiagnosticStatus()
        status.name = f"{self.get_name()}: micro-expression pipeline"
        status.hardware_id = self.get_fully_qualified_name()
        dropped_total = sum(snap["dropped"].values())
        if self.pipeline is None:
            status.level, status.message = DiagnosticStatus.ERROR, "not configured"
        elif snap["last_error"] and dropped_total:
            status.level, status.message = DiagnosticStatus.WARN, snap["last_error"]
        else:
            status.level, status.message = DiagnosticStatus.OK, "running"
        values = {
            "frames_received": snap["received"],
            "frames_processed": snap["processed"],
            "frames_dropped": dropped_total,
            "frames_pending": pending,
            **{f"dropped_{k}": v for k, v in sorted(snap["dropped"].items())},
            "latency_p50_ms": f"{snap['latency_p50_ms']:.2f}",
            "latency_p99_ms": f"{snap['latency_p99_ms']:.2f}",
            "processing_rate_hz": f"{snap['processing_rate']:.1f}",
            "backend": self._backend_text,
            "faces_tracked": self.pipeline.tracked_faces if self.pipeline else 0,
            "measured_fps": f"{self.pipeline.fps:.1f}" if self.pipeline else "0",
            "model_id": self.pipeline.model_id if self.pipeline else "",
            "last_error": snap["last_error"],
        }
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [status]
        self._diag_pub.publish(msg)


def main(args: list[str] | None = None) -> int:
    """Entry point of ``me_perception_node`` (``ros2 run me_perception me_perception_node``)."""
    rclpy.init(args=args if args is not None else sys.argv)
    node = MicroExpressionNode()
    try:
        if node.get_parameter("autostart").value:
            # A failed configure leaves the node alive and unconfigured: /diagnostics says why
            # and a lifecycle manager (or `ros2 lifecycle set`) can retry after a fix.
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().error("autostart: configure failed; staying unconfigured")
            elif node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().error("autostart: activate failed")
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node._stop_worker()
        node._release()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
