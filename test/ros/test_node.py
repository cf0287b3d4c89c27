"""The live node in a child process, driven over the real middleware: real face frames in,
state/events out with the input header; bad inputs; parameters; lifecycle transitions."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from node_support import (
    DT,
    T0,
    RosPeer,
    compressed_msg,
    diagnostics_values,
    face_boxes,
    face_frame,
    image_msg,
    node_params,
    running_node,
)

from me_perception.perception.stamps import time_to_ns

pytest.importorskip("rclpy")


def _iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


def _wait_subscribed(peer: RosPeer, pub: Any, proc: Any, timeout: float = 30.0) -> None:
    ok = peer.spin_until(
        lambda: pub.get_subscription_count() > 0 or proc.poll() is not None, timeout
    )
    assert proc.poll() is None, f"node exited:\n{proc.stdout.read().decode()}"
    assert ok, "the node never subscribed to the image topic"
    for topic in [t for t in peer.subscriptions if t.endswith("/state")]:
        assert peer.wait_matched(topic, timeout), f"no publisher matched on {topic}"


@pytest.mark.parametrize("transport", ["raw", "compressed"])
def test_real_face_frames_come_back_with_header_and_roi(
    peer: RosPeer, model_dir: Path, transport: str
) -> None:
    from sensor_msgs.msg import CompressedImage, Image

    from me_perception.msg import MicroExpressionArray

    ns = f"/me_test_{transport}"
    states = peer.collect(MicroExpressionArray, f"{ns}/state")
    if transport == "raw":
        pub = peer.node.create_publisher(Image, f"{ns}/camera/image_raw", 10)
        make = image_msg
        remap = {"image": "camera/image_raw"}
    else:
        pub = peer.node.create_publisher(CompressedImage, f"{ns}/camera/image_raw/compressed", 10)
        make = compressed_msg
        remap = {"image/compressed": "camera/image_raw/compressed"}
    frame = face_frame()
    truth = face_boxes()[0]
    params = node_params(model_dir, image_transport=transport)
    with running_node(ns, params, remap) as proc:
        _wait_subscribed(peer, pub, proc)
        sent = []
        for i in range(12):
            stamp = T0 + i * DT
            pub.publish(make(frame, stamp))
            sent.append(stamp)
            peer.spin_for(0.05)
        assert peer.spin_until(lambda: len(states) >= 10, 20.0), f"{len(states)} states"
    by_stamp = {time_to_ns(s.header.stamp): s for s in states}
    assert set(by_stamp) <= set(sent), "a state carries a stamp that was never sent"
    last = states[-1]
    assert last.header.frame_id == "test_cam"
    assert len(last.faces) == 1, f"{len(last.faces)} faces in the last state"
    face = last.faces[0]
    roi = (face.roi.x_offset, face.roi.y_offset, face.roi.width, face.roi.height)
    # The detector's box is the face inside the pasted photograph: it must lie in the patch.
    assert _iou(roi, truth) > 0.2 and roi[0] >= truth[0] - 5 and roi[1] >= truth[1] - 5, roi
    assert face.face_id and face.header == last.header
    assert len(face.class_names) == len(face.class_probabilities) == 5
    assert abs(sum(face.class_probabilities) - 1.0) < 1e-3
    assert 0.0 <= face.spotting_score <= 1.0 and 0.0 <= face.intensity <= 1.0


def test_bad_inputs_are_dropped_with_reason_and_node_keeps_running(
    peer: RosPeer, model_dir: Path
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    from me_perception.msg import MicroExpression, MicroExpressionArray

    ns = "/me_test_bad"
    states = peer.collect(MicroExpressionArray, f"{ns}/state")
    diags = peer.collect(DiagnosticArray, "/diagnostics")
    pub = peer.node.create_publisher(Image, f"{ns}/image", 50)
    good = face_frame()
    many = face_frame(faces=12)
    noise = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    stamp = [T0]

    def msg(frame: np.ndarray, **overrides: Any) -> Any:
        m = image_msg(frame, stamp[0])
        for k, v in overrides.items():
            setattr(m, k, v)
        stamp[0] += DT
        return m

    # No face first (a tracked face would coast through a few face-less frames); then the face
    # long enough for the sliced full-image detection to find it.
    sequence = [msg(noise)] + [msg(good) for _ in range(6)]
    bad_cases = {
        "unsupported_encoding": msg(good, encoding="32FC1"),
        "size_mismatch": msg(good, step=640 * 3, height=500),
        "zero_size": msg(good, width=0, height=0, step=0, data=b""),
        "too_large": msg(np.zeros((2000, 2000), np.uint8)),
        "bad_stamp": msg(good),
    }
    # nanosec out of [0, 1e9): carried into the outputs, sec would wrap to -2147483645
    bad_cases["bad_stamp"].header.stamp.sec = 2**31 - 1
    bad_cases["bad_stamp"].header.stamp.nanosec = 4_000_000_000
    sequence += [*bad_cases.values(), msg(many), msg(good)]
    last_before_loop = stamp[0] - DT
    loop = [T0 + i * DT for i in range(8)]  # time goes backwards (a bag loop), then on
    gap = [loop[-1] + 5 * 10**9, loop[-1] + 5 * 10**9 + DT]  # a 5 s gap
    sequence += [image_msg(good, s) for s in loop + gap]
    events = peer.collect(MicroExpression, f"{ns}/events")
    # Thresholds of 1e-9 (0 would mean "the spotter's own"): every frame is above threshold,
    # so an event is always open and the resets below must close it, whatever the untrained
    # network outputs. A long diagnostics
    # window: the WARN of the bad frames must still show at the end.
    params = node_params(
        model_dir,
        max_image_pixels=1_000_000,
        max_faces=8,
        diagnostics_window=60.0,
        **{"events.on_threshold": 1e-9, "events.off_threshold": 1e-9},
    )
    with running_node(ns, params) as proc:
        _wait_subscribed(peer, pub, proc)
        for m in sequence:
            pub.publish(m)
            peer.spin_for(0.25)  # paced: every frame is processed, none superseded

        def settled() -> bool:
            d = diagnostics_values(diags)
            return bool(d) and int(d["frames_received"]) == len(sequence)

        assert peer.spin_until(settled, 20.0), f"diagnostics: {diagnostics_values(diags)}"
        assert peer.spin_until(lambda: len(states) == len(sequence) - len(bad_cases), 10.0)
        peer.spin_for(0.5)
        assert proc.poll() is None, "the node died on bad input"
    d = diagnostics_values(diags)
    received, processed = int(d["frames_received"]), int(d["frames_processed"])
    dropped = int(d["frames_dropped"])
    assert received == processed + dropped + int(d["frames_pending"]), d
    for reason in bad_cases:
        assert int(d.get(f"dropped_decode_{reason}", 0)) == 1, (reason, d)
    assert processed == len(sequence) - len(bad_cases), d
    assert d["_level"] == "1" and d["_message"], d  # WARN with the last reason
    assert all(s.header.stamp.sec > 0 for s in states), "a stamp wrapped around"
    no_face = [s for s in states if not s.faces]
    assert no_face, "the first (noise) frame should give a state with no face"
    assert max(len(s.faces) for s in states) <= 8, "max_faces not honoured"

    after = states[-len(loop + gap) :]
    assert [time_to_ns(s.header.stamp) for s in after] == loop + gap, "all processed, in order"
    before = next(s for s in states if time_to_ns(s.header.stamp) == last_before_loop)
    first_id = max(before.faces, key=lambda f: f.roi.width).face_id  # the large face
    looped_ids = {f.face_id for s in after for f in s.faces}
    assert len(looped_ids) == 1 and first_id not in looped_ids, "ids are unique in a run"
    (new_id,) = looped_ids

    def closing(frame_stamp: int) -> list[Any]:
        return [e for e in events if time_to_ns(e.header.stamp) == frame_stamp and e.phase == 3]

    # Time going backwards: every face is forgotten; the open event ends at the last frame
    # before the loop, reported with the frame that went back, with no box (the face is gone).
    (ended,) = [e for e in closing(loop[0]) if e.face_id == first_id]
    assert time_to_ns(ended.offset_stamp) == last_before_loop and ended.roi.width == 0
    # The gap: the face stays (same id), its open event ends at the last frame before the gap.
    (cut,) = closing(gap[0])
    assert cut.face_id == new_id and time_to_ns(cut.offset_stamp) == loop[-1]
    assert time_to_ns(cut.onset_stamp) in loop[:5] and cut.roi.width > 0  # found again soon
    # and both resets were reported in the diagnostics' notes of the recent window
    notes = {v.get("recent_notes", "") for v in (diagnostics_values([m]) for m in diags)}
    assert any("time went backwards by" in n for n in notes), notes
    assert any("frame gap of 5000 ms" in n for n in notes), notes


def test_invalid_parameters_are_refused_with_reason(peer: RosPeer, model_dir: Path) -> None:
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    ns = "/me_test_params"

    def param(name: str, value: Any) -> Parameter:
        if isinstance(value, float):
            pv = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
        else:
            pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
        return Parameter(name=name, value=pv)

    with running_node(ns, node_params(model_dir)) as proc:
        service = f"{ns}/me_perception/set_parameters"
        cases = [
            (param("events.on_threshold", 1.5), "on_threshold"),
            (param("backend", "magic"), "backend"),
            (param("events.off_threshold", 0.95), "off_threshold"),
        ]
        for p, word in cases:
            result = peer.call(SetParameters, service, SetParameters.Request(parameters=[p]))
            assert not result.results[0].successful, p.name
            assert word in result.results[0].reason, result.results[0].reason
        ok = peer.call(
            SetParameters,
            service,
            SetParameters.Request(parameters=[param("events.on_threshold", 0.7)]),
        )
        assert ok.results[0].successful, ok.results[0].reason
        assert proc.poll() is None


def test_lifecycle_transitions_and_model_release(
    peer: RosPeer, model_dir: Path, tmp_path: Path
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    ns = "/me_test_lifecycle"
    base = f"{ns}/me_perception"
    diags = peer.collect(DiagnosticArray, "/diagnostics")

    def state() -> str:
        return peer.call(GetState, f"{base}/get_state", GetState.Request()).current_state.label

    def change(transition: int) -> bool:
        req = ChangeState.Request(transition=Transition(id=transition))
        return peer.call(ChangeState, f"{base}/change_state", req).success

    def diag_after(predicate: Any) -> dict[str, str]:
        start = len(diags)
        peer.spin_until(lambda: len(diags) > start + 1 and predicate(diagnostics_values(diags)))
        return diagnostics_values(diags)

    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "model.onnx").write_bytes(b"\x08\x07garbage, not a protobuf")

    def set_model(path: str) -> None:
        value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=path)
        request = SetParameters.Request(parameters=[Parameter(name="model_path", value=value)])
        peer.call(SetParameters, f"{base}/set_parameters", request)

    params = node_params(model_dir, autostart=False, model_path="/nonexistent/model")
    with running_node(ns, params) as proc:
        assert state() == "unconfigured"
        assert not change(Transition.TRANSITION_CONFIGURE), "configure with a missing model"
        d = diag_after(lambda d: "nonexistent" in d.get("last_error", ""))
        assert "nonexistent" in d["last_error"] and d["_level"] == "2", d
        assert state() == "unconfigured" and proc.poll() is None
        set_model(str(corrupt))
        assert not change(Transition.TRANSITION_CONFIGURE), "configure with a corrupt model"
        d = diag_after(lambda d: "corrupt" in d.get("last_error", ""))
        assert str(corrupt) in d["last_error"], d
        assert state() == "unconfigured" and proc.poll() is None

        set_model(str(model_dir))
        assert change(Transition.TRANSITION_CONFIGURE) and state() == "inactive"
        d = diag_after(lambda d: d.get("model_id") not in (None, ""))
        assert d["model_id"] == "untrained-seed0" and "onnxruntime" in d["backend"], d
        assert change(Transition.TRANSITION_ACTIVATE) and state() == "active"
        assert change(Transition.TRANSITION_DEACTIVATE) and state() == "inactive"
        assert change(Transition.TRANSITION_CLEANUP) and state() == "unconfigured"
        d = diag_after(lambda d: d.get("model_id") == "")
        assert d["backend"] == "not configured" and d["model_id"] == "", d
        time.sleep(0.1)
        assert proc.poll() is None


def test_debug_image_is_the_frame_with_the_overlay(peer: RosPeer, model_dir: Path) -> None:
    from sensor_msgs.msg import Image

    from me_perception.msg import MicroExpressionArray

    ns = "/me_test_debug"
    states = peer.collect(MicroExpressionArray, f"{ns}/state")
    debug = peer.collect(Image, f"{ns}/debug_image")
    pub = peer.node.create_publisher(Image, f"{ns}/image", 10)
    frame = face_frame()
    with running_node(ns, node_params(model_dir)) as proc:
        _wait_subscribed(peer, pub, proc)
        assert peer.wait_matched(f"{ns}/debug_image")
        stamp = T0
        for _ in range(10):
            pub.publish(image_msg(frame, stamp))
            stamp += DT
            peer.spin_for(0.1)
        assert peer.spin_until(lambda: debug and any(s.faces for s in states), 20.0), len(debug)
    overlay = debug[-1]
    assert overlay.encoding == "bgr8" and (overlay.width, overlay.height) == (640, 480)
    sent = {T0 + i * DT for i in range(10)}
    assert time_to_ns(overlay.header.stamp) in sent
    pixels = np.frombuffer(bytes(overlay.data), np.uint8).reshape(480, 640, 3)
    assert not np.array_equal(pixels, frame), "the overlay draws on the frame"


def test_flood_keeps_the_newest_frame_and_accounts_for_every_frame(
    peer: RosPeer, model_dir: Path
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    from me_perception.msg import MicroExpressionArray

    ns = "/me_test_flood"
    states = peer.collect(
        MicroExpressionArray, f"{ns}/state", 1000
    )  # the flood does not spin: keep all
    diags = peer.collect(DiagnosticArray, "/diagnostics")
    pub = peer.node.create_publisher(Image, f"{ns}/image", 200)
    msgs = [image_msg(face_frame(), T0 + i * DT) for i in range(150)]
    with running_node(ns, node_params(model_dir)) as proc:
        _wait_subscribed(peer, pub, proc)
        for m in msgs:  # far faster than the node can process them
            pub.publish(m)
        last = T0 + 149 * DT

        def newest_done() -> bool:
            return any(time_to_ns(s.header.stamp) == last for s in states)

        assert peer.spin_until(newest_done, 30.0), "the newest frame was not processed"

        def settled() -> bool:
            d = diagnostics_values(diags)
            return bool(d) and d["frames_pending"] == "0" and int(d["frames_received"]) > 0

        assert peer.spin_until(settled, 10.0)
        peer.spin_for(0.5)
        d = diagnostics_values(diags)
        assert proc.poll() is None
    received, processed = int(d["frames_received"]), int(d["frames_processed"])
    assert received == processed + int(d["frames_dropped"]), d
    assert int(d.get("dropped_superseded", 0)) > 0 and processed < received, d
    assert processed == len(states), (processed, len(states))
