"""Recordings in other containers for the tests: frame folders and videos made from a bag, and
variable-frame-rate videos (written with PyAV, whose FFmpeg takes explicit timestamps)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from me_perception.recording.bag_io import ImageStream


def bag_to_folder(bag: Path, folder: Path, pattern: str = "frame_{:05d}.jpg") -> Path:
    """The JPEG bytes of a CompressedImage bag's messages, one file per message, as they are
    (and the bag's ground truth beside them)."""
    folder.mkdir(parents=True)
    for frame in ImageStream(bag):
        (folder / pattern.format(frame.index)).write_bytes(bytes(frame.message.data))
    if (bag / "ground_truth.json").is_file():
        (folder / "ground_truth.json").write_bytes((bag / "ground_truth.json").read_bytes())
    return folder


def bag_frames(bag: Path) -> list[np.ndarray]:
    """The decoded BGR frames of a bag's image topic."""
    return [frame.decode().bgr for frame in ImageStream(bag)]


def write_video(
    path: Path, frames: Sequence[np.ndarray], fps: float = 30.0, fourcc: str = "mp4v"
) -> Path:
    """A constant-rate video with OpenCV's writer (mp4v in .mp4/.mov, MJPG in .avi, ...)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), path
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def write_vfr_video(path: Path, frames: Sequence[np.ndarray], times_ms: Sequence[int]) -> Path:
    """A variable-frame-rate video: frame i is presented at ``times_ms[i]`` (ms time base)."""
    return _write_av(path, frames, times_ms, Fraction(1, 1000), "mpeg4", "yuv420p", {})


def write_lossless_mp4(path: Path, frames: Sequence[np.ndarray], fps: int = 30) -> Path:
    """An H.264 mp4 whose frames decode to exactly the input pixels (libx264rgb, qp 0)."""
    pts = list(range(len(frames)))  # time base 1/fps: exact frame times
    return _write_av(path, frames, pts, Fraction(1, fps), "libx264rgb", "bgr24", {"qp": "0"})


def _write_av(
    path: Path,
    frames: Sequence[np.ndarray],
    pts: Sequence[int],
    time_base: Fraction,
    codec: str,
    pix_fmt: str,
    options: dict[str, str],
) -> Path:
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30, options=options)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.codec_context.time_base = stream.time_base = time_base
        for frame, t in zip(frames, pts, strict=True):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
            vf.pts, vf.time_base = int(t), time_base
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
