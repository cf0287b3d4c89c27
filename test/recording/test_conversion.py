"""me_perception_convert: frame folders and videos into rosbag2 files that give the same
results as the originals, and refusals that leave nothing behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from offline_support import make_test_bag
from recording_support import bag_frames, bag_to_folder, write_lossless_mp4

from me_perception.perception.pipeline import PipelineConfig
from me_perception.recording.bag_io import ImageStream
from me_perception.recording.conversion import convert_to_bag
from me_perception.recording.errors import RecordingError
from me_perception.recording.recordings import open_recording
from me_perception.tools.offline import process_recording

CONVERT_EXE = str(Path(sys.executable).with_name("me_perception_convert"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("convert")
    return bag_to_folder(make_test_bag(root / "bag", seconds=1.0), root / "frames")


def test_a_frame_folder_converts_losslessly_and_gives_the_same_results(
    folder: Path, tmp_path: Path
) -> None:
    done = convert_to_bag(folder, tmp_path / "bag")
    assert done.frames == 30 and done.topic == "/camera/image_raw/compressed"
    stream = ImageStream(tmp_path / "bag")
    source = open_recording(folder)
    for message, frame in zip(stream, source, strict=True):
        assert message.stamp_ns == message.log_time_ns == frame.stamp_ns
        assert bytes(message.message.data) == source.files[frame.index].read_bytes()
    config = PipelineConfig(backend="onnxruntime", num_threads=1)
    a = process_recording(folder, tmp_path / "a", config=config, progress=False, pictures=False)
    b = process_recording(
        tmp_path / "bag", tmp_path / "b", config=config, progress=False, pictures=False
    )
    assert a.events == b.events
    assert (tmp_path / "a" / "frames.csv").read_bytes() == (
        tmp_path / "b" / "frames.csv"
    ).read_bytes()


@pytest.mark.parametrize("fmt", ["raw", "png", "jpeg"])
def test_a_video_converts_with_its_stamps(folder: Path, tmp_path: Path, fmt: str) -> None:
    frames = bag_frames(folder.parent / "bag")
    video = write_lossless_mp4(tmp_path / "clip.mp4", frames)
    result = subprocess.run(
        [CONVERT_EXE, str(video), str(tmp_path / "out"), "--format", fmt],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "me_perception_play" in result.stdout
    decoded = [(m.stamp_ns, m.decode().bgr) for m in ImageStream(tmp_path / "out")]
    original = [(f.stamp_ns, f.image.bgr) for f in open_recording(video)]
    assert [s for s, _ in decoded] == [s for s, _ in original]
    pairs = zip(decoded, original, strict=True)
    error = max(float(np.abs(a.astype(int) - b).mean()) for (_, a), (_, b) in pairs)
    assert (error < 3.0) if fmt == "jpeg" else (error == 0.0), error  # JPEG q95: small loss


def test_conversion_refuses_and_leaves_nothing(folder: Path, tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    cases = {
        "existing output": (folder, existing, "exists"),
        "a bag": (folder.parent / "bag", tmp_path / "o1", "already a rosbag2"),
        "output inside the input": (folder, folder / "bag", "overlap"),
    }
    for case, (src, out, words) in cases.items():
        with pytest.raises(RecordingError, match=words):
            convert_to_bag(src, out)
        assert case and not list(out.parent.glob(f".{out.name}.partial-*"))
    assert not (tmp_path / "o1").exists() and not (folder / "bag").exists()
    assert list(existing.iterdir()) == []
