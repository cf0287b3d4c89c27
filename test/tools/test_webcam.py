"""me_perception_webcam with a video file standing in for the camera: events printed (the same
as the offline tool's for --every-frame), no window without a display, the session recorded to
a bag that the offline tool reads again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from offline_support import make_test_bag
from recording_support import bag_frames, write_lossless_mp4
from rosbags.rosbag2 import Reader

from me_perception.perception.pipeline import PipelineConfig
from me_perception.tools.offline import process_recording
from me_perception.tools.offline_outputs import OfflineReport

WEBCAM_EXE = str(Path(sys.executable).with_name("me_perception_webcam"))


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("webcam")
    return write_lossless_mp4(root / "camera.mp4", bag_frames(make_test_bag(root / "bag")))


def _webcam(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    environment = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    command = [WEBCAM_EXE, "--backend", "onnxruntime", "--threads", "1", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**environment, **env}
    )


def _offline(recording: Path, out: Path) -> OfflineReport:
    config = PipelineConfig(backend="onnxruntime", num_threads=1)
    return process_recording(recording, out, config=config, progress=False, pictures=False)


def test_every_frame_of_a_file_gives_the_offline_events_and_a_bag(
    video: Path, tmp_path: Path
) -> None:
    record = tmp_path / "session"
    result = _webcam("--device", str(video), "--every-frame", "--record", str(record))
    assert result.returncode == 0, result.stderr
    assert "note: no display: no window, events are printed" in result.stdout
    assert "75 frames processed, 0 skipped" in result.stdout
    printed = [line for line in result.stdout.splitlines() if " micro " in line]
    offline = _offline(video, tmp_path / "offline")
    assert len(printed) == len(offline.events) > 0, result.stdout
    for line, event in zip(printed, offline.events, strict=True):
        assert f"({event['onset_s']:.3f}-{event['offset_s']:.3f} s" in line, (line, event)
        assert event["label"] in line
    with Reader(record) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts["/camera/image_raw/compressed"] == counts["/me_perception/state"] == 75
    assert counts["/me_perception/events"] > 0
    again = _offline(record, tmp_path / "again")
    assert again.frames == again.processed == 75  # the recorded session is a recording


def test_a_file_paced_as_a_camera_without_a_window_toolkit(video: Path) -> None:
    """Paced at its own timestamps, newest frame wins: every frame is processed or counted as
    skipped. With a DISPLAY set but OpenCV built without GUI, the session says so and runs."""
    result = _webcam("--device", str(video), DISPLAY=":99")
    assert result.returncode == 0, result.stderr
    assert "no window: this OpenCV has no GUI support" in result.stdout
    last = result.stdout.strip().splitlines()[-1]
    processed, skipped = (int(last.split()[i]) for i in (0, 3))
    assert processed > 0 and processed + skipped == 75, last


def test_bad_devices_exit_2(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    for device, words in (("/dev/video_none", "no such camera"), (str(text), "cannot open")):
        result = _webcam("--device", device, "--record", str(tmp_path / "rec"))
        assert result.returncode == 2 and words in result.stderr, result.stderr
        assert not (tmp_path / "rec").exists() and not list(tmp_path.glob(".rec.partial-*"))
