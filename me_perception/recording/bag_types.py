"""Message types for reading and writing rosbag2 files with the `rosbags` library.

rosbags (pure Python) reads and writes sqlite3 and mcap bags without a ROS installation, which is
what researchers replaying recordings and the offline command need. It knows the standard
messages of each ROS 2 distribution; our own messages are registered from the very .msg files
that rosidl builds, so the bag layout and the live topics can never disagree.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

PACKAGE = "me_perception"
MESSAGE_NAMES = ("MicroExpression", "MicroExpressionArray")


class InterfaceFilesNotFoundError(FileNotFoundError):
    """The .msg files of this package could not be located."""


def _candidate_dirs() -> list[Path]:
    dirs = [Path(__file__).resolve().parents[2] / "msg"]  # source tree / editable install
    prefixes = [sys.prefix, *os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)]
    dirs += [Path(p) / "share" / PACKAGE / "msg" for p in prefixes if p]
    return dirs


def interface_dir() -> Path:
    """Directory holding MicroExpression.msg and MicroExpressionArray.msg."""
    for directory in _candidate_dirs():
        if all((directory / f"{name}.msg").is_file() for name in MESSAGE_NAMES):
            return directory
    searched = ", ".join(str(d) for d in _candidate_dirs())
    raise InterfaceFilesNotFoundError(f"{PACKAGE} .msg files not found; searched: {searched}")


def message_definitions() -> dict[str, str]:
    """Map of full type name (``me_perception/msg/X``) to its .msg text."""
    directory = interface_dir()
    return {
        f"{PACKAGE}/msg/{name}": (directory / f"{name}.msg").read_text(encoding="utf-8")
        for name in MESSAGE_NAMES
    }


@lru_cache(maxsize=4)
def make_typestore(store: Stores = Stores.ROS2_KILTED) -> Typestore:
    """A typestore of the given distribution with the me_perception messages registered.

    The CDR encoding of the standard messages we use (std_msgs/Header, sensor_msgs/Image,
    CompressedImage, RegionOfInterest) is the same in Humble, Jazzy and Kilted, so bags written
    with one store are read by the others.
    """
    typestore = get_typestore(store)
    types = {}
    for name, text in message_definitions().items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore
