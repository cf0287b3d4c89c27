"""Our messages round-trip through real rosbag2 files (sqlite3 and mcap) written and read with
the rosbags library, and the stored bytes are the ones rclpy serialises and deserialises."""

from __future__ import annotations

from pathlib import Path

import pytest
from ros_support import assert_plain_equal, build_rosbags, sample_fields, to_plain
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from me_perception.recording.bag_types import interface_dir, make_typestore

ARRAY = "me_perception/msg/MicroExpressionArray"


def test_interface_files_are_the_package_msg_files() -> None:
    repo_msg = Path(__file__).resolve().parents[2] / "msg"
    assert interface_dir().resolve() == repo_msg.resolve()


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
def test_array_round_trips_through_bag_and_rclpy(tmp_path: Path, storage: StoragePlugin) -> None:
    rclpy_serialization = pytest.importorskip("rclpy.serialization")
    from me_perception.msg import MicroExpressionArray

    typestore = make_typestore()
    expected = sample_fields()
    msg = build_rosbags(typestore, ARRAY, expected)
    from_rosbags = typestore.serialize_cdr(msg, ARRAY)
    from ros_support import build_rclpy

    from_rclpy = rclpy_serialization.serialize_message(build_rclpy(MicroExpressionArray, expected))

    bag = tmp_path / "bag"
    with Writer(bag, version=9, storage_plugin=storage) as writer:
        a = writer.add_connection("/written_by_rosbags", ARRAY, typestore=typestore)
        b = writer.add_connection("/written_by_rclpy", ARRAY, typestore=typestore)
        for i in range(3):
            writer.write(a, 1_000 + i, from_rosbags)
            writer.write(b, 2_000 + i, from_rclpy)

    with Reader(bag) as reader:
        assert reader.message_count == 6
        assert {c.msgtype for c in reader.connections} == {ARRAY}
        rows = list(reader.messages())
    assert len(rows) == 6
    for connection, _stamp, raw in rows:
        assert_plain_equal(to_plain(typestore.deserialize_cdr(raw, ARRAY)), expected)
        decoded = rclpy_serialization.deserialize_message(bytes(raw), MicroExpressionArray)
        assert_plain_equal(to_plain(decoded), expected, path=connection.topic)
