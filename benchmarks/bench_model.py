#!/usr/bin/env python3
"""Benchmark the model step per backend and streaming vs recomputing the window.

Measures, in one run on the same untrained (seeded) model:

1. step latency (mean / p50 / p99) and throughput (face-steps/s) per backend at batch 1 and 5,
   including the feature-buffer gather/scatter the node does around each step;
2. the streaming step (one new frame, history from the buffer) against recomputing the whole
   window each frame (``MicroExpressionNet.window`` over 0.5 s of frames) at 30 and 200 fps,
   both in PyTorch so the ratio compares algorithms, not runtimes (the streaming side includes
   the buffer gather/scatter). Ratios use medians, which are robust to other processes.

Example::

    .venv/bin/python benchmarks/bench_model.py --threads 2 --torch-threads 1 --seconds 2

Timings depend on machine load; quote ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from me_perception.backends import BackendError, InferenceBackend, create_backend
from me_perception.backends.onnxruntime_backend import OnnxRuntimeBackend
from me_perception.model.export import build_untrained_export
from me_perception.model.step_io import StepOutputs
from me_perception.perception.feature_buffer import BufferConfig, FeatureBufferBank


def _time_calls(fn: Callable[[], object], seconds: float, min_calls: int = 20) -> list[float]:
    """Call ``fn`` repeatedly for about ``seconds``; return per-call wall times (s)."""
    for _ in range(5):  # warm-up
        fn()
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < min_calls:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _stats(times: list[float], faces: int) -> dict[str, float]:
    arr = np.asarray(times)
    mean = float(arr.mean())
    return {
        "calls": len(times),
        "mean_ms": mean * 1e3,
        "p50_ms": float(np.percentile(arr, 50)) * 1e3,
        "p99_ms": float(np.percentile(arr, 99)) * 1e3,
        "faces_per_s": faces / mean,
    }


def bench_backend(backend: InferenceBackend, batch: int, seconds: float) -> dict[str, float]:
    cfg = backend.config
    bank = FeatureBufferBank(BufferConfig.from_model(cfg, fps=30.0))
    ids = [f"face{i}" for i in range(batch)]
    crops = np.random.default_rng(0).random((batch, *cfg.crop_shape), dtype=np.float32)

    def one_frame() -> None:
        out = backend.step(bank.gather(ids, crops))
        bank.scatter(ids, out)

    return _stats(_time_calls(one_frame, seconds), batch)


def _stream_vs_window_at(model: object, fps: float, seconds: float) -> dict[str, float]:
    import torch

    cfg = model.cfg  # type: ignore[attr-defined]
    bcfg = BufferConfig.from_model(cfg, fps=fps)
    window = bcfg.n_frames  # n_seconds = 0.5 s of frames
    clip = torch.rand(1, window, *cfg.crop_shape)
    bank = FeatureBufferBank(bcfg)
    crop = clip[0, -1:].numpy()

    def stream_one() -> None:
        # what the node does per frame: gather from the buffer, one step, scatter back
        inputs = bank.gather(["face"], crop)
        outs = model(*(torch.from_numpy(a) for a in inputs.as_dict().values()))  # type: ignore[operator]
        bank.scatter(["face"], StepOutputs(*(o.numpy() for o in outs)))

    def window_one() -> None:
        model.window(clip, bcfg.k_frames, bcfg.alpha)  # type: ignore[attr-defined]

    # Interleave the two so both see the same background load on a shared machine.
    step_t: list[float] = []
    win_t: list[float] = []
    with torch.inference_mode():
        for _ in range(3):
            stream_one()
            window_one()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end or len(win_t) < 5:
            t0 = time.perf_counter()
            stream_one()
            t1 = time.perf_counter()
            window_one()
            t2 = time.perf_counter()
            step_t.append(t1 - t0)
            win_t.append(t2 - t1)
    # medians: robust to other processes on a shared machine
    s, w = statistics.median(step_t), statistics.median(win_t)
    return {
        "fps": fps,
        "window_frames": window,
        "stream_step_ms": s * 1e3,
        "window_recompute_ms": w * 1e3,
        "speedup": w / s,
    }


def bench_stream_vs_window(
    checkpoint: Path, threads: int, seconds: float
) -> list[dict[str, float]]:
    import torch

    from me_perception.model.checkpoint import load_checkpoint

    torch.set_num_threads(threads)
    model, _ = load_checkpoint(checkpoint)
    return [_stream_vs_window_at(model, fps, seconds) for fps in (30.0, 200.0)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="CPU threads per backend")
    ap.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch threads (torch backend and stream/window)",
    )
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    ap.add_argument(
        "--backends",
        default="tensorrt,onnxruntime-cuda,onnxruntime-cpu,onnxruntime-cpu-static,torch",
        help="comma-separated; unavailable ones are reported and skipped",
    )
    ap.add_argument("--batches", default="1,5")
    ap.add_argument("--json", type=Path, help="also write results here")
    args = ap.parse_args(argv)

    import onnxruntime
    import torch

    results: dict[str, object] = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "threads": args.threads,
        "torch_threads": args.torch_threads,
        "step": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        exported = build_untrained_export(tmp, seed=0)
        print(f"model: {exported.metadata.config}")
        load = os.getloadavg()[0]
        print(
            f"threads={args.threads} torch_threads={args.torch_threads} "
            f"seconds/measurement={args.seconds}"
        )
        print(f"cpus={os.cpu_count()} load average (1 min) at start={load:.2f}\n")
        results["loadavg_start"] = load
        print(
            f"{'backend':<24}{'batch':>6}{'mean ms':>10}{'p50 ms':>9}{'p99 ms':>9}{'faces/s':>10}"
        )
        for name in args.backends.split(","):
            try:
                if name == "onnxruntime-cpu-static":
                    be: InferenceBackend = OnnxRuntimeBackend(
                        exported.onnx_path,
                        device="cpu",
                        intra_op_threads=args.threads,
                        relax_batch=False,
                    )
                else:
                    be = create_backend(
                        name,
                        onnx_path=exported.onnx_path,
                        checkpoint=exported.checkpoint_path,
                        intra_op_threads=args.threads,
                        torch_threads=args.torch_threads,
                        engine_cache_dir=Path(tmp) / "engines",
                    )
            except (BackendError, ImportError) as exc:
                print(f"{name:<24} unavailable: {exc}")
                continue
            with be:
                for batch in (int(b) for b in args.batches.split(",")):
                    st = bench_backend(be, batch, args.seconds)
                    st.update(backend=name, batch=batch, device=be.device)  # type: ignore[arg-type]
                    results["step"].append(st)  # type: ignore[attr-defined]
                    print(
                        f"{name:<24}{batch:>6}{st['mean_ms']:>10.3f}{st['p50_ms']:>9.3f}"
                        f"{st['p99_ms']:>9.3f}{st['faces_per_s']:>10.0f}"
                    )
        print("\nstreaming step vs recomputing a 0.5 s window every frame (PyTorch, batch 1):")
        sw = bench_stream_vs_window(exported.checkpoint_path, args.torch_threads, args.seconds)
        results["stream_vs_window"] = sw
        for r in sw:
            print(
                f"  {r['fps']:>5.0f} fps, window {r['window_frames']:>3} frames: "
                f"step {r['stream_step_ms']:.3f} ms, window {r['window_recompute_ms']:.3f} ms, "
                f"speed-up x{r['speedup']:.1f}"
            )
    results["loadavg_end"] = os.getloadavg()[0]
    print(f"load average (1 min) at end={results['loadavg_end']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
