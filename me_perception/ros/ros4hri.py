"""ROS4HRI (REP-155) outputs: the faces we track, where libhri and other ROS4HRI nodes look.

* ``/humans/faces/tracked`` (``hri_msgs/IdsList``): the ids of the faces in this frame;
* ``/humans/faces/<id>/roi`` (``hri_msgs/NormalizedRegionOfInterest2D``): the face's box,
  normalised to [0, 1] by the image size, ``c`` = the detector's confidence;
* ``/humans/faces/<id>/micro_expression`` (``me_perception/MicroExpression``): our state of
  that face (not part of REP-155; it sits beside the standard per-face topics).

All carry the header of the input image. Per-face publishers are created when a face appears
and destroyed when it is gone, as ROS4HRI detectors do. ``hri_msgs`` comes from the ROS 2
distro (``ros-<distro>-hri-msgs``); without it these topics cannot be published and the node
refuses ``publish_ros4hri: true`` at configure instead of claiming them.
"""

from __future__ import annotations

import importlib
from typing import Any

from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions

from me_perception.msg import MicroExpression
from me_perception.perception.pipeline import FrameResult
from me_perception.ros.messages import build_rclpy, face_fields, header_fields

TRACKED_TOPIC = "/humans/faces/tracked"


def hri_messages() -> tuple[Any, Any] | str:
    """(IdsList, NormalizedRegionOfInterest2D), or why they cannot be imported."""
    try:
        module = importlib.import_module("hri_msgs.msg")
        return module.IdsList, module.NormalizedRegionOfInterest2D
    except (ImportError, AttributeError) as exc:
        return f"hri_msgs is not importable ({exc}); install ros-$ROS_DISTRO-hri-msgs"


def normalized_roi(box: tuple[int, int, int, int], width: int, height: int) -> dict[str, float]:
    """REP-155 ROI corners in [0, 1] from a pixel box (x, y, w, h)."""
    x, y, w, h = box
    return {
        "xmin": min(max(x / width, 0.0), 1.0),
        "ymin": min(max(y / height, 0.0), 1.0),
        "xmax": min(max((x + w) / width, 0.0), 1.0),
        "ymax": min(max((y + h) / height, 0.0), 1.0),
    }


class Ros4HriPublisher:
    """Publishes one frame's faces on the ROS4HRI topics (call from one thread at a time)."""

    def __init__(self, node: Any, ids_type: type, roi_type: type) -> None:
        self.node = node
        self.ids_type, self.roi_type = ids_type, roi_type
        self.qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self.tracked = node.create_publisher(
            ids_type,
            TRACKED_TOPIC,
            self.qos,
            qos_overriding_options=QoSOverridingOptions.with_default_policies(),
        )
        self.faces: dict[str, tuple[Any, Any]] = {}

    def publish(self, result: FrameResult) -> None:
        header = build_rclpy(type(self.ids_type().header), header_fields(result))
        ids = [f.face_id for f in result.faces]
        self.tracked.publish(self.ids_type(header=header, ids=ids))
        for face in result.faces:
            pubs = self.faces.get(face.face_id)
            if pubs is None:
                base = f"/humans/faces/{face.face_id}"
                pubs = self.faces[face.face_id] = (
                    self.node.create_publisher(self.roi_type, f"{base}/roi", self.qos),
                    self.node.create_publisher(MicroExpression, f"{base}/micro_expression", 10),
                )
            roi = normalized_roi(face.box, result.width, result.height)
            c = min(max(float(face.detection_score), 0.0), 1.0)
            pubs[0].publish(self.roi_type(header=header, c=c, **roi))
            pubs[1].publish(build_rclpy(MicroExpression, face_fields(result, face)))
        for gone in [fid for fid in self.faces if fid not in ids]:
            self._destroy(gone)

    def close(self) -> None:
        for fid in list(self.faces):
            self._destroy(fid)
        self.node.destroy_publisher(self.tracked)

    def _destroy(self, face_id: str) -> None:
        roi_pub, me_pub = self.faces.pop(face_id)
        self.node.destroy_publisher(roi_pub)
        self.node.destroy_publisher(me_pub)
