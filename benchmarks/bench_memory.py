"""Memory over a long run of the pipeline (the node's code path, without the middleware).

    .venv/bin/python benchmarks/bench_memory.py [--frames 100000] [--model DIR]

Feeds the shipped sample recording's frames in a loop with ever-increasing stamps (30 fps),
with the face leaving the picture for one second every 2000 frames (tracks are lost and new ids
appear, buffers and event detectors are created and dropped), and prints the resident set size
every 10 % of the run. Flat means: the growth over the second half is within noise (a few MB
of allocator slack), independent of the number of frames.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from me_perception.perception.image_decoding import DecodedImage
from me_perception.perception.pipeline import Pipeline, PipelineConfig
from me_perception.recording.bag_io import ImageStream
from me_perception.tools.sample_recording import SAMPLE_DIR


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=100_000)
    p.add_argument("--model", default="")
    args = p.parse_args()
    model = args.model  # "" = the shipped default model
    frames = [f.decode() for f in ImageStream(SAMPLE_DIR)]
    blank = DecodedImage("bgr8", bgr=np.full_like(frames[0].bgr, 90))
    pipe = Pipeline(PipelineConfig(model_path=model, backend="onnxruntime", num_threads=1))
    stamp = 1_700_000_000 * 10**9
    checkpoints = {max(1, args.frames * k // 10) for k in range(1, 11)}
    samples: list[tuple[int, float]] = [(0, rss_mb())]
    t0 = time.perf_counter()
    for i in range(1, args.frames + 1):
        image = blank if (i % 2000) < 30 else frames[i % len(frames)]
        pipe.process(image, stamp, "camera")
        stamp += 33_333_333
        if i in checkpoints:
            samples.append((i, rss_mb()))
            print(
                f"frame {i:7d}: RSS {samples[-1][1]:7.1f} MB, faces tracked {pipe.tracked_faces},"
                f" {i / (time.perf_counter() - t0):.0f} frames/s",
                flush=True,
            )
    half = [s for s in samples if s[0] >= args.frames // 2]
    growth = half[-1][1] - half[0][1]
    print(
        f"RSS after warm-up (10 %): {samples[1][1]:.1f} MB, at the end: {samples[-1][1]:.1f} MB; "
        f"growth over the second half ({args.frames - half[0][0]} frames): {growth:+.1f} MB"
    )
    pipe.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
