"""Many recordings at once: local worker processes, a failure that does not stop the rest, the
summary table, resuming (also after an interruption), and the same batch on Dask."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from offline_support import make_test_bag
from recording_support import bag_frames, bag_to_folder, write_lossless_mp4

BATCH_EXE = str(Path(sys.executable).with_name("me_perception_batch"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree of recordings: a bag, a video, a frame folder, and a file that is no video."""
    root = tmp_path_factory.mktemp("batch") / "recordings"
    bag = make_test_bag(root / "day1" / "bag", seconds=1.5)
    write_lossless_mp4(root / "day1" / "talk.mp4", bag_frames(bag))
    bag_to_folder(bag, root / "day2" / "frames")
    (root / "day2" / "broken.mp4").write_bytes(b"\x00" * 4096)
    (root / "day2" / "notes.txt").write_text("not a recording, not searched")
    return root


def _batch(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    command = [BATCH_EXE, "--no-progress", "--no-pictures", "--backend", "onnxruntime", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def _summary(out: Path) -> dict[str, dict[str, str]]:
    with (out / "summary.csv").open() as f:
        return {r["recording"]: r for r in csv.DictReader(f)}


NAMES = ["day1__bag", "day1__talk.mp4", "day2__broken.mp4", "day2__frames"]


def test_a_batch_on_local_workers(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    untouched = {p: p.stat().st_mtime_ns for p in inputs.rglob("*")}
    result = _batch(str(inputs), "--out", str(out), "--workers", "2")
    assert result.returncode == 1, result.stderr  # one recording failed, the others are done
    assert "2 local worker process(es)" in result.stdout
    rows = _summary(out)
    assert sorted(rows) == sorted([*NAMES, "(all)"])
    assert rows["day2__broken.mp4"]["status"] == "failed"
    assert "cannot read video" in rows["day2__broken.mp4"]["error"]
    done = [rows[n] for n in NAMES if n != "day2__broken.mp4"]
    assert all(r["status"] == "done" and r["frames"] == "45" for r in done), done
    assert {r["kind"] for r in done} == {"bag", "video", "folder"}
    # the same frames in three containers: the same events, counted alike
    assert len({(r["events"], r["micro"], r["macro"]) for r in done}) == 1
    total = rows["(all)"]
    assert int(total["events"]) == sum(int(r["events"]) for r in done)
    assert float(total["duration_s"]) == pytest.approx(3 * 1.5, abs=0.01)
    per_minute = int(total["events"]) / (float(total["duration_s"]) / 60)
    assert float(total["events_per_min"]) == pytest.approx(per_minute, abs=0.01)
    for r in done:
        classes = sum(int(v) for k, v in r.items() if ":" in k and v)
        assert classes == int(r["events"]), r
        assert (out / r["recording"] / ".me_perception_output").is_file()
    index = (out / "index.html").read_text()
    assert all(f'href="{r["recording"]}/report.html"' in index for r in done)
    assert "cannot read video" in index
    assert not list(out.glob(".*.partial-*")) and not (out / "day2__broken.mp4").exists()
    assert {p: p.stat().st_mtime_ns for p in inputs.rglob("*")} == untouched

    # Run again: the finished recordings are skipped (not rewritten), the failed one retried.
    stamps = {n: (out / n / "events.json").stat().st_mtime_ns for n in NAMES if "broken" not in n}
    again = _batch(str(inputs), "--out", str(out), "--workers", "2")
    assert again.returncode == 1
    assert again.stdout.count("finished earlier") == 3, again.stdout
    assert {n: (out / n / "events.json").stat().st_mtime_ns for n in stamps} == stamps
    rows_again = _summary(out)
    assert rows_again["day1__bag"]["status"] == "done earlier"
    assert rows_again["(all)"]["events"] == rows["(all)"]["events"]


def test_an_interrupted_batch_resumes(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    listing = tmp_path / "list.txt"
    good = [inputs / "day1" / "bag", inputs / "day1" / "talk.mp4", inputs / "day2" / "frames"]
    listing.write_text("".join(f"{p}\n" for p in good))
    command = [BATCH_EXE, "--no-progress", "--no-pictures", "--list", str(listing)]
    proc = subprocess.Popen(
        [*command, "--out", str(out), "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if list(out.glob("*/.me_perception_output")):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    finished = {p.parent.name for p in out.glob("*/.me_perception_output")}
    assert finished, "the first recording finished before the interruption"
    assert not list(out.glob(".*.partial-*")), "an interrupted recording leaves nothing"
    before = {n: (out / n / "events.json").stat().st_mtime_ns for n in finished}
    again = subprocess.run(
        [*command, "--out", str(out), "--workers", "1"], capture_output=True, text=True, timeout=400
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("finished earlier") == len(finished)
    assert {n: (out / n / "events.json").stat().st_mtime_ns for n in finished} == before
    assert {r["status"] for n, r in _summary(out).items() if n != "(all)"} <= {
        "done",
        "done earlier",
    }


def test_the_same_batch_on_a_local_dask_cluster(inputs: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    local, dask = tmp_path / "local", tmp_path / "dask"
    subset = [str(inputs / "day1")]
    assert _batch(*subset, "--out", str(local), "--workers", "1").returncode == 0
    result = _batch(*subset, "--out", str(dask), "--workers", "2", "--dask", "local")
    assert result.returncode == 0, result.stderr
    assert "on Dask local" in result.stdout
    for name in ("bag", "talk.mp4"):  # named below their input folder
        for file in ("events.csv", "frames.csv"):
            assert (local / name / file).read_bytes() == (dask / name / file).read_bytes()


def test_bad_batch_arguments_exit_2(inputs: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "chapter1.tex").write_text("years of work")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = {
        "output is someone's folder": ([str(inputs), "--out", str(foreign)], "not empty"),
        "output inside the input": ([str(inputs), "--out", str(inputs / "res")], "overlaps"),
        "nothing to process": ([str(empty), "--out", str(tmp_path / "o")], "no recordings"),
        "missing input": ([str(tmp_path / "nope"), "--out", str(tmp_path / "o")], "not found"),
    }
    for case, (args, words) in cases.items():
        result = _batch(*args)
        assert result.returncode == 2, (case, result.stderr)
        assert words in result.stderr, (case, result.stderr)
    assert os.listdir(foreign) == ["chapter1.tex"] and not (inputs / "res").exists()
    assert not (tmp_path / "o").exists()
    shutil.rmtree(empty)
