"""Evaluate models *through the real pipeline* on a held-out evaluation set.

    me_perception_pipeline_eval EVAL_SET_DIR --model roi_flow --model path/to/model_dir \\
        [--workers 2] [--json out.json] [--markdown out.md]

Why: what a user gets is the node, not the network: JPEG frames -> front end -> tracker ->
alignment -> model step -> event logic. This runs the same
:class:`~me_perception.perception.pipeline.Pipeline` the node and the offline tool run, with
each model as given (the string goes to ``PipelineConfig.model_path`` unchanged, so a model
directory, an .onnx file, "" for the shipped model, or any name the pipeline knows), over every
recording of a set written by ``me_perception_make_eval_set``, and keeps the events the
pipeline itself emits. Nothing is re-thresholded here: the numbers are the node's.

A finished event is an OFFSET (``onset_ns..offset_ns``, its kind is the OFFSET's kind); events
still open when the recording ends are closed by ``Pipeline.finish`` (truncated), as the
offline tool does. Frames the pipeline will not analyse are not decoded
(``Pipeline.wants_image``), as in the offline tool. Per frame, the largest
``spotting_score`` and ``macro_score`` over the valid faces are summarised (for still
recordings: the share of frames on which both stay below :data:`QUIET_THRESHOLD`).

Recordings run on ``workers`` spawned processes, one recording per task, each single-threaded
(BLAS/OpenMP/OpenCV threads 1, ``num_threads=1``); results come back in task order, so the
output does not depend on scheduling. Scoring is in :mod:`me_perception.tools.eval_scoring`.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from me_perception.perception.events import FaceEvent, Phase
from me_perception.perception.pipeline import Pipeline, PipelineConfig
from me_perception.perception.stamps import nearest_index
from me_perception.perception.stream_clock import StampKind
from me_perception.recording.bag_io import BagSource
from me_perception.tools.eval_scoring import aggregate, score_recording
from me_perception.tools.eval_set import read_manifest

__all__ = [
    "QUIET_THRESHOLD",
    "THREAD_ENV",
    "EvalTask",
    "EventLog",
    "evaluate_set",
    "json_safe",
    "run_recording",
    "run_tasks",
]

#: a still face is "quiet" on a frame when spotting and macro scores are both below this
QUIET_THRESHOLD = 0.2
#: environment that keeps numerical libraries of a worker on one thread
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


@dataclass(frozen=True)
class EvalTask:
    """One model on one recording (``row``: the recording's manifest entry, with ``bag``)."""

    model: str
    row: dict
    backend: str = "auto"


def _event_dict(face_id: str, ev: FaceEvent, stamps: np.ndarray, truncated: bool) -> dict:
    onset, offset = nearest_index(stamps, ev.onset_ns), nearest_index(stamps, ev.offset_ns)
    return {
        "face_id": face_id,
        "kind": ev.kind.value,
        "onset": onset,
        "offset": max(offset, onset),
        "onset_ns": ev.onset_ns,
        "apex_ns": ev.apex_ns,
        "offset_ns": ev.offset_ns,
        "label": ev.label,
        "confidence": ev.confidence,
        "truncated": truncated,
    }


class EventLog:
    """Finished events (OFFSETs) from the pipeline's ONSET/APEX/OFFSET stream."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, FaceEvent, bool]] = []

    def add(self, face_id: str, ev: FaceEvent) -> None:
        if ev.phase == Phase.OFFSET:
            self.finished.append((face_id, ev, ev.truncated))


def _score_summary(spot: list[float], macro: list[float], frames: int) -> dict:
    s, m = np.asarray(spot, float), np.asarray(macro, float)
    n = int(s.size)
    quiet = (s < QUIET_THRESHOLD) & (m < QUIET_THRESHOLD)
    return {
        "frames": frames,
        "face_frames": n,
        "quiet_frames": int(quiet.sum()),
        "spot_quiet_frames": int((s < QUIET_THRESHOLD).sum()),
        "macro_quiet_frames": int((m < QUIET_THRESHOLD).sum()),
        "spot_max": float(s.max()) if n else None,
        "spot_p95": float(np.percentile(s, 95)) if n else None,
        "macro_max": float(m.max()) if n else None,
        "macro_p95": float(np.percentile(m, 95)) if n else None,
    }


def run_recording(model: str, bag: str | Path, backend: str = "auto") -> dict:
    """One pipeline pass over a bag: the events it emits and its score summary."""
    t0 = time.perf_counter()
    pipe = Pipeline(PipelineConfig(model_path=model, backend=backend, num_threads=1))
    stamps: list[int] = []
    spot: list[float] = []
    macro: list[float] = []
    log = EventLog()
    try:
        for frame in BagSource(bag).iterate(pipe.wants_image):
            stamps.append(frame.stamp_ns)
            result = pipe.process(frame.image, frame.stamp_ns, frame.frame_id)
            for rec in result.events:
                log.add(rec.face_id, rec.event)
            valid = [f for f in result.faces if f.valid]
            if result.stamp_kind is not StampKind.DUPLICATE and valid:
                spot.append(max(f.spotting_score for f in valid))
                macro.append(max(f.macro_score for f in valid))
        for rec in pipe.finish():
            log.add(rec.face_id, rec.event)
        model_id = pipe.model_id
    finally:
        pipe.close()
    ns = np.asarray(stamps, np.int64)
    order = sorted(log.finished, key=lambda x: (x[1].onset_ns, x[0]))
    return {
        "model_id": model_id,
        "events": [_event_dict(fid, ev, ns, trunc) for fid, ev, trunc in order],
        "scores": _score_summary(spot, macro, len(stamps)),
        "wall_s": time.perf_counter() - t0,
    }


def _init_worker() -> None:
    """Single-threaded worker: numerical libraries and OpenCV on one thread."""
    os.environ.update(THREAD_ENV)
    import cv2

    cv2.setNumThreads(1)


def _run_task(task: EvalTask) -> dict:
    return {
        "model": task.model,
        **task.row,
        **run_recording(task.model, task.row["bag"], task.backend),
    }


@contextmanager
def _thread_env() -> Iterator[None]:
    """Spawned workers inherit the environment at start, before they import numpy."""
    saved = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ.update(THREAD_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_tasks(
    tasks: Sequence[EvalTask], workers: int = 2, on_done: Callable[[dict], None] | None = None
) -> list[dict]:
    """Run every task; results in task order. ``workers`` <= 0 runs in this process."""
    out: list[dict] = []
    if workers <= 0 or not tasks:
        for t in tasks:
            out.append(_run_task(t))
            if on_done:
                on_done(out[-1])
        return out
    ctx = mp.get_context("spawn")
    with _thread_env(), ctx.Pool(min(workers, len(tasks)), initializer=_init_worker) as pool:
        for res in pool.imap(_run_task, tasks, chunksize=1):
            out.append(res)
            if on_done:
                on_done(res)
    return out


def evaluate_set(
    eval_dir: str | Path,
    models: Sequence[str],
    workers: int = 2,
    backend: str = "auto",
    on_done: Callable[[dict], None] | None = None,
) -> dict:
    """Every model on every recording of the set: per-recording rows and group summaries."""
    recordings = read_manifest(eval_dir)
    tasks = [EvalTask(m, r, backend) for m in models for r in recordings]
    rows = run_tasks(tasks, workers, on_done)
    for row in rows:
        truth = json.loads((Path(row["bag"]) / "ground_truth.json").read_text())
        row["ground_truth_events"] = len(truth["events"])
        row["counts"] = score_recording(row["events"], truth, row["still"], row["scores"])
    return {
        "eval_set": str(Path(eval_dir).resolve()),
        "models": list(models),
        "quiet_threshold": QUIET_THRESHOLD,
        "iou_threshold": 0.5,
        "summary": aggregate(rows),
        "recordings": rows,
    }


def json_safe(obj: object) -> object:
    """NaN and infinities as null (strict JSON), recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj
