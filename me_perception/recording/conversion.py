"""A video file or a frame folder into a rosbag2, so any recording can be replayed into the live
node (``me_perception_play``) or given to tools that read bags.

    me_perception_convert interview.mp4 interview_bag [--format jpeg|png|raw] [--storage mcap]

The frames keep their stamps (:mod:`me_perception.recording.sources`): the header stamp and the
log time of message ``i`` are the stamp the offline tool gives frame ``i`` of the input, so the
offline tool reads the same frames at the same times from the input and from the bag. Frames
go out as CompressedImage: a frame folder's JPEG and PNG files as their very bytes (lossless,
identical pixels), anything else encoded as JPEG (``--format jpeg``, the default: a video is
lossy already) or PNG (``--format png``, lossless, larger); or as raw ``bgr8`` Image
(``--format raw``, ~0.9 MB per VGA frame). Frames that cannot be decoded are skipped and
counted. The bag is written into a hidden folder beside the output and renamed at the end, so
a failure leaves nothing half-written; an existing output is never replaced.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from me_perception.recording.bag_io import ImageBagWriter, StoragePlugin
from me_perception.recording.errors import RecordingError
from me_perception.recording.frame_folder import FolderSource
from me_perception.recording.recordings import open_recording
from me_perception.recording.sources import FrameSource

FORMATS = ("jpeg", "png", "raw")


@dataclass
class Conversion:
    """What a conversion wrote."""

    bag: Path
    topic: str
    frames: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _check_output(source: Path, out: Path) -> None:
    src, dst = source.resolve(), out.resolve()
    if dst == src or dst in src.parents or src in dst.parents:
        raise RecordingError(f"output {out} and the input {source} overlap: choose another output")
    if out.exists() or out.is_symlink():
        raise RecordingError(f"output {out} exists: choose a new folder name")


def _verbatim(source: FrameSource, index: int, fmt: str) -> tuple[bytes, str] | None:
    """The bytes of a frame folder's JPEG/PNG file, when they can go into the bag as they are."""
    if not isinstance(source, FolderSource) or fmt == "raw":
        return None
    data = source.files[index].read_bytes()
    if data[:3] == b"\xff\xd8\xff":
        return data, "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return data, "png"
    return None


def convert_to_bag(
    recording: str | Path,
    out: str | Path,
    *,
    fps: float | None = None,
    topic: str = "/camera/image_raw",
    fmt: str = "jpeg",
    storage: StoragePlugin = StoragePlugin.MCAP,
    jpeg_quality: int = 95,
) -> Conversion:
    """Write the frames of a video file or frame folder into a new bag at ``out``."""
    if fmt not in FORMATS:
        raise RecordingError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    path, out = Path(recording), Path(out)
    _check_output(path, out)
    source = open_recording(path, fps=fps)
    if source.kind == "bag":
        raise RecordingError(f"{path} is already a rosbag2: play it with me_perception_play")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise RecordingError(f"cannot write {out}: {exc.strerror or exc}") from None
    bag = staging / "bag"
    try:
        result = _write(source, bag, topic, fmt, storage, jpeg_quality)
        bag.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.rmdir()
    result.bag = out
    return result


def _write(
    source: FrameSource,
    bag: Path,
    topic: str,
    fmt: str,
    storage: StoragePlugin,
    quality: int,
) -> Conversion:
    writer = ImageBagWriter(
        bag, topic, compressed=fmt != "raw", storage=storage, jpeg_quality=quality
    )
    result = Conversion(bag, writer.topic)
    try:
        for frame in source:
            if frame.image is None:
                reason = frame.error.reason if frame.error else "unreadable"
                result.skipped[reason] = result.skipped.get(reason, 0) + 1
                continue
            kept = _verbatim(source, frame.index, fmt)
            if kept is not None:
                writer.write(frame.stamp_ns, encoded=kept[0], fmt=kept[1])
            elif fmt == "png":
                _ok, buf = cv2.imencode(".png", frame.image.bgr)
                writer.write(frame.stamp_ns, encoded=buf.tobytes(), fmt="png")
            else:
                writer.write(frame.stamp_ns, frame.image.bgr)
            result.frames += 1
    finally:
        writer.close()
    if result.frames == 0:
        raise RecordingError(f"no frame of {source.path} could be decoded: nothing to convert")
    result.notes = list(source.notes)
    return result
