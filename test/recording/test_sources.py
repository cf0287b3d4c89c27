"""The recording readers: frame folders, video files (container timestamps), bags, and finding
recordings in a tree. Small images, made in temporary folders."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from recording_support import write_vfr_video, write_video

from me_perception.perception.stamps import s_to_ns
from me_perception.recording.bag_io import BagSource, ImageStream, write_image_bag
from me_perception.recording.errors import RecordingError
from me_perception.recording.frame_folder import FolderSource, natural_key
from me_perception.recording.recordings import find_recordings, open_recording, recording_kind
from me_perception.recording.sources import FILE_EPOCH_NS, FrameSource
from me_perception.recording.video_file import VideoSource


def _frames(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    """Frames that differ: a bright square moving right, frame number in the blue channel."""
    out = []
    for i in range(n):
        f = np.full((h, w, 3), 40, np.uint8)
        f[10:30, 2 + 3 * i : 18 + 3 * i] = 220
        f[:, :, 0] = 10 * i
        out.append(f)
    return out


def _folder(path: Path, names: list[str], size: tuple[int, int] = (64, 48)) -> Path:
    path.mkdir(parents=True)
    for i, name in enumerate(names):
        cv2.imwrite(str(path / name), _frames(i + 1, *size)[-1])
    return path


def test_natural_order_numbers_and_stamps(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "clip", ["img10.png", "img9.png", "img8.png", "img11.png"])
    src = FolderSource(folder, fps=200)
    assert [p.name for p in src.files] == ["img8.png", "img9.png", "img10.png", "img11.png"]
    frames = list(src)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [f.stamp_ns - FILE_EPOCH_NS for f in frames] == [0, 5_000_000, 10_000_000, 15_000_000]
    assert all(f.image is not None and f.image.bgr.shape == (48, 64, 3) for f in frames)
    assert src.frame_name(2) == "img10.png" and not src.notes
    assert isinstance(src, FrameSource)
    assert sorted(["a10", "a9", "b1"], key=natural_key) == ["a9", "a10", "b1"]


def test_a_gap_in_the_numbering_is_a_gap_in_time_and_a_note(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "clip", ["f1.jpg", "f2.jpg", "f6.jpg", "f7.jpg"])
    src = FolderSource(folder, fps=10)
    stamps = [f.stamp_ns - FILE_EPOCH_NS for f in src]
    assert stamps == [0, s_to_ns(0.1), s_to_ns(0.5), s_to_ns(0.6)]
    (note,) = src.notes
    assert "3 frame(s) missing" in note and "after f2.jpg" in note


def test_frame_rate_from_fps_ground_truth_or_layout(tmp_path: Path) -> None:
    plain = _folder(tmp_path / "plain", ["1.png", "2.png"])
    with pytest.raises(RecordingError, match="carries no frame rate: give it with --fps"):
        FolderSource(plain)
    (plain / "ground_truth.json").write_text(json.dumps({"fps": 25, "events": []}))
    assert FolderSource(plain).fps == 25
    casme = _folder(tmp_path / "CASME2_RAW_selected" / "sub01" / "EP02_01f", ["img46.jpg"])
    src = FolderSource(casme)
    assert src.fps == 200 and "CASME II" in src.notes[0]
    samm = _folder(tmp_path / "SAMM" / "006" / "006_1_2", ["006_05562.jpg", "006_05563.jpg"])
    assert FolderSource(samm).fps == 200
    casme2 = _folder(tmp_path / "rawpic" / "s15" / "15_0101disgustingteeth", ["img1.jpg"])
    assert FolderSource(casme2).fps == 30
    assert FolderSource(casme, fps=100).fps == 100  # --fps wins


def test_bad_frame_folders_name_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    cv2.imwrite(str(empty / "sub" / "1.png"), _frames(1)[0])
    with pytest.raises(RecordingError, match=r"no images in .*empty.*sub-folder\(s\) hold"):
        FolderSource(empty, fps=30)
    mixed = _folder(tmp_path / "mixed", ["1.png", "2.png"])
    cv2.imwrite(str(mixed / "3.png"), _frames(1, 32, 24)[0])
    with pytest.raises(RecordingError, match=r"3\.png is 32x24 but 1\.png is 64x48"):
        FolderSource(mixed, fps=30)
    dup = _folder(tmp_path / "dup", ["img1.png", "frame1.png"])
    with pytest.raises(RecordingError, match="same frame number 1"):
        FolderSource(dup, fps=30)
    partly = _folder(tmp_path / "partly", ["1.png", "cover.png"])
    with pytest.raises(RecordingError, match=r"cover\.png has no frame number"):
        FolderSource(partly, fps=30)
    fake = _folder(tmp_path / "fake", ["1.png"])
    (fake / "2.png").write_text("not an image")
    with pytest.raises(RecordingError, match=r"2\.png is not a readable image"):
        FolderSource(fake, fps=30)


def test_a_corrupt_frame_is_a_decode_error_not_a_crash(tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    folder.mkdir()
    noise = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    for i in (1, 2, 3):
        cv2.imwrite(str(folder / f"{i}.jpg"), noise)
    data = (folder / "2.jpg").read_bytes()
    (folder / "2.jpg").write_bytes(data[: len(data) // 2])  # header intact, data cut
    frames = list(FolderSource(folder, fps=30))
    assert frames[1].image is None and frames[1].error is not None
    assert frames[1].error.reason == "corrupt_compressed"
    assert frames[0].image is not None and frames[2].image is not None


def test_video_stamps_are_the_container_timestamps(tmp_path: Path) -> None:
    times_ms = [0, 33, 66, 150, 183, 400, 433, 466]  # variable frame rate, with two long pauses
    video = write_vfr_video(tmp_path / "vfr.mp4", _frames(8, 64, 48), times_ms)
    src = VideoSource(video)
    frames = list(src)
    assert [f.stamp_ns - FILE_EPOCH_NS for f in frames] == [t * 1_000_000 for t in times_ms]
    assert all(f.log_time_ns == f.stamp_ns for f in frames)
    # the content is the right frame: the bright square moves 3 px per frame
    columns = [int(np.argmax(f.image.gray[20] > 150)) for f in frames if f.image is not None]
    assert all(abs(c - (2 + 3 * i)) <= 1 for i, c in enumerate(columns)), columns
    # a second, selective pass gives the same frames with the same stamps
    picked = list(src.frames({1, 5}))
    assert [(f.index, f.stamp_ns) for f in picked] == [(i, frames[i].stamp_ns) for i in (1, 5)]


@pytest.mark.parametrize("suffix,fourcc", [(".avi", "MJPG"), (".mkv", "FFV1"), (".mov", "mp4v")])
def test_other_containers(tmp_path: Path, suffix: str, fourcc: str) -> None:
    video = write_video(tmp_path / f"clip{suffix}", _frames(6), fps=25, fourcc=fourcc)
    frames = list(open_recording(video))
    assert len(frames) == 6
    steps = np.diff([f.stamp_ns for f in frames])
    assert np.all(np.abs(steps - 40_000_000) <= 1_000_000), steps  # mkv: millisecond stamps


def test_bad_videos_fail_clearly(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    good = write_video(tmp_path / "good.mp4", _frames(10), fps=30)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # moov atom at the end
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), _frames(1)[0])
    cases = {
        text: "cannot read video",
        fake: "cannot read video",
        truncated: "cannot read video",
        empty: "cannot read video",
        image: "single image",
        tmp_path / "missing.mp4": "not found",
    }
    for path, words in cases.items():
        with pytest.raises(RecordingError, match=words):
            open_recording(path)


def test_a_video_with_zero_frames(tmp_path: Path) -> None:
    path = tmp_path / "zero.avi"  # a valid AVI with its stream header and no frame
    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48)).release()
    assert cv2.VideoCapture(str(path), cv2.CAP_FFMPEG).isOpened()
    with pytest.raises(RecordingError, match="has no frames that can be decoded"):
        VideoSource(path)


def test_bag_source_gives_the_bag_frames_decoded(tmp_path: Path) -> None:
    frames = _frames(5)
    stamps = [FILE_EPOCH_NS + i * 33_000_000 for i in range(5)]
    bag = write_image_bag(tmp_path / "bag", frames, stamps, compressed=False)
    src = open_recording(bag)
    assert isinstance(src, BagSource) and src.kind == "bag" and len(src) == 5
    read = list(src)
    assert [f.stamp_ns for f in read] == stamps
    assert all(np.array_equal(f.image.bgr, g) for f, g in zip(read, frames, strict=True))
    assert [f.index for f in src.frames([3, 1])] == [1, 3]
    assert [f.stamp_ns for f in ImageStream(bag)] == stamps


def test_kinds_and_finding_recordings(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _folder(root / "sub01" / "EP01", ["img1.jpg"])
    _folder(root / "sub01" / "EP02", ["img1.jpg"])
    write_video(root / "talk.mp4", _frames(3), fps=30)
    write_image_bag(root / "bags" / "b1", _frames(2), [1, 2], compressed=True)
    (root / "readme.txt").write_text("ignored")
    done = _folder(root / "old_output", ["x1.png"])
    (done / ".marker").write_text("")
    found = find_recordings(root, skip_dir=lambda d: (d / ".marker").exists())
    rel = [str(p.relative_to(root)) for p in found]
    assert rel == ["bags/b1", "sub01/EP01", "sub01/EP02", "talk.mp4"]
    assert [recording_kind(p) for p in found] == ["bag", "folder", "folder", "video"]
    assert find_recordings(root / "talk.mp4") == [root / "talk.mp4"]
    with pytest.raises(RecordingError, match="--topic applies to rosbag2"):
        open_recording(root / "talk.mp4", topic="/camera/image_raw")


def test_every_source_skips_decoding_the_frames_the_caller_declines(tmp_path: Path) -> None:
    """iterate(wants): all frames come, in order with their stamps; the declined ones without
    an image (and no error), so a 200 fps recording analysed at 60 Hz is not fully decoded."""
    frames = _frames(6)
    bag_stamps = [FILE_EPOCH_NS + i * 33_000_000 for i in range(6)]
    sources = [
        BagSource(write_image_bag(tmp_path / "bag", frames, bag_stamps, compressed=True)),
        VideoSource(write_video(tmp_path / "v.avi", frames, 30, "MJPG")),
        FolderSource(_folder(tmp_path / "f", [f"{i:03d}.png" for i in range(6)]), fps=30.0),
    ]
    for src in sources:
        full = list(src)
        wanted = {full[i].stamp_ns for i in (0, 3, 4)}
        read = list(src.iterate(lambda stamp, w=wanted: stamp in w))
        assert [f.stamp_ns for f in read] == [f.stamp_ns for f in full], src.kind
        assert [f.index for f in read if not f.skipped] == [0, 3, 4], src.kind
        assert all(f.image is None and f.error is None for f in read if f.skipped)
        assert all(f.image is not None for f in read if not f.skipped)
        assert [f.index for f in src.iterate(None) if f.image is not None] == list(range(6))
