#!/usr/bin/env python3
"""Benchmark the offline pipeline on one 640x480 face: frames per second through the real
path (bag reading, JPEG decoding, detection, tracking, alignment, motion, spotter, events).

Measures, in one run, on the shipped sample (30 fps) and on a 200 fps recording rendered here
(same generator, 10 s, 2000 frames, JPEG in an mcap bag):

1. frames/s and the real-time factor of the offline loop as ``me_perception_offline`` runs it
   (frames the pipeline will not analyse are not decoded: ``analysis_rate_hz`` 60);
2. the same with every frame decoded and analysed (``analysis_rate_hz`` 0), for the ratio;
3. where the time of an analysed frame goes (detect+track, alignment, motion, spotter; the
   decoding is the difference between the loop's time and the pipeline's).

Example::

    .venv/bin/python benchmarks/bench_offline.py --model roi_flow

Timings depend on machine load (this machine is shared); quote ratios from one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2

from me_perception.learning.synthetic import make_clip
from me_perception.perception.pipeline import Pipeline, PipelineConfig
from me_perception.recording.bag_io import BagSource
from me_perception.tools.sample_recording import (
    SAMPLE_DIR,
    sample_config,
    write_recording,
)


def run(bag: Path, model: str, rate: float) -> dict:
    """One offline pass; returns frames, wall seconds and per-stage medians (ms)."""
    pipe = Pipeline(PipelineConfig(model_path=model, num_threads=1, analysis_rate_hz=rate))
    source = BagSource(bag)
    stages: dict[str, list[float]] = {}
    frames = 0
    t0 = time.perf_counter()
    for frame in source.iterate(pipe.wants_image):
        frames += 1
        result = pipe.process(frame.image, frame.stamp_ns, frame.frame_id)
        if result.analysed:
            for key, ms in result.timings_ms.items():
                stages.setdefault(key, []).append(ms)
    wall = time.perf_counter() - t0
    pipe.close()
    medians = {k: statistics.median(v) for k, v in stages.items()}
    return {"frames": frames, "wall": wall, "stages": medians, "analysed": len(stages["total"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="roi_flow", help="roi_flow, network or a model dir")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the 200 fps clip")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        fast = Path(tmp) / "fast200"
        clip = make_clip(sample_config(args.seconds, 200.0), subject_id=0, seed=4)
        write_recording(clip, fast, seed=4)
        load = os.getloadavg()[0]
        print(f"model {args.model}; load average {load:.1f} on {os.cpu_count()} cores")
        for name, bag, fps in (("sample 30 fps", SAMPLE_DIR, 30.0), ("200 fps", fast, 200.0)):
            gated = run(bag, args.model, 60.0)
            every = run(bag, args.model, 0.0)
            for label, r in (("analysis 60 Hz", gated), ("every frame", every)):
                rate = r["frames"] / r["wall"]
                print(
                    f"{name:14s} {label:15s} {r['frames']:5d} frames ({r['analysed']} analysed) "
                    f"in {r['wall']:6.2f} s: {rate:6.1f} frames/s, {rate / fps:4.2f}x real time"
                )
            ratio = every["wall"] / gated["wall"]
            print(f"{name:14s} analysis at 60 Hz is {ratio:.2f}x faster than every frame")
            stages = ", ".join(f"{k} {v:.2f}" for k, v in sorted(gated["stages"].items()))
            print(f"{name:14s} median ms per analysed frame: {stages}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
