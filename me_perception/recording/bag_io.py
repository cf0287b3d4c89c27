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
    ImageDecodeError,
    decode_message,
)
from me_perception.perception.stamps import ns_to_time, time_to_ns
from me_perception.recording.bag_types import make_typestore
from me_perception.recording.errors import RecordingError
from me_perception.recording.sources import SequentialSource, SourceFrame, Wants
from me_perception.ros.messages import ARRAY_TYPE, EVENT_TYPE, build_rosbags

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_TYPE)


BagError = RecordingError
"""The name bag readers and their callers have used; the same class as RecordingError."""


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


class BagSource(SequentialSource):
    """The image topic of a bag as a :class:`~me_perception.recording.sources.FrameSource`:
    frames in bag order, header stamps, decoded by the live node's own functions."""

    kind = "bag"

    def __init__(self, path: str | Path, topic: str | None = None) -> None:
        self._stream = ImageStream(path, topic)
        self.path = self._stream.path
        self.stream = self._stream.topic
        self.notes: list[str] = []

    def __len__(self) -> int:
        return len(self._stream)

    def _read(self, wanted: set[int] | None, wants: Wants | None = None) -> Iterator[SourceFrame]:
        config = DecodeConfig()
        last = max(wanted) if wanted else -1
        for frame in self._stream:
            if wanted is not None:
                if frame.index > last:
                    return
                if frame.index not in wanted:
                    continue
            if wants is not None and not wants(frame.stamp_ns):
                yield SourceFrame(
                    frame.index,
                    frame.stamp_ns,
                    frame.frame_id,
                    frame.log_time_ns,
                    None,
                    skipped=True,
                )
                continue
            image, error = None, None
            try:
                image = frame.decode(config)
            except ImageDecodeError as exc:
                error = exc
            yield SourceFrame(
                frame.index, frame.stamp_ns, frame.frame_id, frame.log_time_ns, image, error
            )


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
        self.writer = Writer(Path(path), version=9, storage_plugin=storage)
        self.writer.open()
        ns = namespace.rstrip("/")
        self._state = self.writer.add_connection(
            f"{ns}/state", ARRAY_TYPE, typestore=self.typestore
        )
        self._events = self.writer.add_connection(
            f"{ns}/events", EVENT_TYPE, typestore=self.typestore
        )

    def write_state(self, log_time_ns: int, fields: dict[str, Any]) -> None:
        msg = build_rosbags(self.typestore, ARRAY_TYPE, fields)
        self.writer.write(self._state, log_time_ns, self.typestore.serialize_cdr(msg, ARRAY_TYPE))

    def write_event(self, log_time_ns: int, fields: dict[str, Any]) -> None:
        msg = build_rosbags(self.typestore, EVENT_TYPE, fields)
        self.writer.write(self._events, log_time_ns, self.typestore.serialize_cdr(msg, EVENT_TYPE))

    def close(self) -> None:
        self.writer.close()


class ImageBagWriter:
    """Camera frames into a bag, one at a time: raw ``bgr8`` Image, or CompressedImage whose
    bytes are encoded here (JPEG) or given as they are (the bytes of a JPEG/PNG file, so a
    converted frame folder decodes to exactly the same pixels).

    ``writer``/``typestore`` share an open bag (e.g. a :class:`ResultBagWriter`'s, for a
    session recorded with its results); otherwise the writer opens and closes its own.
    """

    def __init__(
        self,
        path: str | Path | None,
        topic: str = "/camera/image_raw",
        *,
        compressed: bool = False,
        storage: StoragePlugin = StoragePlugin.MCAP,
        frame_id: str = "camera",
        jpeg_quality: int = 90,
        writer: Writer | None = None,
        typestore: Any = None,
    ) -> None:
        self.typestore = typestore or make_typestore()
        self._own = writer is None
        if writer is None:
            writer = Writer(Path(str(path)), version=9, storage_plugin=storage)
            writer.open()
        self.writer = writer
        self.msgtype = COMPRESSED_TYPE if compressed else IMAGE_TYPE
        self.topic = f"{topic}/compressed" if compressed else topic
        self._conn = writer.add_connection(self.topic, self.msgtype, typestore=self.typestore)
        self._frame_id = frame_id
        self._quality = jpeg_quality
        self.count = 0

    def write(
        self,
        stamp_ns: int,
        frame: np.ndarray | None = None,
        *,
        encoded: bytes | None = None,
        fmt: str = "jpeg",
        log_time_ns: int | None = None,
    ) -> None:
        """One frame: a BGR array, or (compressed topics only) already encoded bytes."""
        types = self.typestore.types
        sec, nanosec = ns_to_time(stamp_ns)
        header = types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
            frame_id=self._frame_id,
        )
        if self.msgtype == COMPRESSED_TYPE:
            if encoded is None:
                assert frame is not None
                ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
                assert ok
                encoded, fmt = buf.tobytes(), "jpeg"
            data = np.frombuffer(encoded, dtype=np.uint8)
            msg = types[COMPRESSED_TYPE](header=header, format=fmt, data=data)
        else:
            assert frame is not None and frame.ndim == 3
            h, w = frame.shape[:2]
            msg = types[IMAGE_TYPE](
                header=header,
                height=h,
                width=w,
                encoding="bgr8",
                is_bigendian=0,
                step=w * 3,
                data=np.ascontiguousarray(frame).reshape(-1),
            )
        raw = self.typestore.serialize_cdr(msg, self.msgtype)
        self.writer.write(self._conn, int(stamp_ns if log_time_ns is None else log_time_ns), raw)
        self.count += 1

    def close(self) -> None:
        if self._own:
            self.writer.close()


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
    out = Path(path)
    writer = ImageBagWriter(
        out,
        topic,
        compressed=compressed,
        storage=storage,
        frame_id=frame_id,
        jpeg_quality=jpeg_quality,
    )
    try:
        for frame, stamp in zip(frames, stamps_ns, strict=True):
            writer.write(int(stamp), frame)
    finally:
        writer.close()
    return out
