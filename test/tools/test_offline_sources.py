"""The offline tool on videos and frame folders: the same frames give the same events whatever
the container; the command line, its outputs (pictures, report) and its one-line errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from offline_support import make_test_bag
from recording_support import bag_frames, bag_to_folder, write_lossless_mp4, write_video

from me_perception.perception.pipeline import PipelineConfig
from me_perception.tools.offline import process_recording

OFFLINE_EXE = str(Path(sys.executable).with_name("me_perception_offline"))
SHIPPED = PipelineConfig(backend="onnxruntime", num_threads=1)  # it spots something here


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One recording in four containers: the bag (JPEG messages), a folder of those JPEG files,
    a lossless H.264 mp4 and a lossy mp4 (OpenCV's mp4v) of the decoded frames."""
    root = tmp_path_factory.mktemp("containers")
    bag = make_test_bag(root / "bag")
    frames = bag_frames(bag)
    return {
        "bag": bag,
        "folder": bag_to_folder(bag, root / "folder"),
        "lossless": write_lossless_mp4(root / "lossless.mp4", frames),
        "lossy": write_video(root / "lossy.mp4", frames, fps=30, fourcc="mp4v"),
    }


@pytest.fixture(scope="module")
def results(clip: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("results")
    done = {}
    for name, path in clip.items():
        fps = 30.0 if name == "folder" else None
        process_recording(path, out / name, fps=fps, config=SHIPPED, progress=False, pictures=False)
        done[name] = out / name
    return done


def _rows(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / name).open() as f:
        return list(csv.DictReader(f))


def test_bag_and_its_frame_folder_give_identical_results(results: dict[str, Path]) -> None:
    bag, folder = results["bag"], results["folder"]
    assert _rows(bag, "events.csv"), "the shipped model spots something in this clip"
    for name in ("events.csv", "frames.csv"):
        assert (bag / name).read_bytes() == (folder / name).read_bytes(), name
    a, b = (json.loads((r / "events.json").read_text()) for r in (bag, folder))
    assert a["evaluation"] == b["evaluation"] and a["kind"] == "bag" and b["kind"] == "folder"


def test_a_lossless_mp4_gives_the_same_events(results: dict[str, Path]) -> None:
    """Identical pixels, stamps from the container (1/30 s time base: the same nanoseconds up
    to the rounding of a float millisecond value, hence the 1 us tolerance on stamps)."""
    bag, video = (_rows(results[k], "events.csv") for k in ("bag", "lossless"))
    assert len(bag) == len(video) > 0
    for a, b in zip(bag, video, strict=True):
        for key in ("face_id", "kind", "label", "confidence", "intensity", "peak_score"):
            assert a[key] == b[key], (key, a, b)
        for key in ("onset_frame", "apex_frame", "offset_frame"):
            assert a[key] == b[key], (key, a, b)
        for key in ("onset_stamp_ns", "apex_stamp_ns", "offset_stamp_ns"):
            assert abs(int(a[key]) - int(b[key])) <= 1000, (key, a, b)
    scores = [
        [float(r["spotting_score"]) for r in _rows(results[k], "frames.csv")]
        for k in ("bag", "lossless")
    ]
    assert scores[0] == scores[1]


def test_a_lossy_mp4_keeps_frames_stamps_and_faces(results: dict[str, Path]) -> None:
    """What a lossy codec cannot change: every frame, its stamp (30 fps, exact to 1 us), and
    the face found in it. The box may move by up to 6 % of the face's width: codec noise moves
    the detector's box edges by a few pixels (4 % measured here, 5 px of a 127 px face)."""
    bag, video = (_rows(results[k], "frames.csv") for k in ("bag", "lossy"))
    assert [r["frame"] for r in bag] == [r["frame"] for r in video]
    for a, b in zip(bag, video, strict=True):
        assert abs(int(a["stamp_ns"]) - int(b["stamp_ns"])) <= 1000
        for key in ("x", "y", "width", "height"):
            assert abs(int(a[key]) - int(b[key])) <= 0.06 * int(a["width"]), (key, a, b)


def test_a_lossy_mp4_gives_the_same_events_within_two_frames(results: dict[str, Path]) -> None:
    """(An expected failure with the first, appearance-based network, whose scores changed by up
    to 0.9 under mp4v coding; the motion-based roi_flow passes.) The tolerance a lossy codec
    deserves: scores that ramp over 2-3 frames at 30 fps cross
    a threshold a frame or two earlier or later when the pixels change by codec noise, so
    events are matched one to one with the same kind and label and onset/offset within two
    frames (67 ms)."""
    bag, video = (_rows(results[k], "events.csv") for k in ("bag", "lossy"))
    assert bag, "the clip has an expression to compare"
    assert len(bag) == len(video)
    for a, b in zip(bag, video, strict=True):
        assert (a["kind"], a["label"]) == (b["kind"], b["label"])
        for key in ("onset_frame", "offset_frame"):
            assert abs(int(a[key]) - int(b[key])) <= 2, (key, a, b)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OFFLINE_EXE, "--no-progress", *args], capture_output=True, text=True, timeout=300
    )


def test_command_on_a_video_writes_everything(clip: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _cli(str(clip["lossless"]), "--out", str(out), "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert "frames of video 480x360" in result.stdout
    names = {p.name for p in out.iterdir()}
    expected = {"events.csv", "events.json", "frames.csv", "timeline.png", "report.html"}
    assert expected | {"results", "events", ".me_perception_output"} <= names
    events = _rows(out, "events.csv")
    pictures = sorted((out / "events").glob("*.png"))
    assert len(pictures) == len(events) > 0
    picture = cv2.imread(str(pictures[0]))
    assert picture is not None and picture.shape[1] > 800 and picture.std() > 20
    report = (out / "report.html").read_text()
    assert all(f"events/{p.name}" in report for p in pictures)
    assert "timeline.png" in report and events[0]["label"] in report


def test_command_on_a_frame_folder_with_fps(clip: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _cli(str(clip["folder"]), "--fps", "200", "--out", str(out), "--no-pictures")
    assert result.returncode == 0, result.stderr
    stamps = [int(r["stamp_ns"]) for r in _rows(out, "frames.csv")]
    assert np.all(np.diff(sorted(set(stamps))) == 5_000_000)
    summary = json.loads((out / "events.json").read_text())
    assert summary["kind"] == "folder" and summary["frames"] == 75
    assert abs(summary["recording_s"] - 75 / 200) < 1e-6
    assert "frame_00000.jpg" in (out / "report.html").read_text() or not summary["events"]


def _bad_inputs(clip: dict[str, Path], tmp: Path) -> dict[str, tuple[list[str], str]]:
    text = tmp / "notes.txt"
    text.write_text("a text file")
    truncated = tmp / "truncated.mp4"
    data = clip["lossy"].read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    zero = tmp / "zero.avi"
    cv2.VideoWriter(str(zero), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48)).release()
    no_images = tmp / "no_images"
    no_images.mkdir()
    (no_images / "readme.txt").write_text("x")
    mixed = tmp / "mixed"
    mixed.mkdir()
    for i, size in enumerate([(64, 48), (64, 48), (32, 24)]):
        cv2.imwrite(str(mixed / f"{i}.png"), np.zeros((size[1], size[0], 3), np.uint8))
    no_rate = tmp / "no_rate"
    no_rate.mkdir()
    for p in sorted(clip["folder"].glob("*.jpg"))[:3]:
        (no_rate / p.name).write_bytes(p.read_bytes())
    return {
        "not a video": ([str(text)], "cannot read video"),
        "corrupt video": ([str(truncated)], "cannot read video"),
        "zero frames": ([str(zero)], "no frames"),
        "no images": ([str(no_images), "--fps", "30"], "no images in"),
        "mixed sizes": ([str(mixed), "--fps", "30"], "2.png is 32x24"),
        "no rate": ([str(no_rate)], "--fps"),
    }


def test_bad_inputs_exit_2_with_one_line_and_write_nothing(
    clip: dict[str, Path], tmp_path: Path
) -> None:
    for case, (args, words) in _bad_inputs(clip, tmp_path).items():
        before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
        out = tmp_path / f"out_{case.replace(' ', '_')}"
        result = _cli(*args, "--out", str(out))
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, (case, result.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: "), (case, result.stderr)
        assert words in lines[0] and "nothing was written" in lines[0], (case, lines[0])
        assert not out.exists() and not list(tmp_path.glob(f".{out.name}.partial-*")), case
        after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
        assert after == before, f"{case}: the input was touched"
