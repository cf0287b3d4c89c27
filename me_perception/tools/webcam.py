"""The pipeline on a camera, without ROS: a live window with the overlay, events printed, the
session recordable to a bag.

    me_perception_webcam --device 0 [--record session_bag] [--no-window]
    me_perception_webcam --device interview.mp4 --every-frame     # a file standing in

A camera (or a file paced at its own timestamps) is read newest-frame-wins
(:mod:`me_perception.ros.camera_capture`): when the pipeline is slower than the camera it
takes the latest frame and the skipped ones are counted, as the node does. ``--every-frame``
(files only) instead reads every frame with its container timestamp, as fast as the pipeline
goes, exactly like ``me_perception_offline`` reads the file, so both print the same events.

The window needs a display and an OpenCV built with GUI support (the project installs
``opencv-python-headless``: ``pip install opencv-python`` of the same version in place of it
gives the window); without either the session runs on, printing events, and says so once.
``--record DIR`` writes a rosbag2 (mcap) with the camera frames (JPEG CompressedImage on
``/camera/image_raw/compressed``) and the node's ``/me_perception/state`` and ``events``, so
the session can be processed again offline or replayed into the live node. It is written into
a hidden folder beside DIR and renamed when the session ends (also by Ctrl-C or q in the
window); a failure leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from me_perception.perception.events import Phase
from me_perception.perception.image_decoding import DecodedImage
from me_perception.perception.pipeline import EventRecord, FrameResult, Pipeline
from me_perception.recording.bag_io import ImageBagWriter, ResultBagWriter
from me_perception.recording.errors import RecordingError
from me_perception.recording.video_file import VideoSource
from me_perception.ros.camera_capture import CameraCapture, CameraError, is_file
from me_perception.ros.messages import array_fields, event_fields
from me_perception.ros.overlay import draw_overlay

WINDOW = "me_perception"
CAMERA_TOPIC = "/camera/image_raw"


@dataclass
class Session:
    """What a webcam session did."""

    frames: int = 0
    skipped: int = 0  # camera frames replaced by newer ones before the pipeline took them
    events: list[str] = field(default_factory=list)  # the printed event lines
    record: Path | None = None
    notes: list[str] = field(default_factory=list)


def camera_frames(
    device: str, every_frame: bool, session: Session
) -> Iterator[tuple[int, np.ndarray]]:
    """(stamp ns, BGR frame) from the device: every frame of a file with its container stamps
    (``every_frame``), else the newest frame whenever the caller is ready."""
    if every_frame:
        if not is_file(device):
            raise RecordingError("--every-frame reads a video file, not a live camera")
        for frame in VideoSource(device):
            if frame.image is not None:
                yield frame.stamp_ns, frame.image.bgr
        return
    try:
        capture = CameraCapture(device)
    except CameraError as exc:
        raise RecordingError(str(exc)) from None
    with capture:
        while (taken := capture.read(timeout=10.0)) is not None:
            session.skipped = capture.skipped
            yield taken.stamp_ns, taken.bgr
        session.skipped = capture.skipped


class Recorder:
    """The session's bag: frames and results, staged beside ``path`` until the end."""

    def __init__(self, path: Path) -> None:
        if path.exists() or path.is_symlink():
            raise RecordingError(f"--record {path} exists: choose a new folder name")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
        except OSError as exc:
            raise RecordingError(f"cannot write {path}: {exc.strerror or exc}") from None
        self.path = path
        self.results = ResultBagWriter(self.staging / "bag")
        self.images = ImageBagWriter(
            None,
            CAMERA_TOPIC,
            compressed=True,
            writer=self.results.writer,
            typestore=self.results.typestore,
        )

    def write(self, stamp_ns: int, bgr: np.ndarray, result: FrameResult) -> None:
        self.images.write(stamp_ns, bgr)
        self.results.write_state(stamp_ns, array_fields(result))
        for record in result.events:
            self.results.write_event(stamp_ns, event_fields(result, record))

    def finish(self, keep: bool) -> None:
        self.results.close()
        if keep and self.images.count:
            (self.staging / "bag").rename(self.path)
        shutil.rmtree(self.staging, ignore_errors=True)


class Window:
    """The live overlay window, or nothing where no window can be shown."""

    def __init__(self, wanted: bool, notes: list[str]) -> None:
        self.shown = False
        if not wanted:
            return
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            notes.append("no display: no window, events are printed")
            return
        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
            self.shown = True
        except cv2.error:
            notes.append(
                "no window: this OpenCV has no GUI support (opencv-python-headless); "
                "events are printed"
            )

    def show(self, bgr: np.ndarray, result: FrameResult) -> bool:
        """Draw the frame; False when the user closed the window or pressed q / Esc."""
        if not self.shown:
            return True
        cv2.imshow(WINDOW, draw_overlay(bgr, result))
        key = cv2.waitKey(1) & 0xFF
        visible = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) >= 1
        return key not in (ord("q"), 27) and visible

    def close(self) -> None:
        if self.shown:
            cv2.destroyWindow(WINDOW)


def event_line(record: EventRecord, t0_ns: int) -> str | None:
    """The printed line of an onset or offset (apex events are not printed)."""
    ev = record.event
    if ev.phase == Phase.ONSET:
        return f"{(ev.onset_ns - t0_ns) / 1e9:9.3f} s  face {record.face_id}  onset"
    if ev.phase != Phase.OFFSET:
        return None
    label = ev.label or "-"
    return (
        f"{(ev.offset_ns - t0_ns) / 1e9:9.3f} s  face {record.face_id}  {ev.kind.value} "
        f"{label} conf {ev.confidence:.2f} intensity {ev.intensity:.2f} "
        f"({(ev.onset_ns - t0_ns) / 1e9:.3f}-{(ev.offset_ns - t0_ns) / 1e9:.3f} s, "
        f"{ev.duration_ns / 1e6:.0f} ms){' truncated' if ev.truncated else ''}"
    )


def run_session(
    pipeline: Pipeline,
    device: str,
    *,
    every_frame: bool = False,
    record: Path | None = None,
    window: bool = True,
    max_frames: int = 0,
    seconds: float = 0.0,
    say: Callable[[str], None] = print,
) -> Session:
    """Run the pipeline on the device until it ends, ``max_frames``/``seconds`` are reached,
    the window is closed or Ctrl-C (which ends the session normally)."""
    session = Session(record=record)
    frames = camera_frames(device, every_frame, session)
    recorder = Recorder(record) if record else None
    view = Window(window, session.notes)
    for note in session.notes:
        say(f"note: {note}")
    ok, t0, start = False, 0, time.monotonic()
    try:
        for stamp_ns, bgr in frames:
            t0 = t0 or stamp_ns
            result = pipeline.process(DecodedImage("bgr8", bgr=bgr), stamp_ns, "camera")
            session.frames += 1
            for record_ in result.events:
                line = event_line(record_, t0)
                if line:
                    session.events.append(line)
                    say(line)
            if recorder is not None:
                recorder.write(stamp_ns, bgr, result)
            if not view.show(bgr, result):
                break
            if (max_frames and session.frames >= max_frames) or (
                seconds and time.monotonic() - start >= seconds
            ):
                break
        ok = True
    except KeyboardInterrupt:
        ok = True  # Ctrl-C is how a live session ends: keep what was recorded
    finally:
        view.close()
        frames.close()
        if recorder is not None:
            recorder.finish(keep=ok)
    if recorder is not None and not (record and record.exists()):
        session.record = None
    return session
