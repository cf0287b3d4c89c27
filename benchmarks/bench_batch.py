"""Throughput of me_perception_batch: the same recordings on 1 and on 2 local worker processes,
measured in one run, and the ratio.

    .venv/bin/python benchmarks/bench_batch.py [--recordings 6] [--seconds 4] [--workers 1 2]

Makes ``--recordings`` mp4 videos (640x480, 30 fps, ``--seconds`` each) from the shipped
sample's frames (a real face photograph with expressions and head motion), then processes all
of them with ``run_local`` once per worker count, into fresh output folders, and prints wall
time, recordings/s and frames/s per run and the speed-up against the first. Each worker runs
one inference thread; worker start-up (a spawned interpreter importing the package and loading
the model) is part of the measured time, as it is of a real batch. The workers' CPU seconds
show whether the cores were there to be had: on a machine whose cores other jobs keep busy,
two workers get no more CPU than one and the ratio stays near 1.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2

from me_perception.perception.pipeline import PipelineConfig
from me_perception.recording.bag_io import ImageStream
from me_perception.tools.batch import Outcome, plan_jobs, prepare_root, run_local
from me_perception.tools.sample_recording import SAMPLE_DIR


def make_videos(folder: Path, count: int, seconds: float) -> int:
    """``count`` videos cut from the sample (each from another start); returns frames each."""
    frames = [f.decode().bgr for f in ImageStream(SAMPLE_DIR)]
    n = int(seconds * 30)
    for k in range(count):
        h, w = frames[0].shape[:2]
        writer = cv2.VideoWriter(
            str(folder / f"rec{k:02d}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h)
        )
        start = (k * 37) % max(1, len(frames) - n)
        for i in range(n):
            writer.write(frames[(start + i) % len(frames)])
        writer.release()
    return n


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(inputs: Path, out: Path, workers: int, pictures: bool) -> tuple[float, int, float]:
    config = PipelineConfig(backend="onnxruntime", num_threads=1)
    jobs = plan_jobs([inputs], out, config, pictures=pictures)
    prepare_root(out)
    outcomes: list[Outcome] = []
    cpu, start = _children_cpu_s(), time.perf_counter()
    run_local(jobs, workers, outcomes.append)
    wall = time.perf_counter() - start
    cpu = _children_cpu_s() - cpu  # the workers' CPU time (they have ended: reaped children)
    failed = [o for o in outcomes if o.status != "done"]
    if failed:
        raise SystemExit(f"benchmark recordings failed: {failed}")
    return wall, sum(o.frames for o in outcomes), cpu


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recordings", type=int, default=6)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--no-pictures", action="store_true", help="without the event pictures")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        inputs = work / "recordings"
        inputs.mkdir()
        per = make_videos(inputs, args.recordings, args.seconds)
        print(f"{args.recordings} recordings x {per} frames (640x480, 30 fps, mp4v)")
        print("| workers | wall s | workers' CPU s | recordings/s | frames/s | speed-up |")
        print("|---|---|---|---|---|---|")
        base = None
        for workers in args.workers:
            wall, frames, cpu = run(inputs, work / f"out{workers}", workers, not args.no_pictures)
            base = base or frames / wall
            print(
                f"| {workers} | {wall:.1f} | {cpu:.1f} | {args.recordings / wall:.2f} "
                f"| {frames / wall:.0f} | x{frames / wall / base:.2f} |",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
