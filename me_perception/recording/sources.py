"""What every recording reader gives the offline tools: frames with stamps, in order.

A rosbag2 topic (:class:`~me_perception.recording.bag_io.BagSource`), a video file
(:class:`~me_perception.recording.video_file.VideoSource`) and a folder of numbered images
(:class:`~me_perception.recording.frame_folder.FolderSource`) all are a :class:`FrameSource`,
so ``tools/offline.py`` runs one loop for all three: each frame comes with its stream index,
its stamp in nanoseconds, a frame id and either the decoded image or the reason it could not
be decoded (counted as dropped, exactly like the live node counts a bad message).

Stamps of files without ROS headers: a video's frames carry the container's presentation
timestamps (``CAP_PROP_POS_MSEC``, so variable frame rates keep their true timing) and a frame
folder's frames their number divided by the frame rate. Both are offset by
:data:`FILE_EPOCH_NS`, a fixed instant, so they are valid non-zero ROS times (a zero stamp means
"unknown" in our messages) and two runs over the same file give identical outputs; the report
columns ``*_s`` are seconds from the first frame whatever the source.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from me_perception.perception.image_decoding import DecodedImage, ImageDecodeError

FILE_EPOCH_NS = 1_700_000_000_000_000_000
"""Stamp of media time 0 of a video or frame folder (2023-11-14T22:13:20Z)."""

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FRAME_ID = "camera"


@dataclass(frozen=True)
class SourceFrame:
    """One frame of a recording: decoded, or the reason it could not be."""

    index: int  # position in the stream, 0-based (what events.csv's *_frame columns count)
    stamp_ns: int
    frame_id: str
    log_time_ns: int  # when it was recorded (a bag's log time; the stamp for files)
    image: DecodedImage | None
    error: ImageDecodeError | None = None
    skipped: bool = False  # not decoded because the caller did not want it (``iterate``)


#: a caller's answer, per frame stamp, to "decode this frame?"
Wants = Callable[[int], bool]


@runtime_checkable
class FrameSource(Protocol):
    """A recording as a sequence of frames; every reader of ``recording/`` is one.

    ``len()`` is the number of frames (for a video, the container's count: an estimate for
    some formats, used for progress only). Iterating reads the recording from the start, each
    time; :meth:`frames` gives only the listed indices (decoding nothing else), for the event
    pictures. ``notes`` collects what the reader noticed (numbering gaps, estimated rates,
    repaired timestamps); iteration may add to it.
    """

    path: Path
    kind: str  # "bag" | "video" | "folder"
    stream: str  # what is read: a topic, or a description of the file or folder
    notes: list[str]

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[SourceFrame]: ...

    def iterate(self, wants: Wants | None = None) -> Iterator[SourceFrame]:
        """Every frame from the start; a frame whose stamp ``wants`` declines comes without
        decoding (``skipped``), so a pipeline that analyses fewer frames than a 200 fps
        recording holds does not pay for decoding the others."""
        ...

    def frames(self, indices: Collection[int]) -> Iterator[SourceFrame]: ...

    def frame_name(self, index: int) -> str:
        """How a person finds this frame in the input (a file name, a time, an index)."""
        ...


class SequentialSource:
    """Base of the sources that are read from their start each time (bags, videos): a full
    pass and the selective pass for the pictures both go through ``_read(wanted)``, which
    yields every frame (``wanted`` None) or only the wanted indices, and may stop after the
    last of them."""

    def __iter__(self) -> Iterator[SourceFrame]:
        return self._read(None)

    def iterate(self, wants: Wants | None = None) -> Iterator[SourceFrame]:
        return self._read(None, wants)

    def frames(self, indices: Collection[int]) -> Iterator[SourceFrame]:
        return self._read(set(indices))

    def frame_name(self, index: int) -> str:
        return f"frame {index}"

    def _read(self, wanted: set[int] | None, wants: Wants | None = None) -> Iterator[SourceFrame]:
        raise NotImplementedError
