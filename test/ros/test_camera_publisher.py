"""me_perception_camera --device: a video file standing in for /dev/video0 is published as a
camera driver would, frame by frame, in its own process, to a subscriber of the test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from node_support import CAMERA_EXE, RosPeer
from recording_support import write_video
from ros_support import child_process

pytest.importorskip("rclpy")


def _frames(n: int) -> list[np.ndarray]:
    out = []
    for i in range(n):
        f = np.full((120, 160, 3), 30, np.uint8)
        f[40:80, 10 + 4 * i : 40 + 4 * i] = (0, 0, 250)  # a red block moving right
        out.append(f)
    return out


def test_a_file_as_the_device_is_published_like_a_camera(tmp_path: Path) -> None:
    from sensor_msgs.msg import Image

    video = write_video(tmp_path / "camera.avi", _frames(20), fps=20, fourcc="MJPG")
    peer = RosPeer("camera_checker")
    try:
        received = peer.collect(Image, "/test_camera/image_raw")
        command = [CAMERA_EXE, "--device", str(video), "--topic", "/test_camera/image_raw"]
        with child_process([*command, "--settle", "0.5"]) as camera:
            assert peer.wait_matched("/test_camera/image_raw", 60.0)
            peer.spin_until(lambda: len(received) >= 20 or camera.poll() is not None, 60.0)
            peer.spin_until(lambda: len(received) >= 20, 5.0)
            camera.wait(timeout=30)  # it ends by itself at the end of the file
            output = camera.stdout.read().decode()
        assert len(received) == 20, (len(received), output)
        assert '"sent": 20' in output and '"skipped": 0' in output, output
        first, last = received[0], received[-1]
        assert (first.width, first.height, first.encoding) == (160, 120, "bgr8")
        images = [np.frombuffer(m.data, np.uint8).reshape(120, 160, 3) for m in (first, last)]
        columns = [int(np.argmax(img[60, :, 2] > 150)) for img in images]
        assert abs(columns[0] - 10) <= 2 and abs(columns[1] - 86) <= 2, columns
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in received]
        steps = np.diff(stamps) / 1e9
        assert np.all(steps > 0) and 0.02 < float(np.median(steps)) < 0.1, steps  # paced, 20 fps
    finally:
        peer.close()


def test_a_missing_device_exits_2() -> None:
    import subprocess

    result = subprocess.run(
        [CAMERA_EXE, "--device", "/dev/video_nonexistent"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "no such camera or file" in result.stderr, result.stderr
