"""Offline processing of rosbag2 recordings: outputs, determinism, and bad bags."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from offline_support import make_test_bag
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from me_perception.perception.pipeline import PipelineConfig
from me_perception.perception.stamps import time_to_ns
from me_perception.recording.bag_io import BagError
from me_perception.recording.bag_types import make_typestore
from me_perception.ros.messages import ARRAY_TYPE
from me_perception.tools.offline import process_bag

OFFLINE_EXE = str(Path(sys.executable).with_name("me_perception_offline"))


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_bag(tmp_path_factory.mktemp("bags") / "clip")


def _config(model_dir: Path) -> PipelineConfig:
    return PipelineConfig(model_path=str(model_dir), backend="onnxruntime", num_threads=1)


def test_outputs_are_written_and_deterministic(bag: Path, tmp_path: Path) -> None:
    shipped = PipelineConfig(backend="onnxruntime", num_threads=1)  # it spots something here
    a = process_bag(bag, tmp_path / "a", config=shipped, progress=False)
    process_bag(bag, tmp_path / "b", config=shipped, progress=False)
    assert a.frames == a.processed == 75 and not a.dropped
    for name in ("events.json", "events.csv", "frames.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    png = (tmp_path / "a" / "timeline.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    summary = json.loads((tmp_path / "a" / "events.json").read_text())
    with (tmp_path / "a" / "events.csv").open() as f:
        spotted = list(csv.DictReader(f))
    assert [e["onset_stamp_ns"] for e in spotted] == [
        str(e["onset_stamp_ns"]) for e in summary["events"]
    ], "events.csv and events.json list the same events"
    # The evaluation, recomputed by hand from events.csv and the ground truth's frames.
    truth = json.loads((bag / "ground_truth.json").read_text())
    (micro,) = [(e["onset"], e["offset"]) for e in truth["events"] if e["kind"] == "micro"]
    hits = [e for e in spotted if e["kind"] == "micro" and _iou(e, micro) >= 0.5]
    n_micro = sum(e["kind"] == "micro" for e in spotted)
    assert n_micro > 0, "the shipped model spots something in this clip"
    counts = summary["evaluation"]["overall"]["micro"]
    assert (counts["tp"], counts["fp"], counts["fn"]) == (
        min(len(hits), 1),
        n_micro - min(len(hits), 1),
        1 - min(len(hits), 1),
    ), (counts, spotted)
    for e in spotted:  # frame numbers agree with the stamps (30 fps, first frame 0)
        assert int(e["onset_frame"]) == round(float(e["onset_s"]) * 30), e
    with (tmp_path / "a" / "frames.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows and {r["face_id"] for r in rows}, "a face was tracked"
    # The result bag holds one state per processed frame, readable with our message types.
    typestore = make_typestore()
    with Reader(tmp_path / "a" / "results") as reader:
        states = [
            typestore.deserialize_cdr(raw, ARRAY_TYPE)
            for c, _, raw in reader.messages()
            if c.msgtype == ARRAY_TYPE
        ]
    assert len(states) == a.processed
    stamps = [time_to_ns(s.header.stamp) for s in states]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def _iou(event: dict[str, str], truth: tuple[int, int]) -> float:
    """Frame IoU of a spotted event (events.csv row) with a ground-truth interval."""
    a0, a1 = int(event["onset_frame"]), int(event["offset_frame"])
    inter = min(a1, truth[1]) - max(a0, truth[0]) + 1
    union = max(a1, truth[1]) - min(a0, truth[0]) + 1
    return max(inter, 0) / union


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OFFLINE_EXE, "--no-progress", *args], capture_output=True, text=True, timeout=300
    )


def _other_topic_bag(path: Path, msg_count: int = 3) -> Path:
    typestore = make_typestore()
    string = typestore.types["std_msgs/msg/String"]
    with Writer(path, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        conn = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=typestore)
        for i in range(msg_count):
            writer.write(conn, i, typestore.serialize_cdr(string(data=f"hi {i}"), conn.msgtype))
    return path


def test_bad_bags_fail_clearly_and_write_nothing(
    bag: Path, model_dir: Path, tmp_path: Path
) -> None:
    truncated = tmp_path / "truncated"
    shutil.copytree(bag, truncated)
    mcap = next(truncated.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    cases = {
        "missing path": ([str(tmp_path / "nope")], "not found"),
        "not a bag": ([str(empty_dir)], "neither a rosbag2"),
        "missing topic": ([str(bag), "--topic", "/camera/nothing"], "is not in"),
        "wrong type": ([str(_other_topic_bag(tmp_path / "strings")), "--topic", "/chatter"], "not"),
        "no image topic": ([str(tmp_path / "strings")], "no Image/CompressedImage topic"),
        "truncated": ([str(truncated)], "truncated"),
        "missing model": ([str(bag), "--model", str(tmp_path / "no_model")], "model"),
    }
    for name, (args, words) in cases.items():
        out = tmp_path / f"out_{name.replace(' ', '_')}"
        model = [] if "--model" in args else ["--model", str(model_dir)]
        result = _run_cli(*args, "--out", str(out), *model)
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert words in result.stderr and "nothing was written" in result.stderr, (
            name,
            result.stderr,
        )
        assert not out.exists(), name
        assert not list(tmp_path.glob(f".out_{name.replace(' ', '_')}.partial-*")), name


def test_existing_output_is_not_overwritten_silently(
    bag: Path, model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(BagError, match="exists"):
        process_bag(bag, out, config=_config(model_dir), progress=False)
    assert (out / "keep.txt").read_text() == "mine"


def test_shipped_sample_is_reproducible_from_its_generator(tmp_path: Path) -> None:
    from me_perception.recording.bag_io import ImageStream
    from me_perception.tools.sample_recording import SAMPLE_DIR, make_sample

    made = make_sample(tmp_path / "sample")
    assert json.loads((made / "ground_truth.json").read_text()) == json.loads(
        (SAMPLE_DIR / "ground_truth.json").read_text()
    )
    shipped, fresh = ImageStream(SAMPLE_DIR), ImageStream(made)
    assert len(shipped) == len(fresh) == 300
    for a, b in zip(shipped, fresh, strict=True):
        assert a.stamp_ns == b.stamp_ns
        assert bytes(a.message.data) == bytes(b.message.data), a.index


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


@pytest.mark.parametrize("where", ["the bag itself", "the bag's parent", "inside the bag"])
def test_output_never_replaces_or_alters_the_input(
    bag: Path, model_dir: Path, tmp_path: Path, where: str
) -> None:
    """--out pointing at the input, a folder holding it, or into it: exit 2, input untouched."""
    parent = tmp_path / "recordings"
    shutil.copytree(bag, parent / "clip")
    (parent / "notes.txt").write_text("the user's other files")
    before = _tree(parent)
    out = {
        "the bag itself": parent / "clip",
        "the bag's parent": parent,
        "inside the bag": parent / "clip" / "results",
    }[where]
    result = _run_cli(
        str(parent / "clip"), "--out", str(out), "--overwrite", "--model", str(model_dir)
    )
    assert result.returncode == 2, result.stderr
    assert "input" in result.stderr
    assert _tree(parent) == before


def test_overwrite_replaces_only_a_previous_output(
    bag: Path, model_dir: Path, tmp_path: Path
) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    with pytest.raises(BagError, match="not a previous"):
        process_bag(bag, foreign, config=_config(model_dir), progress=False, overwrite=True)
    assert (foreign / "thesis.tex").read_text() == "years of work"

    out = tmp_path / "out"
    process_bag(bag, out, config=_config(model_dir), progress=False)
    first = (out / "events.json").read_bytes()
    assert (out / ".me_perception_output").is_file()
    assert oct(out.stat().st_mode & 0o077) != "0o0", "output folder must not be private (0700)"
    process_bag(bag, out, config=_config(model_dir), progress=False, overwrite=True)
    assert (out / "events.json").read_bytes() == first


def test_sigterm_leaves_no_staging_folder(bag: Path, model_dir: Path, tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen(
        [OFFLINE_EXE, str(bag), "--out", str(out), "--model", str(model_dir), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".out.partial-*")) and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not list(tmp_path.glob(".out.partial-*"))
    if proc.returncode != 0:  # killed in time: nothing written
        assert not out.exists()


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_unusable_output_locations_exit_2_with_one_line(
    bag: Path, model_dir: Path, tmp_path: Path
) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    outs = {
        "below a file": a_file / "out",
        "an existing file": a_file,
        "an unwritable folder": Path("/proc") / f"me_perception_test_{os.getpid()}",
    }
    if os.geteuid() != 0:  # root writes into mode 0555 folders anyway
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        outs["a read-only folder"] = locked / "out"
    for case, out in outs.items():
        line = _one_line_error(_run_cli(str(bag), "--out", str(out), "--model", str(model_dir)))
        assert str(out) in line, (case, line)
    assert a_file.read_text() == "not a folder"


def test_model_with_external_data_outside_its_folder_is_refused(
    bag: Path, model_dir: Path, tmp_path: Path
) -> None:
    import onnx
    from onnx import external_data_helper

    model = onnx.load(str(model_dir / "model.onnx"))
    tensor = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    (tmp_path / "elsewhere.bin").write_bytes(tensor.raw_data)
    external_data_helper.set_external_data(tensor, location="../elsewhere.bin")
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    (tmp_path / "model").mkdir()
    onnx.save(model, str(tmp_path / "model" / "model.onnx"))
    out = tmp_path / "out"
    result = _run_cli(str(bag), "--out", str(out), "--model", str(tmp_path / "model"))
    line = _one_line_error(result)
    assert "outside the model's folder" in line and "../elsewhere.bin" in line, line
    assert not out.exists()
