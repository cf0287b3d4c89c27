"""Reading camera frames from, and writing results to, rosbag2 files (sqlite3 or mcap).

Uses the `rosbags` library (pure Python, no ROS installation needed), with our messages
registered from the package's .msg files (:mod:`me_perception.recording.bag_types`). Every
problem with an input bag is reported as a :class:`BagError` whose message says what is wrong
and what the bag contains, so the command line can print it and exit non-zero.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from me_perception.perception.image_decoding import (
    DecodeConfig,
    DecodedImage,
    decode_message,
)
from me_perception.perception.stamps import ns_to_time, time_to_ns
from me_perception.recording.bag_types import make_typestore
from me_perception.ros.messages import ARRAY_TYPE, EVENT_TYPE, build_rosbags

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_TYPE)


class BagError(RuntimeError):
    """An input bag cannot be used; the message says why."""


@dataclass(frozen=True)
class BagFrame:
    """One image message of the bag, not yet decoded (decoding may fail per frame)."""

    index: int
    log_time_ns: int
    stamp_ns: int
    frame_id: str
    msgtype: str
    message: Any

    def decode(self, config: DecodeConfig | None = None) -> DecodedImage:
        """Decode with the same functions the live node uses (raises ImageDecodeError)."""
        return decode_message(self.message, self.msgtype == COMPRESSED_TYPE, config)


def _open(path: Path) -> Reader:
    if not path.exists():
        raise BagError(f"bag not found: {path}")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:  # rosbags raises several types for unreadable files
        raise BagError(f"cannot read bag {path}: {exc}") from None
    return reader


class ImageStream:
    """The frames of one image topic of a bag, in bag order.

    Args:
        path: the bag directory (with metadata.yaml).
        topic: image topic; None picks the only image topic (an error if there are several).
    """

    def __init__(self, path: str | Path, topic: str | None = None) -> None:
        self.path = Path(path)
        self.typestore = make_typestore()
        reader = _open(self.path)
        try:
            topics = {c.topic: c.msgtype for c in reader.connections}
            images = {t: m for t, m in topics.items() if m in IMAGE_TYPES}
            listing = ", ".join(f"{t} ({m})" for t, m in sorted(topics.items())) or "no topics"
            if topic is None:
                if not images:
                    raise BagError(f"{self.path} has no Image/CompressedImage topic ({listing})")
                if len(images) > 1:
                    raise BagError(
                        f"{self.path} has several image topics; choose one with --topic: "
                        + ", ".join(sorted(images))
                    )
                topic = next(iter(images))
            if topic not in topics:
                raise BagError(f"topic {topic} is not in {self.path} (it has: {listing})")
            if topics[topic] not in IMAGE_TYPES:
                raise BagError(
                    f"topic {topic} in {self.path} is {topics[topic]}, "
                    "not sensor_msgs/msg/Image or CompressedImage"
                )
            self.topic = topic
            self.msgtype = topics[topic]
            self.connections = [c for c in reader.connections if c.topic == topic]
            self.count = sum(c.msgcount for c in self.connections)
            self.duration_ns = reader.duration
            if self.count == 0:
                raise BagError(f"topic {topic} in {self.path} has no messages")
        finally:
            reader.close()

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[BagFrame]:
        reader = _open(self.path)
        try:
            for index, (connection, log_time, raw) in enumerate(
                reader.messages(
                    connections=[c for c in reader.connections if c.topic == self.topic]
                )
            ):
                try:
                    msg = self.typestore.deserialize_cdr(raw, connection.msgtype)
                except Exception as exc:
                    raise BagError(
                        f"{self.path}: message {index} of {self.topic} cannot be deserialised "
                        f"({exc}); the file may be truncated or corrupt"
                    ) from None
                stamp = time_to_ns(msg.header.stamp)
                yield BagFrame(
                    index, int(log_time), stamp, msg.header.frame_id, connection.msgtype, msg
                )
        except BagError:
            raise
        except Exception as exc:
            raise BagError(f"{self.path}: reading failed ({exc}); truncated or corrupt?") from None
        finally:
            reader.close()


def storage_of(path: str | Path) -> StoragePlugin:
    """Storage plugin of an existing bag (outputs are written in the same format)."""
    return StoragePlugin.MCAP if any(Path(path).glob("*.mcap")) else StoragePlugin.SQLITE3


class ResultBagWriter:
    """Writes per-frame states and events (our messages) into a new bag."""

    def __init__(
        self,
        path: str | Path,
        storage: StoragePlugin = StoragePlugin.MCAP,
        namespace: str = "/me_perception",
    ) -> None:
        self.typestore = make_typestore()
        self._writer = Writer(Path(path), version=9, storage_plugin=storage)
        self._writer.open()
        ns = namespace.rstrip("/")
        self._state = self._writer.add_connection(
            f"{ns}/state", ARRAY_TYPE, typestore=self.typestore
        )
        self._events = self._writer.add_connection(
            f"{ns}/events", EVENT_TYPE, typestore=self.typestore
        )

    def write_state(self, log_time_ns: int, fields: dict[str, Any]) -> None:
        msg = build_rosbags(self.typestore, ARRAY_TYPE, fields)
        self._writer.write(self._state, log_time_ns, self.typestore.serialize_cdr(msg, ARRAY_TYPE))

    def write_event(self, log_time_ns: int, fields: dict[str, Any]) -> None:
        msg = build_rosbags(self.typestore, EVENT_TYPE, fields)
        self._writer.write(self._events, log_time_ns, self.typestore.serialize_cdr(msg, EVENT_TYPE))

    def close(self) -> None:
        self._writer.close()


def write_image_bag(
    path: str | Path,
    frames: Sequence[np.ndarray] | np.ndarray,
    stamps_ns: Sequence[int],
    topic: str = "/camera/image_raw",
    compressed: bool = False,
    storage: StoragePlugin = StoragePlugin.MCAP,
    frame_id: str = "camera",
    jpeg_quality: int = 90,
) -> Path:
    """Write BGR frames as Image (bgr8) or CompressedImage (jpeg) messages into a new bag.

    Used to make the sample recording and test bags; the log time equals the header stamp.
    """
    typestore = make_typestore()
    image_cls = typestore.types[COMPRESSED_TYPE if compressed else IMAGE_TYPE]
    header_cls = typestore.types["std_msgs/msg/Header"]
    time_cls = typestore.types["builtin_interfaces/msg/Time"]
    msgtype = COMPRESSED_TYPE if compressed else IMAGE_TYPE
    out = Path(path)
    with Writer(out, version=9, storage_plugin=storage) as writer:
        conn = writer.add_connection(
            topic if not compressed else f"{topic}/compressed", msgtype, typestore=typestore
        )
        for frame, stamp in zip(frames, stamps_ns, strict=True):
            sec, nanosec = ns_to_time(stamp)
            header = header_cls(stamp=time_cls(sec=sec, nanosec=nanosec), frame_id=frame_id)
            if compressed:
                ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
                assert ok
                msg = image_cls(header=header, format="jpeg", data=buf.reshape(-1))
            else:
                h, w = frame.shape[:2]
                msg = image_cls(
                    header=header,
                    height=h,
                    width=w,
                    encoding="bgr8",
                    is_bigendian=0,
                    step=w * 3,
                    data=np.ascontiguousarray(frame).reshape(-1),
                )
            writer.write(conn, int(stamp), typestore.serialize_cdr(msg, msgtype))
    return out
