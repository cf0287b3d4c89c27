"""A ROS4HRI consumer in its own process, as libhri listens: ``/humans/faces/tracked``
(hri_msgs/IdsList, system-default QoS) and, for every id it lists, ``/humans/faces/<id>/roi``
(hri_msgs/NormalizedRegionOfInterest2D). Prints one JSON line per message received.

    python hri_listener.py     # needs hri_msgs importable (see test_ros4hri.py)
"""

from __future__ import annotations

import json
from typing import Any

from ros_support import spin_until_ended  # this script's folder (test/) is on sys.path

from me_perception.perception.stamps import time_to_ns


def main() -> None:
    import rclpy
    from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D
    from rclpy.qos import qos_profile_system_default

    rclpy.init()
    node = rclpy.create_node("hri_listener")
    per_face: dict[str, Any] = {}

    def out(kind: str, msg: Any, **values: Any) -> None:
        stamp = time_to_ns(msg.header.stamp)
        print(json.dumps({"kind": kind, "stamp": stamp, **values}), flush=True)

    def on_roi(face_id: str, msg: Any) -> None:
        corners = {k: float(getattr(msg, k)) for k in ("xmin", "ymin", "xmax", "ymax", "c")}
        out("roi", msg, id=face_id, frame_id=msg.header.frame_id, **corners)

    def on_tracked(msg: Any) -> None:
        out("tracked", msg, ids=list(msg.ids))
        for face_id in msg.ids:
            if face_id not in per_face:
                per_face[face_id] = node.create_subscription(
                    NormalizedRegionOfInterest2D,
                    f"/humans/faces/{face_id}/roi",
                    lambda m, f=face_id: on_roi(f, m),
                    qos_profile_system_default,
                )

    node.create_subscription(
        IdsList, "/humans/faces/tracked", on_tracked, qos_profile_system_default
    )
    print(json.dumps({"kind": "ready"}), flush=True)
    spin_until_ended(node)


if __name__ == "__main__":
    main()
