"""What a path on disk is as a recording, opening it, and finding the recordings in a tree.

A directory with ``metadata.yaml`` (or ``.mcap`` / ``.db3`` files) is a rosbag2; any other
directory is a folder of frames; a file is a video. The commands call :func:`open_recording`
and get a :class:`~me_perception.recording.sources.FrameSource` whatever the kind, or a
:class:`~me_perception.recording.errors.RecordingError` saying why the path cannot be used.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from me_perception.recording.bag_io import BagSource
from me_perception.recording.errors import RecordingError
from me_perception.recording.frame_folder import FolderSource, list_images, natural_key
from me_perception.recording.sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES, FrameSource
from me_perception.recording.video_file import VideoSource

KINDS = ("bag", "video", "folder")


def is_bag(path: Path) -> bool:
    """A rosbag2 directory: its metadata, or the storage files of one."""
    return path.is_dir() and (
        (path / "metadata.yaml").is_file() or any(path.glob("*.mcap")) or any(path.glob("*.db3"))
    )


def recording_kind(path: str | Path) -> str:
    """ "bag", "video" or "folder" (raises RecordingError for a path that does not exist)."""
    p = Path(path)
    if is_bag(p):
        return "bag"
    if p.is_dir():
        return "folder"
    if p.is_file():
        return "video"
    raise RecordingError(f"recording not found: {p}")


def open_recording(
    path: str | Path, *, topic: str | None = None, fps: float | None = None
) -> FrameSource:
    """The recording at ``path`` as a frame source.

    ``topic`` chooses a bag's image topic (bags only); ``fps`` is the rate of a frame folder
    whose names carry none (ignored for bags and videos, whose stamps are recorded).
    """
    p = Path(path)
    kind = recording_kind(p)
    if topic and kind != "bag":
        raise RecordingError(f"--topic applies to rosbag2 recordings; {p} is a {kind}")
    if kind == "bag":
        return BagSource(p, topic)
    if kind == "video":
        return VideoSource(p)
    if not list_images(p) and not any(p.iterdir()):
        raise RecordingError(f"{p} is empty: neither a rosbag2 (no metadata.yaml) nor frames")
    return FolderSource(p, fps)


def find_recordings(root: str | Path, skip_dir: Callable[[Path], bool] | None = None) -> list[Path]:
    """Every recording at or below ``root``, in natural order: bags (not looked into), video
    files (by suffix), and folders holding images. Hidden entries are skipped, and folders for
    which ``skip_dir`` is true (e.g. outputs of earlier runs) with everything below them."""
    top = Path(root)
    if not top.is_dir() or is_bag(top):
        return [top] if top.exists() else []
    found: list[Path] = []
    for here, dirs, files in os.walk(top):
        folder = Path(here)
        keep = []
        for name in sorted(dirs, key=natural_key):
            sub = folder / name
            if name.startswith(".") or (skip_dir is not None and skip_dir(sub)):
                continue
            if is_bag(sub):
                found.append(sub)
            else:
                keep.append(name)
        dirs[:] = keep
        visible = [f for f in files if not f.startswith(".")]
        if any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in visible):
            found.append(folder)
        found += [folder / f for f in visible if Path(f).suffix.lower() in VIDEO_SUFFIXES]
    return sorted(found, key=lambda p: natural_key(str(p.relative_to(top))))
