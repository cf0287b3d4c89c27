"""Many recordings at once: each through the offline tool, in parallel, resumable.

    me_perception_batch RECORDINGS... --out RESULTS [--workers N] [--dask local|tcp://HOST:8786]

Every input is a recording or a folder searched for recordings (bags, video files, folders of
frames: :func:`me_perception.recording.recordings.find_recordings`). Each recording gets its
own output folder ``RESULTS/<name>`` written exactly as ``me_perception_offline`` writes one,
whole at the end with its completion marker, so:

* **resumable**: a recording whose folder holds the marker is skipped (an interrupted batch
  started again redoes only what had not finished; ``--overwrite`` redoes everything);
* **failures stay local**: a recording that cannot be read is reported with its one-line
  reason and the others go on; the command exits 1 if any failed;
* **parallel, memory bounded**: local worker processes (``concurrent.futures``
  ``ProcessPoolExecutor``, spawned, one recording each at a time, one inference thread each);
  their number is ``--workers`` (default: the CPU count), never more than the recordings nor
  than the available memory allows at :data:`WORKER_MEMORY` per worker. A worker streams its
  recording frame by frame, so its memory does not grow with the recording's length beyond the
  per-frame table;
* **beyond one machine**: ``--dask ADDRESS`` submits the same function for each recording to a
  Dask distributed scheduler (``--dask local`` starts a ``LocalCluster`` here), whose workers
  need this package installed and the paths visible (a shared file system).

At the end ``RESULTS/summary.csv`` and ``RESULTS/index.html`` hold one table across all
recordings (:mod:`me_perception.tools.batch_summary`).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from me_perception.perception.pipeline import PipelineConfig
from me_perception.recording.errors import RecordingError
from me_perception.recording.recordings import find_recordings
from me_perception.tools.offline import OUTPUT_MARKER, process_recording

BATCH_MARKER = ".me_perception_batch"
"""File in a batch's output root: only such a folder (or an empty one) is written into."""

WORKER_MEMORY = 1.5 * 2**30
"""Memory planned per local worker (model, decoded frames, per-frame tables of a long video)."""


@dataclass(frozen=True)
class Job:
    """One recording to process and where its outputs go (sent to a worker: plain data)."""

    name: str
    recording: str
    out: str
    config: PipelineConfig
    fps: float | None = None
    topic: str | None = None
    pictures: bool = True
    overwrite: bool = False


@dataclass(frozen=True)
class Outcome:
    """What became of one job."""

    name: str
    status: str  # done | skipped | failed
    error: str = ""
    frames: int = 0
    wall_s: float = 0.0


def is_finished(out: str | Path) -> bool:
    """A recording's output folder is complete (it appears whole, marker included)."""
    return (Path(out) / OUTPUT_MARKER).is_file()


def run_job(job: Job) -> Outcome:
    """Process one recording (in a worker process, or a Dask worker); never raises for a bad
    recording: the reason is returned, so the batch goes on."""
    if is_finished(job.out) and not job.overwrite:
        return Outcome(job.name, "skipped")
    import cv2

    cv2.setNumThreads(1)  # one core per worker: parallelism comes from the workers
    start = time.perf_counter()
    try:
        report = process_recording(
            job.recording,
            job.out,
            topic=job.topic,
            fps=job.fps,
            config=job.config,
            progress=False,
            overwrite=job.overwrite,
            pictures=job.pictures,
        )
    except RecordingError as exc:
        return Outcome(job.name, "failed", str(exc))
    except Exception as exc:  # an unexpected fault in one recording must not stop the rest
        return Outcome(job.name, "failed", f"{type(exc).__name__}: {exc}")
    return Outcome(job.name, "done", frames=report.frames, wall_s=time.perf_counter() - start)


# -- planning ---------------------------------------------------------------------------------
def check_output_root(root: Path, inputs: Sequence[Path]) -> None:
    """The results folder must not overlap an input, and may only be empty or a batch's own."""
    dst = root.resolve()
    for given in inputs:
        src = given.resolve()
        if dst == src or dst in src.parents or src in dst.parents:
            raise RecordingError(f"output {root} overlaps the input {given}: choose another --out")
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        raise RecordingError(f"output {root} exists and is not a folder")
    if root.is_dir() and any(root.iterdir()) and not (root / BATCH_MARKER).is_file():
        raise RecordingError(
            f"output {root} exists, is not empty and is not a me_perception_batch output "
            f"(no {BATCH_MARKER} in it): choose another --out"
        )


def _names(recordings: Iterable[tuple[Path, Path]]) -> list[tuple[str, Path]]:
    """A unique, readable output name per recording: its path below its input, '__'-joined."""
    named, used = [], set()
    for root, path in recordings:
        rel = path.relative_to(root) if path != root else Path(path.name)
        base = "__".join(rel.parts) or path.name
        name, n = base, 2
        while name in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name)
        named.append((name, path))
    return named


def plan_jobs(
    inputs: Sequence[str | Path],
    out_root: str | Path,
    config: PipelineConfig,
    **options: object,
) -> list[Job]:
    """Find the recordings of ``inputs`` and give each an output folder in ``out_root``."""
    root = Path(out_root)
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.exists():
            raise RecordingError(f"input not found: {p}")
    check_output_root(root, paths)

    def skip(folder: Path) -> bool:  # earlier outputs found while searching an input
        return (folder / OUTPUT_MARKER).is_file() or (folder / BATCH_MARKER).is_file()

    found = [(p, r) for p in paths for r in find_recordings(p, skip)]
    if not found:
        listed = ", ".join(str(p) for p in paths)
        raise RecordingError(f"no recordings (bags, videos, frame folders) found in {listed}")
    return [
        Job(name, str(path), str(root / name), config, **options)  # type: ignore[arg-type]
        for name, path in _names(found)
    ]


def worker_count(requested: int | None, jobs: int) -> int:
    """Workers to start: requested (default: CPUs), at most one per job and what memory allows."""
    wanted = requested or os.cpu_count() or 1
    return max(1, min(wanted, jobs, _memory_cap()))


def _memory_cap() -> int:
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: line.split()[1] for line in f}
        return max(1, int(int(info["MemAvailable"]) * 1024 // WORKER_MEMORY))
    except (OSError, KeyError, ValueError):
        return 1 << 16


# -- running ----------------------------------------------------------------------------------
def _worker_init() -> None:
    # A worker told to stop unwinds (its staging folder is removed) instead of dying mid-write.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""Math libraries in a worker use one thread: the workers are the parallelism (without this,
each worker's BLAS would start a thread per core and the workers would fight for them)."""


def run_local(
    jobs: Sequence[Job], workers: int, on_done: Callable[[Outcome], None]
) -> list[Outcome]:
    """The jobs on ``workers`` local processes; ``on_done`` sees each outcome as it comes."""
    saved = {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}
    os.environ.update({k: os.environ.get(k) or v for k, v in SINGLE_THREAD_ENV.items()})
    try:
        return _run_pool(jobs, workers, on_done)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run_pool(
    jobs: Sequence[Job], workers: int, on_done: Callable[[Outcome], None]
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    todo = list(jobs)
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init)

    pool = new_pool()
    running: dict[Future[Outcome], Job] = {}
    try:
        while todo or running:
            while todo and len(running) < 2 * workers:  # a bounded queue, not every job at once
                job = todo.pop(0)
                running[pool.submit(run_job, job)] = job
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                job = running.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool as exc:  # a worker process died (memory, a signal)
                    outcome, broken = Outcome(job.name, "failed", f"worker died: {exc}"), True
                outcomes.append(outcome)
                on_done(outcome)
            if broken:  # the jobs still queued go to a fresh pool
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    except BaseException:
        for child in multiprocessing.active_children():
            child.terminate()  # our own workers: each removes its staging folder and exits
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return outcomes


def run_dask(
    jobs: Sequence[Job], address: str, workers: int, on_done: Callable[[Outcome], None]
) -> list[Outcome]:
    """The jobs on a Dask distributed cluster (``address``, or ``local``: a LocalCluster of
    ``workers`` single-threaded processes with a memory limit each)."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise RecordingError(
            'Dask distributed is not installed: pip install "dask[distributed]" '
            "(or me_perception[distributed])"
        ) from None
    cluster = None
    if address == "local":
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=int(WORKER_MEMORY),
            dashboard_address=None,
        )
    try:
        client = Client(cluster if cluster is not None else address, timeout="30s")
    except OSError as exc:
        raise RecordingError(f"cannot reach the Dask scheduler {address}: {exc}") from None
    outcomes = []
    try:
        futures = [client.submit(run_job, job, pure=False) for job in jobs]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes.append(outcome)
            on_done(outcome)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return outcomes


def prepare_root(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / BATCH_MARKER).write_text("results of me_perception_batch\n")
