"""The node's ROS contract, checked against the running node over the real middleware:
frames of a real camera process arrive with the default parameters, lost frames are reported,
parameters given as users type them never kill the process and take effect at configure,
rclpy's standard QoS overrides apply, diagnostics describe the recent past, and models that
disagree with their metadata are refused at configure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from node_support import (
    DT,
    T0,
    RosPeer,
    camera_process,
    diagnostics_values,
    face_frame,
    image_msg,
    running_node,
)

pytest.importorskip("rclpy")


def _base(model_dir: Path, **extra: Any) -> dict[str, Any]:
    """Only what a test must set (model, backend); everything else keeps its default."""
    return {"autostart": True, "model_path": str(model_dir), "backend": "onnxruntime", **extra}


def _diag(peer: RosPeer, diags: list[Any], ns: str, predicate: Any, timeout: float = 20.0):
    """Newest diagnostics of the node in ``ns`` once ``predicate`` holds for them."""
    peer.spin_until(lambda: predicate(diagnostics_values(diags, namespace=ns)), timeout)
    return diagnostics_values(diags, namespace=ns)


def _reliability(endpoints: list[Any]) -> set[str]:
    return {e.qos_profile.reliability.name.lower() for e in endpoints}


def test_reliable_camera_arrives_complete_with_default_parameters(
    peer: RosPeer, model_dir: Path
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    ns, topic = "/me_test_reliable_cam", "/me_test_reliable_cam/camera/image_raw"
    diags = peer.collect(DiagnosticArray, "/diagnostics")
    with running_node(ns, _base(model_dir, diagnostics_period=0.5), {"image": topic}) as node:
        # a camera driver with Fast DDS's default settings, publishing reliably (the ROS 2
        # default): 640x480 bgr8 at 30 Hz, 120 frames
        with camera_process(topic, reliability="reliable", count=120) as camera:
            assert peer.spin_until(lambda: camera.poll() is not None, 90.0), "camera hung"
            assert camera.returncode == 0, camera.stdout.read().decode()
        subs = peer.node.get_subscriptions_info_by_topic(topic)
        d = _diag(peer, diags, ns, lambda d: d and d["frames_pending"] == "0", 10.0)
        peer.spin_for(1.0)
        d = diagnostics_values(diags, namespace=ns)
        assert node.poll() is None
    assert _reliability(subs) == {"reliable"}, "the subscription did not match the publisher"
    assert int(d["frames_received"]) >= 108, d  # >= 90 % (all 120 here)


def test_lossy_best_effort_camera_is_reported_within_seconds(
    peer: RosPeer, model_dir: Path
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    ns, topic = "/me_test_lossy_cam", "/me_test_lossy_cam/camera/image_raw"
    diags = peer.collect(DiagnosticArray, "/diagnostics")
    with running_node(ns, _base(model_dir, diagnostics_period=0.5), {"image": topic}) as node:
        # best effort without the Fast DDS profile: most raw VGA frames are dropped on the way
        with camera_process(topic, reliability="best_effort", count=600) as camera:
            ok = peer.spin_until(
                lambda: (
                    camera.poll() is None
                    and "lost" in diagnostics_values(diags, namespace=ns).get("_message", "")
                ),
                15.0,
            )
            d = diagnostics_values(diags, namespace=ns)
            subs = peer.node.get_subscriptions_info_by_topic(topic)
        assert node.poll() is None
    assert ok, f"loss not reported while the camera ran: {d}"
    assert d["_level"] == "1", d  # WARN
    message = d["_message"]
    assert "%" in message and "Fast DDS" in message and "reliable" in message, message
    assert float(d["input_loss_fraction"]) > 0.1, d
    assert _reliability(subs) == {"best_effort"}, "a best-effort camera must still be matched"


def test_parameters_typed_as_users_type_them_never_kill_the_node(
    peer: RosPeer, model_dir: Path
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import GetParameters, SetParameters

    diags = peer.collect(DiagnosticArray, "/diagnostics")
    # integer literals for double parameters are accepted as the double they mean
    ns = "/me_test_int_literals"
    raw = ["nominal_fps:=25", "events.min_duration:=0", "diagnostics_period:=1"]
    with running_node(ns, _base(model_dir), raw_params=raw) as node:
        d = _diag(peer, diags, ns, lambda d: d.get("model_id"))
        assert node.poll() is None, node.stdout.read().decode()
        answer = peer.call(
            GetParameters,
            f"{ns}/me_perception/get_parameters",
            GetParameters.Request(names=["nominal_fps", "events.min_duration"]),
        )
    assert d["_level"] != "2" and d["model_id"], d
    assert [(v.type, v.double_value) for v in answer.values] == [
        (ParameterType.PARAMETER_DOUBLE, 25.0),
        (ParameterType.PARAMETER_DOUBLE, 0.0),
    ]

    # out of range or of the wrong kind: refused with the reason, the node stays alive
    ns = "/me_test_bad_literals"
    raw = ["events.on_threshold:=2.0", "max_faces:=0", "num_threads:=1.5", "backend:=magic"]
    raw.append("use_sim_time:=1")  # rclpy's own parameter, checked in the node's constructor
    base = f"{ns}/me_perception"
    with running_node(ns, _base(model_dir), raw_params=raw) as node:
        d = _diag(peer, diags, ns, lambda d: d.get("_level") == "2" and d.get("last_error"))
        assert node.poll() is None, node.stdout.read().decode()
        state = peer.call(GetState, f"{base}/get_state", GetState.Request()).current_state
        for word in ("events.on_threshold", "max_faces", "num_threads", "backend", "use_sim_time"):
            assert word in d["last_error"] and word in d["_message"], (word, d)

        def value(name: str, v: Any) -> Parameter:
            if isinstance(v, float):
                pv = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=v)
            elif isinstance(v, int):
                pv = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=v)
            else:
                pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=v)
            return Parameter(name=name, value=pv)

        fixes = [
            value("events.on_threshold", 0.7),
            value("max_faces", 4),
            value("num_threads", 1),
            value("backend", "onnxruntime"),
            Parameter(
                name="use_sim_time",
                value=ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=False),
            ),
        ]
        result = peer.call(
            SetParameters, f"{base}/set_parameters", SetParameters.Request(parameters=fixes)
        )
        assert all(r.successful for r in result.results), [r.reason for r in result.results]
        request = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE))
        configured = peer.call(ChangeState, f"{base}/change_state", request).success
        d = _diag(peer, diags, ns, lambda d: d.get("model_id"))
        assert node.poll() is None
    assert state.label == "unconfigured"
    assert configured and d["_level"] != "2", d


def test_standard_qos_overrides_apply_to_inputs_and_outputs(peer: RosPeer, model_dir: Path) -> None:
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from me_perception.msg import MicroExpressionArray

    ns = "/me_test_qos_overrides"
    best_effort = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
    peer.collect(MicroExpressionArray, f"{ns}/state", best_effort)
    reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    pub = peer.node.create_publisher(Image, f"{ns}/image", reliable)
    raw = [
        f"qos_overrides.{ns}/state.publisher.reliability:=best_effort",
        f"qos_overrides.{ns}/image.subscription.reliability:=best_effort",
    ]
    with running_node(ns, _base(model_dir), raw_params=raw) as node:
        assert peer.spin_until(lambda: pub.get_subscription_count() > 0, 30.0)
        assert peer.wait_matched(f"{ns}/state")
        outputs = peer.node.get_publishers_info_by_topic(f"{ns}/state")
        inputs = peer.node.get_subscriptions_info_by_topic(f"{ns}/image")
        assert node.poll() is None
    assert _reliability(outputs) == {"best_effort"}
    # the user's override wins over matching the (reliable) publisher
    assert _reliability(inputs) == {"best_effort"}


def test_diagnostics_period_takes_effect_at_configure(peer: RosPeer, model_dir: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    ns = "/me_test_diag_period"
    base = f"{ns}/me_perception"
    diags = peer.collect(DiagnosticArray, "/diagnostics")

    def count_over(seconds: float) -> int:
        start = len([m for m in diags if m.status[0].hardware_id == base])
        peer.spin_for(seconds)
        return len([m for m in diags if m.status[0].hardware_id == base]) - start

    with running_node(ns, _base(model_dir, diagnostics_period=0.2)) as node:
        _diag(peer, diags, ns, lambda d: d.get("model_id"))
        fast = count_over(2.0)
        value = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=5.0)
        request = SetParameters.Request(
            parameters=[Parameter(name="diagnostics_period", value=value)]
        )
        assert peer.call(SetParameters, f"{base}/set_parameters", request).results[0].successful
        for transition in (
            Transition.TRANSITION_DEACTIVATE,
            Transition.TRANSITION_CLEANUP,
            Transition.TRANSITION_CONFIGURE,
        ):
            request = ChangeState.Request(transition=Transition(id=transition))
            assert peer.call(ChangeState, f"{base}/change_state", request).success
        peer.spin_for(0.5)
        slow = count_over(3.0)
        assert node.poll() is None
    assert fast >= 5, fast  # every 0.2 s
    assert slow <= 2, slow  # every 5 s after the configure


def test_diagnostics_level_and_message_follow_the_recent_window(
    peer: RosPeer, model_dir: Path
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    ns = "/me_test_diag_window"
    diags = peer.collect(DiagnosticArray, "/diagnostics")
    pub = peer.node.create_publisher(Image, f"{ns}/image", 10)
    good = face_frame()
    stamp = [T0]

    def send(**overrides: Any) -> None:
        msg = image_msg(good, stamp[0])
        for key, value in overrides.items():
            setattr(msg, key, value)
        stamp[0] += DT
        pub.publish(msg)
        peer.spin_for(0.1)

    params = _base(model_dir, diagnostics_period=0.2, diagnostics_window=1.0)
    with running_node(ns, params) as node:
        assert peer.spin_until(lambda: pub.get_subscription_count() > 0, 30.0)
        for _ in range(3):
            send()
        send(encoding="32FC1")  # one undecodable frame
        d = _diag(peer, diags, ns, lambda d: d.get("_level") == "1")
        assert "32FC1" in d["_message"] or "unsupported" in d["_message"], d
        for _ in range(30):  # 3 s of good frames: the drop leaves the 1 s window
            send()
        recovered = _diag(peer, diags, ns, lambda d: d.get("_level") == "0", 5.0)
        assert node.poll() is None
    assert recovered["_level"] == "0", recovered
    assert recovered["dropped_decode_unsupported_encoding"] == "1", recovered  # still counted


def test_models_that_disagree_with_their_metadata_are_refused_at_configure(
    peer: RosPeer, model_dir: Path, broken_models: dict[str, Path]
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    ns = "/me_test_model_check"
    base = f"{ns}/me_perception"
    diags = peer.collect(DiagnosticArray, "/diagnostics")

    def configure_with(path: Path) -> tuple[bool, dict[str, str]]:
        value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=str(path))
        request = SetParameters.Request(parameters=[Parameter(name="model_path", value=value)])
        peer.call(SetParameters, f"{base}/set_parameters", request)
        request = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE))
        ok = peer.call(ChangeState, f"{base}/change_state", request).success
        start = len(diags)
        peer.spin_until(lambda: len(diags) > start + 1)
        return ok, diagnostics_values(diags, namespace=ns)

    with running_node(ns, _base(model_dir, autostart=False, diagnostics_period=0.2)) as node:
        crop_ok, crop = configure_with(broken_models["crop"])
        classes_ok, classes = configure_with(broken_models["classes"])
        good_ok, good = configure_with(model_dir)
        assert node.poll() is None
    assert not crop_ok and crop["_level"] == "2", crop
    assert "crop" in crop["last_error"] and "32" in crop["last_error"], crop
    assert not classes_ok and classes["_level"] == "2", classes
    assert "class" in classes["last_error"] and "3" in classes["last_error"], classes
    assert good_ok and good["_level"] != "2" and good["model_id"], good


def test_faces_with_non_finite_outputs_make_diagnostics_warn(
    peer: RosPeer, broken_models: dict[str, Path]
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    ns = "/me_test_nan_faces"
    diags = peer.collect(DiagnosticArray, "/diagnostics")
    pub = peer.node.create_publisher(Image, f"{ns}/image", 10)
    params = _base(
        broken_models["nan_on_faces"], diagnostics_period=0.2, **{"tracking.confirm_hits": 1}
    )
    with running_node(ns, params) as node:
        assert peer.spin_until(lambda: pub.get_subscription_count() > 0, 30.0)
        configured = diagnostics_values(diags, namespace=ns)
        for i in range(15):
            pub.publish(image_msg(face_frame(), T0 + i * DT))
            peer.spin_for(0.1)
        d = _diag(peer, diags, ns, lambda d: "non-finite" in d.get("_message", ""))
        assert node.poll() is None
    assert configured.get("_level") != "2", configured  # finite on the configure-time step
    assert d["_level"] == "1" and "non-finite" in d["_message"], d
    assert int(d["faces_non_finite"]) > 0, d
