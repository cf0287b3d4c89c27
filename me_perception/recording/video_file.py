"""Video files (mp4, mkv, avi, mov, ...) as a frame source, through OpenCV's FFmpeg backend.

Stamps are the container's presentation timestamps (``CAP_PROP_POS_MSEC`` after each frame),
not ``index / fps``: a variable-frame-rate recording (phones, screen grabs, webcams that drop
frames) keeps its true timing, which the stream clock and the event durations rely on. A
timestamp that does not advance (broken muxing) is replaced by the previous one plus the
nominal frame period, and said in the notes.

The file is checked when the source is made, so a command fails before writing anything: a
missing file, an image given where a video is expected, a file OpenCV cannot open (not a
video, corrupt or truncated container, unsupported codec), a video whose first frame cannot be
decoded (no frames), a frame size above the decoder's limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2

from me_perception.perception.image_decoding import DecodeConfig, DecodedImage, ImageDecodeError
from me_perception.recording.errors import RecordingError
from me_perception.recording.sources import (
    DEFAULT_FRAME_ID,
    FILE_EPOCH_NS,
    IMAGE_SUFFIXES,
    SequentialSource,
    SourceFrame,
    Wants,
)
from me_perception.ros.camera_capture import quiet_video_backend

FALLBACK_FPS = 30.0
"""Frame period used to repair a non-advancing timestamp when the container names no rate."""


def _open(path: Path) -> cv2.VideoCapture:
    quiet_video_backend()
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise RecordingError(
            f"cannot read video {path}: OpenCV's FFmpeg cannot open it "
            "(not a video file, a corrupt or truncated container, or an unsupported codec)"
        )
    return cap


class VideoSource(SequentialSource):
    """The frames of a video file, in presentation order, with container timestamps."""

    kind = "video"

    def __init__(
        self,
        path: str | Path,
        *,
        frame_id: str = DEFAULT_FRAME_ID,
        decode_config: DecodeConfig | None = None,
    ) -> None:
        self.path = Path(path)
        self.frame_id = frame_id
        self.notes: list[str] = []
        if not self.path.exists():
            raise RecordingError(f"video not found: {self.path}")
        if not self.path.is_file():
            raise RecordingError(f"{self.path} is not a file")
        if self.path.suffix.lower() in IMAGE_SUFFIXES:
            raise RecordingError(
                f"{self.path} is a single image, not a recording: give the folder of its frames"
            )
        limit = (decode_config or DecodeConfig()).max_pixels
        cap = _open(self.path)
        try:
            ok, first = cap.read()
            if not ok or first is None or first.size == 0:
                raise RecordingError(
                    f"video {self.path} has no frames that can be decoded (empty or corrupt)"
                )
            self.height, self.width = first.shape[:2]
            if self.width * self.height > limit:
                raise RecordingError(
                    f"video {self.path} is {self.width}x{self.height}, "
                    f"above the limit of {limit} pixels"
                )
            self.nominal_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            self.count = max(1, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        finally:
            cap.release()
        self.stream = f"video {self.width}x{self.height}"
        if self.nominal_fps > 0:
            self.stream += f" ~{self.nominal_fps:.3g} fps"

    def __len__(self) -> int:
        return self.count

    def _read(self, wanted: set[int] | None, wants: Wants | None = None) -> Iterator[SourceFrame]:
        """Read from the start; frames not wanted are grabbed (their stamps still count, so a
        repaired stamp is the same in every pass) but not converted."""
        cap = _open(self.path)
        period_ns = round(1e9 / (self.nominal_fps if self.nominal_fps > 0 else FALLBACK_FPS))
        repaired, previous, index = 0, None, 0
        last = max(wanted) if wanted else -1
        try:
            while wanted is None or index <= last:
                if not cap.grab():
                    break
                media_ns = round(cap.get(cv2.CAP_PROP_POS_MSEC) * 1e6)
                if previous is not None and media_ns <= previous:
                    media_ns, repaired = previous + period_ns, repaired + 1
                previous = media_ns
                stamp = FILE_EPOCH_NS + media_ns
                if wants is not None and not wants(stamp):
                    yield SourceFrame(index, stamp, self.frame_id, stamp, None, skipped=True)
                elif wanted is None or index in wanted:
                    yield self._frame(cap, index, media_ns)
                index += 1
        finally:
            cap.release()
        if wanted is None:
            self._finish(index, repaired)

    def _frame(self, cap: cv2.VideoCapture, index: int, media_ns: int) -> SourceFrame:
        stamp = FILE_EPOCH_NS + media_ns
        ok, bgr = cap.retrieve()
        if not ok or bgr is None or bgr.size == 0:
            error = ImageDecodeError("corrupt_compressed", f"frame {index} cannot be decoded")
            return SourceFrame(index, stamp, self.frame_id, stamp, None, error)
        return SourceFrame(index, stamp, self.frame_id, stamp, DecodedImage("bgr8", bgr=bgr))

    def _finish(self, frames: int, repaired: int) -> None:
        """Notes about the pass that just ended (what was read against what was announced)."""
        self.notes.clear()
        if repaired:
            self.notes.append(
                f"{repaired} frame(s) had a timestamp not after the previous frame's: "
                "stamped one nominal frame period later"
            )
        if frames < 0.9 * self.count:
            self.notes.append(
                f"read {frames} frames where the container announces about {self.count} "
                "(a variable frame rate, or truncated or corrupt data)"
            )
        self.count = max(1, frames)
