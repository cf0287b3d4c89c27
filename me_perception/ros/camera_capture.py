"""A real camera (a V4L2 device such as /dev/video0), or a video file standing in for one, read
as a live pipeline needs it. ROS-free: the stand-in camera publisher (``me_perception_camera
--device``) and the ROS-free webcam command (``me_perception_webcam``) share it.

A reader thread takes frames as the device delivers them and keeps only the newest: a consumer
slower than the camera gets the latest frame and the count of those it never saw (as the node
does), instead of an ever older backlog. A device's frames are stamped with the wall clock when
they arrive; a file's frames are released at their own timestamps (``CAP_PROP_POS_MSEC``), so
it behaves like the camera that recorded it, and stamped with the wall clock of that moment.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


class CameraError(RuntimeError):
    """The camera or file cannot be opened or read; the message says why."""


@dataclass(frozen=True)
class Captured:
    """One frame from the camera."""

    index: int  # frames the device delivered before this one
    stamp_ns: int  # wall clock (ns since the epoch) when it was captured
    bgr: np.ndarray


def quiet_video_backend() -> None:
    """Keep FFmpeg's and OpenCV's own warnings off stderr, where they would break the commands'
    one-line errors (the error then says what is wrong). Set ``OPENCV_FFMPEG_LOGLEVEL`` (e.g.
    32) and ``OPENCV_LOG_LEVEL=INFO`` yourself to see them."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "0")  # read when FFmpeg is first used
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def device_spec(text: str) -> int | str:
    """'0' -> camera index 0; anything else (/dev/video0, a file) is opened by name."""
    return int(text) if text.isdigit() else text


def is_file(text: str) -> bool:
    """A video file (not a device index, not a /dev node)."""
    return not text.isdigit() and not text.startswith("/dev/") and Path(text).is_file()


class CameraCapture:
    """Newest-frame-wins reading of a device or file in a background thread (from
    :meth:`start`, or entering a ``with`` block; opening errors come at construction).

    Args:
        device: a camera index ("0"), a device path (/dev/video0) or a video file.
        width, height, fps: requested capture format of a device (0: the device's default).
    """

    def __init__(self, device: str, *, width: int = 0, height: int = 0, fps: float = 0.0) -> None:
        self.device = device
        self.from_file = is_file(device)
        if not self.from_file and not device.isdigit() and not Path(device).exists():
            raise CameraError(f"no such camera or file: {device}")
        quiet_video_backend()
        backend = cv2.CAP_FFMPEG if self.from_file else cv2.CAP_ANY
        self._cap = cv2.VideoCapture(device_spec(device), backend)
        if not self._cap.isOpened():
            self._cap.release()
            raise CameraError(f"cannot open {device}: not a camera or video OpenCV can read")
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height)):
            if value and not self.from_file:
                self._cap.set(prop, value)
        if fps and not self.from_file:
            self._cap.set(cv2.CAP_PROP_FPS, fps)
        self.nominal_fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.delivered = 0  # frames read from the device
        self.skipped = 0  # frames replaced by a newer one before anyone took them
        self.ended = False
        self._latest: Captured | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera-capture", daemon=True)

    def start(self) -> CameraCapture:
        """Start reading (a file's clock starts now)."""
        self._thread.start()
        return self

    def _run(self) -> None:
        start_wall, first_ms = time.monotonic(), None
        try:
            while not self._stop.is_set():
                ok, bgr = self._cap.read()
                if not ok or bgr is None:
                    break
                if self.from_file:  # released at its own time, as the camera delivered it
                    media_ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
                    first_ms = media_ms if first_ms is None else first_ms
                    due = start_wall + (media_ms - first_ms) / 1e3
                    if self._stop.wait(max(0.0, due - time.monotonic())):
                        break
                frame = Captured(self.delivered, time.time_ns(), bgr)
                with self._cond:
                    if self._latest is not None:
                        self.skipped += 1
                    self._latest = frame
                    self.delivered += 1
                    self._cond.notify_all()
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def read(self, timeout: float = 5.0) -> Captured | None:
        """The newest frame not yet taken; None once the device has ended (or after
        ``timeout`` seconds without a frame: a camera that stopped delivering)."""
        with self._cond:
            self._cond.wait_for(lambda: self._latest is not None or self.ended, timeout)
            frame, self._latest = self._latest, None
            return frame

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        self._cap.release()

    def __enter__(self) -> CameraCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
