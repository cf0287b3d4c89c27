"""The ROS 2 node: a thin lifecycle shell over :class:`~me_perception.perception.pipeline.Pipeline`.

Topics (relative to the node's namespace, remappable):
  in:  ``image`` (sensor_msgs/Image) or ``image/compressed`` (sensor_msgs/CompressedImage),
       subscribed with the camera's reliability (see ``input_subscription``)
  out: ``state`` (MicroExpressionArray, every processed frame), ``events`` (MicroExpression,
       onset/apex/offset), ``debug_image`` (only rendered while someone subscribes),
       ``/diagnostics``, and optionally the ROS4HRI topics (see ``ros4hri``).

Every parameter is read at configure (the transition that fails, with the reason in
``/diagnostics``, when one is refused); QoS follows rclpy's standard overrides.

Frames are taken by the subscription callback and handed to one worker thread through a
single slot: if a new frame arrives before the previous one was processed, the older one is
dropped and counted ("superseded"), so the node always works on the newest frame and never
queues without bound. Every received frame ends up counted as processed or dropped (by reason).
Frames that never arrived are estimated from the gaps in the stamps and reported too.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from typing import Any

import rclpy
import rclpy.executors
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image

from me_perception.msg import MicroExpression, MicroExpressionArray
from me_perception.perception.frame_loss import LossConfig, StreamLossMonitor
from me_perception.perception.image_decoding import (
    DecodeConfig,
    ImageDecodeError,
    decode_message,
    message_stamp_ns,
)
from me_perception.perception.pipeline import FrameResult, Pipeline
from me_perception.perception.stamps import ns_to_time
from me_perception.ros.input_subscription import InputSubscription
from me_perception.ros.messages import array_fields, build_rclpy, event_fields
from me_perception.ros.node_health import (
    FrameStats,
    HealthThresholds,
    NodeCondition,
    as_key_values,
    assess,
)
from me_perception.ros.node_parameters import declare_parameters
from me_perception.ros.overlay import draw_overlay
from me_perception.ros.parameters import PARAMETERS, SPECS, pipeline_config, validate_detailed
from me_perception.ros.ros4hri import Ros4HriPublisher, hri_messages

NODE_NAME = "me_perception"
GRAPH_CHECK_S = 0.5


def _output_qos(depth: int) -> QoSProfile:
    """REP-2003: outputs are reliable; overridable with the standard QoS overrides."""
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)


class MicroExpressionNode(LifecycleNode):
    """Lifecycle node: configure reads every parameter and checks the model, activate
    subscribes, cleanup releases."""

    #: how long deactivate/shutdown wait for a frame in progress before going on without it
    stop_timeout_s = 10.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._refused = declare_parameters(self, PARAMETERS)
        for reason in self._refused.values():
            self.get_logger().error(reason)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.pipeline: Pipeline | None = None
        self.thresholds = HealthThresholds()
        self.stats = FrameStats(self.thresholds.window_s)
        self.loss = StreamLossMonitor()
        self._loss_lock = threading.Lock()
        self._slot_lock = threading.Condition()
        self._pending: tuple[Any, float, bool] | None = None
        self._busy = False  # the worker is processing a frame
        self._deferred_close: list[Pipeline] = []
        self._generation = 0  # a worker from an earlier activation stops after its frame
        self._worker: threading.Thread | None = None
        self._running = False
        self._input: InputSubscription | None = None
        self._state_pub = self._events_pub = self._debug_pub = None
        self._hri: Ros4HriPublisher | None = None
        self._decode_config = DecodeConfig()
        self._backend_text = "not configured"
        self._config_error = "; ".join(self._refused.values())
        if self._config_error:
            self.stats.set_error(self._config_error)
        self._active_since: float | None = None
        self._graph_timer = None
        # Diagnostics exist in every lifecycle state, so "not configured" and its reason show.
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(
            float(self.get_parameter("diagnostics_period").value), self._publish_diagnostics
        )

    # -- parameters ---------------------------------------------------------------------------
    def refuse_startup_values(self, refused: dict[str, str]) -> None:
        """Start-up values refused outside this class (rclpy's own parameters)."""
        for name, reason in refused.items():
            self.get_logger().error(reason)
            self._refused[name] = reason
        self._config_error = "; ".join(self._refused.values())
        if self._config_error:
            self.stats.set_error(self._config_error)

    def _values(self) -> dict[str, Any]:
        return {spec.name: self.get_parameter(spec.name).value for spec in PARAMETERS}

    def _on_set_parameters(self, params: list[Any]) -> SetParametersResult:
        for p in params:
            if p.name in RCLPY_PARAMETERS:  # rclpy checked its type already
                self._refused.pop(p.name, None)
        changed = {p.name: p.value for p in params if p.name in SPECS}
        if not changed:
            return SetParametersResult(successful=True)
        values = {**self._values(), **changed}
        # the merged set, so cross-parameter rules apply, but only rules the change touches
        reasons = [r for names, r in validate_detailed(values) if names & changed.keys()]
        if reasons:
            return SetParametersResult(successful=False, reason="; ".join(reasons))
        for name in changed:
            self._refused.pop(name, None)
        return SetParametersResult(successful=True)

    # -- lifecycle ----------------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        values = self._values()
        reasons = [*self._refused.values(), *(r for _, r in validate_detailed(values))]
        if reasons:
            return self._configure_failed("invalid parameters: " + "; ".join(reasons))
        self._apply_diagnostics(values)
        try:
            self.pipeline = Pipeline(pipeline_config(values))
        except Exception as exc:  # missing/corrupt/inconsistent model, no backend
            return self._configure_failed(f"model: {exc}")
        try:
            self._make_outputs(values)
        except Exception as exc:  # invalid QoS overrides, hri_msgs missing
            self._release()
            return self._configure_failed(str(exc))
        self._backend_text = self.pipeline.describe_backend()
        for reason in self.pipeline.selection.reasons:
            self.get_logger().info(f"backend: {reason}")
        self._config_error = ""
        self.get_logger().info(f"configured: {self._backend_text}")
        return TransitionCallbackReturn.SUCCESS

    def _configure_failed(self, reason: str) -> TransitionCallbackReturn:
        self._config_error = reason
        self.stats.set_error(f"configure failed: {reason}")
        self.get_logger().error(f"configure failed: {reason}")
        return TransitionCallbackReturn.FAILURE

    def _apply_diagnostics(self, values: dict[str, Any]) -> None:
        self.thresholds = HealthThresholds(window_s=float(values["diagnostics_window"]))
        self.stats.window_s = self.thresholds.window_s
        with self._loss_lock:
            self.loss = StreamLossMonitor(
                LossConfig(
                    window_s=self.thresholds.window_s, nominal_fps=float(values["nominal_fps"])
                )
            )
        self.destroy_timer(self._diag_timer)
        self._diag_timer = self.create_timer(
            float(values["diagnostics_period"]), self._publish_diagnostics
        )

    def _make_outputs(self, values: dict[str, Any]) -> None:
        """Publishers, the input's QoS and the ROS4HRI outputs, as the parameters say."""
        self._decode_config = DecodeConfig(max_pixels=int(values["max_image_pixels"]))
        if values["publish_ros4hri"]:
            hri = hri_messages()
            if isinstance(hri, str):
                raise RuntimeError(f"publish_ros4hri is true but {hri}")
            self._hri = Ros4HriPublisher(self, *hri)
        compressed = values["image_transport"] == "compressed"
        self._input = InputSubscription(
            self,
            CompressedImage if compressed else Image,
            "image/compressed" if compressed else "image",
            lambda m: self._on_image(m, compressed),
            self._on_lost,
        )
        overrides = QoSOverridingOptions.with_default_policies()
        self._state_pub = self.create_lifecycle_publisher(
            MicroExpressionArray, "state", _output_qos(10), qos_overriding_options=overrides
        )
        self._events_pub = self.create_lifecycle_publisher(
            MicroExpression, "events", _output_qos(10), qos_overriding_options=overrides
        )
        # Reliable, depth 1: matches both reliable (rviz default) and best-effort subscribers.
        self._debug_pub = self.create_lifecycle_publisher(
            Image, "debug_image", _output_qos(1), qos_overriding_options=overrides
        )

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        assert self._input is not None
        self._input.start()
        with self._slot_lock:
            self._running = True
            self._generation += 1
            generation = self._generation
        self._worker = threading.Thread(
            target=self._work, args=(generation,), name="me_perception_worker", daemon=True
        )
        self._worker.start()
        self._active_since = time.monotonic()
        self._graph_timer = self.create_timer(GRAPH_CHECK_S, self._check_input_graph)
        self.get_logger().info(
            f"active: listening on {self._input.topic} ({self._input.reliability})"
        )
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_worker()
        if self._graph_timer is not None:
            self.destroy_timer(self._graph_timer)
            self._graph_timer = None
        if self._input is not None:
            self._input.stop()
        self._active_since = None
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
                self.stats.count_dropped("deactivated", "", time.monotonic())
                self._pending = None
            self._slot_lock.notify_all()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.join(timeout=self.stop_timeout_s)
            if worker.is_alive():
                self.get_logger().warning(
                    f"a frame is still being processed after {self.stop_timeout_s:g} s; the "
                    "model is released when it is done"
                )

    def _release(self) -> None:
        """Release the model and the outputs (cleanup). A model still in use by the worker is
        closed by the worker when its frame is done, never under its feet."""
        with self._slot_lock:
            pipeline, self.pipeline = self.pipeline, None
            if pipeline is not None and self._busy:
                self._deferred_close.append(pipeline)
                pipeline = None
        if pipeline is not None:
            pipeline.close()
        for pub in (self._state_pub, self._events_pub, self._debug_pub):
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
        self._state_pub = self._events_pub = self._debug_pub = None
        if self._hri is not None:
            self._hri.close()
            self._hri = None
        if self._input is not None:
            self._input.stop()
            self._input = None
        self._backend_text = "not configured"

    # -- frames -------------------------------------------------------------------------------
    def _on_image(self, msg: Any, compressed: bool) -> None:
        received = time.monotonic()
        self.stats.count_received(received)
        try:
            stamp = message_stamp_ns(msg.header)
        except ImageDecodeError:
            stamp = None  # refused by the worker, with its reason
        if stamp is not None:
            with self._loss_lock:
                self.loss.observe(stamp, received)
        with self._slot_lock:
            if self._pending is not None:
                self.stats.count_dropped("superseded", "", received)
            self._pending = (msg, received, compressed)
            self._slot_lock.notify()

    def _on_lost(self, count: int) -> None:
        with self._loss_lock:
            self.loss.add_transport_lost(count, time.monotonic())

    def _check_input_graph(self) -> None:
        if self._input is None:
            return
        note = self._input.recheck()
        if note:
            self.get_logger().info(note)

    def _work(self, generation: int) -> None:
        while True:
            with self._slot_lock:
                while self._running and self._pending is None:
                    self._slot_lock.wait(timeout=0.5)
                if not self._running or generation != self._generation:
                    return
                msg, received, compressed = self._pending
                self._pending = None
                self._busy = True
                pipeline = self.pipeline
            try:
                self._process(pipeline, msg, received, compressed)
            finally:
                with self._slot_lock:
                    self._busy = False
                    deferred, self._deferred_close = self._deferred_close, []
                for stale in deferred:
                    stale.close()

    def _drop(self, reason: str, detail: str) -> None:
        self.stats.count_dropped(reason, detail, time.monotonic())
        self.get_logger().warning(detail, throttle_duration_sec=2.0)

    def _process(
        self, pipeline: Pipeline | None, msg: Any, received: float, compressed: bool
    ) -> None:
        if pipeline is None:
            self._drop("not_configured", "frame received while not configured")
            return
        try:
            stamp_ns = message_stamp_ns(msg.header)
            image = None
            # a frame between two analyses (analysis_rate) is not decoded unless it is drawn
            if pipeline.wants_image(stamp_ns) or self._overlay_wanted():
                image = decode_message(msg, compressed, self._decode_config)
        except ImageDecodeError as exc:
            self._drop(f"decode_{exc.reason}", f"image dropped: {exc}")
            return
        try:
            result = pipeline.process(image, stamp_ns, msg.header.frame_id)
        except Exception as exc:
            self._drop("pipeline_error", f"pipeline error: {exc!r}")
            self.get_logger().debug(traceback.format_exc())
            return
        try:
            self._publish(result, image)
        except Exception as exc:
            if not self._running:  # outputs were torn down while this frame was in flight
                self.stats.count_dropped("deactivated", "", time.monotonic())
            else:
                self._drop("publish_error", f"publish error: {exc!r}")
            return
        non_finite = [f.face_id for f in result.faces if not f.valid]
        self.stats.count_processed(
            time.monotonic() - received, non_finite, time.monotonic(), result.notes
        )
        for note in result.notes:
            self.get_logger().info(note, throttle_duration_sec=2.0)

    def _publish(self, result: FrameResult, image: Any) -> None:
        if self._state_pub is None:
            return
        self._state_pub.publish(build_rclpy(MicroExpressionArray, array_fields(result)))
        for record in result.events:
            self._events_pub.publish(build_rclpy(MicroExpression, event_fields(result, record)))
        if image is not None and self._overlay_wanted():
            self._debug_pub.publish(self._overlay_msg(result, image))
        if self._hri is not None:
            self._hri.publish(result)

    def _overlay_wanted(self) -> bool:
        pub = self._debug_pub
        return pub is not None and pub.get_subscription_count() > 0

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

    # -- diagnostics --------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        snap = self.stats.snapshot(now)
        with self._loss_lock:
            loss = self.loss.snapshot(now)
        with self._slot_lock:
            pending = 1 if self._pending is not None else 0
        pipeline, source = self.pipeline, self._input
        quiet = None
        if self._active_since is not None:
            quiet = min(now - self._active_since, snap.seconds_since_frame or float("inf"))
        condition = NodeCondition(
            configured=pipeline is not None,
            active=self._active_since is not None,
            config_error=self._config_error,
            input_topic=source.topic if source else "",
            input_publishers=source.publisher_count() if source else 0,
            faces_tracked=pipeline.tracked_faces if pipeline else 0,
            seconds_without_frames=quiet,
        )
        level, message = assess(snap, loss, condition, self.thresholds)
        values = {
            **as_key_values(snap, loss, pending),
            "backend": self._backend_text,
            "faces_tracked": condition.faces_tracked,
            "measured_fps": f"{pipeline.fps:.1f}" if pipeline else "0",
            "model_id": pipeline.model_id if pipeline else "",
            "input_topic": condition.input_topic,
            "input_reliability": source.reliability if source else "none",
            "input_publishers": condition.input_publishers,
            "window_s": f"{self.thresholds.window_s:g}",
        }
        status = DiagnosticStatus(
            name=f"{self.get_name()}: micro-expression pipeline",
            hardware_id=self.get_fully_qualified_name(),
            message=message,
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
        )
        status.level = bytes([level])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(msg)


#: Parameters rclpy itself declares while constructing a node, with their defaults.
RCLPY_PARAMETERS = {"use_sim_time": False, "start_type_description_service": True}


def create_node() -> MicroExpressionNode:
    """The node, also when a start-up value of one of rclpy's own parameters is of the wrong
    kind (``-p use_sim_time:=1`` made rclpy raise inside the constructor): that parameter
    keeps its default and configure fails naming it, as for the node's own parameters."""
    overrides: list[Parameter] = []
    refused: dict[str, str] = {}
    while True:
        try:
            node = MicroExpressionNode(parameter_overrides=overrides or None)
        except ParameterException as exc:
            name = next((n for n in RCLPY_PARAMETERS if str(exc).endswith(f": {n}")), None)
            if name is None or name in refused:
                raise
            default = RCLPY_PARAMETERS[name]
            refused[name] = (
                f"{name}: start-up value refused ({exc}); it holds the default {default}"
            )
            overrides.append(Parameter(name, value=default))
            continue
        node.refuse_startup_values(refused)
        return node


def main(args: list[str] | None = None) -> int:
    """Entry point of ``me_perception_node`` (``ros2 run me_perception me_perception_node``)."""
    rclpy.init(args=args if args is not None else sys.argv)
    node = create_node()
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
