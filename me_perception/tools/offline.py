"""Offline processing of a recording with the same pipeline as the live node.

    me_perception_offline RECORDING [--topic T] [--fps F] [--out DIR] [--ground-truth GT.json]

A recording is a rosbag2, a video file or a folder of frames
(:func:`me_perception.recording.recordings.open_recording`): one loop serves all three.
Writes into the output directory (created whole at the end: an interrupted or failed run
leaves no half-written output, only a message saying what happened):
  results/        a rosbag2 (a bag's own storage, else mcap) with <ns>/state and <ns>/events
  events.csv      one row per spotted expression (onset/apex/offset, label, intensity, ...)
  events.json     the same plus a summary and, with ground truth, the spotting evaluation
  frames.csv      per frame and face: spotting / macro scores, phase, label
  timeline.png    spotting score per face over time, spotted intervals, ground truth
  events/         one picture per event (onset, apex, offset and the motion between them)
  report.html     all of the above on one page
Frames are processed in recording order, one at a time, exactly as the live node would process
them if it kept up, so the results are deterministic and equal to the live node's. The output
files are made by :mod:`me_perception.tools.offline_outputs`, the pictures by
:mod:`me_perception.tools.evidence` and the page by :mod:`me_perception.tools.report_html`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from me_perception.perception.pipeline import ModelNotFoundError, Pipeline, PipelineConfig
from me_perception.perception.stamps import ns_to_s
from me_perception.recording.bag_io import ResultBagWriter, StoragePlugin, storage_of
from me_perception.recording.errors import RecordingError
from me_perception.recording.recordings import open_recording
from me_perception.recording.sources import FrameSource
from me_perception.ros.messages import array_fields, event_fields
from me_perception.tools.evidence import write_event_pictures
from me_perception.tools.offline_outputs import (
    OfflineReport,
    Recording,
    evaluate,
    event_rows,
    write_outputs,
)
from me_perception.tools.report_html import recording_report

OUTPUT_MARKER = ".me_perception_output"
"""File written into every output folder: only a folder holding it may be replaced (and a
batch skips a recording whose output folder holds it: the folder appears whole, at the end)."""


def check_output_dir(source: Path, out: Path, overwrite: bool) -> None:
    """Refuse an output folder whose use could delete or alter the user's input.

    The output may not be the input, contain it, or lie inside it; an existing output folder is
    replaced only with ``overwrite`` and only if it is a previous output of this tool (it holds
    :data:`OUTPUT_MARKER`), never an arbitrary folder such as the recording's parent.
    """
    src, dst = source.resolve(), out.resolve()
    if dst == src or dst in src.parents:
        raise RecordingError(
            f"output {out} is or contains the input {source}: choose another --out"
        )
    if src in dst.parents:
        raise RecordingError(f"output {out} lies inside the input {source}: choose another --out")
    if not out.exists() and not out.is_symlink():
        return
    if not overwrite:
        raise RecordingError(f"output directory {out} exists (use --overwrite to replace it)")
    if out.is_symlink() or not out.is_dir() or not (out / OUTPUT_MARKER).is_file():
        raise RecordingError(
            f"output {out} exists and is not a previous me_perception_offline output "
            f"(no {OUTPUT_MARKER} in it): refusing to replace it"
        )


def default_output(recording: str | Path) -> Path:
    """``<recording>_me_perception`` beside the recording."""
    return Path(str(Path(recording).resolve()) + "_me_perception")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_ground_truth(path: Path) -> dict[str, Any]:
    """Ground truth JSON as written by the sample-recording tool (see docs/offline.md)."""
    try:
        data = json.loads(path.read_text())
        events = data["events"]
        for e in events:
            int(e["onset"]), int(e["offset"]), str(e["kind"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RecordingError(f"ground truth {path} is not usable: {exc}") from None
    return data


def _ground_truth(recording: Path, given: str | Path | None) -> dict[str, Any] | None:
    """``given``, else ``ground_truth.json`` inside a bag or frame folder, else none."""
    if given:
        if not Path(given).is_file():
            raise RecordingError(f"ground truth file not found: {given}")
        return load_ground_truth(Path(given))
    inside = recording / "ground_truth.json"
    return load_ground_truth(inside) if recording.is_dir() and inside.is_file() else None


def _load_pipeline(config: PipelineConfig) -> Pipeline:
    try:
        return Pipeline(config)
    except (ModelNotFoundError, ValueError, RuntimeError) as exc:
        raise RecordingError(f"cannot load the model: {exc}") from None


def process_recording(
    recording: str | Path,
    out_dir: str | Path,
    *,
    topic: str | None = None,
    fps: float | None = None,
    config: PipelineConfig | None = None,
    ground_truth: str | Path | None = None,
    namespace: str = "/me_perception",
    progress: bool = True,
    overwrite: bool = False,
    pictures: bool = True,
) -> OfflineReport:
    """Process one recording (bag, video file or frame folder); see the module docstring for
    the outputs. Raises RecordingError, having written nothing."""
    path = Path(recording)
    out = Path(out_dir)
    check_output_dir(path, out, overwrite)
    source = open_recording(path, topic=topic, fps=fps)
    gt = _ground_truth(path, ground_truth)
    pipeline = _load_pipeline(config or PipelineConfig())
    report = OfflineReport(
        recording=str(path),
        kind=source.kind,
        topic=source.stream,
        backend=pipeline.describe_backend(),
        model_id=pipeline.model_id,
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        pipeline.close()
        raise RecordingError(f"cannot write the output {out}: {exc.strerror or exc}") from None
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; outputs get normal permissions
    try:
        storage = storage_of(path) if source.kind == "bag" else StoragePlugin.MCAP
        recording_data = _process_frames(
            pipeline, source, staging, report, namespace, progress, storage
        )
        _write_results(staging, report, recording_data, pipeline, gt, path.name)
        fps = pipeline.fps
        _write_report(staging, report, source, recording_data, fps if pictures else 0.0)
        (staging / OUTPUT_MARKER).write_text(f"written by me_perception_offline from {path}\n")
        if out.exists():
            check_output_dir(path, out, overwrite)  # re-checked: the folder may have changed
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        pipeline.close()
    report.outputs = {k: str(out / Path(v).name) for k, v in report.outputs.items()}
    return report


process_bag = process_recording
"""The name of the bag-only version, kept for its callers."""


def _process_frames(
    pipeline: Pipeline,
    source: FrameSource,
    staging: Path,
    report: OfflineReport,
    namespace: str,
    progress: bool,
    storage: StoragePlugin,
) -> Recording:
    """Run every frame of the source through the pipeline, writing the result bag as it goes;
    frames that cannot be decoded are counted by reason in ``report.dropped``."""
    from tqdm import tqdm

    recording = Recording()
    writer = ResultBagWriter(staging / "results", storage, namespace)
    t_start = time.perf_counter()
    frames = tqdm(
        source.iterate(pipeline.wants_image),
        total=len(source),
        unit="frame",
        disable=not progress,
        desc=f"processing {source.path.name}",
        file=sys.stderr,
    )
    try:
        for frame in frames:
            report.frames += 1
            recording.stamps.append(frame.stamp_ns)
            if frame.image is None and not frame.skipped:
                reason = frame.error.reason if frame.error else "unreadable"
                key = f"decode_{reason}"
                report.dropped[key] = report.dropped.get(key, 0) + 1
                continue
            result = pipeline.process(frame.image, frame.stamp_ns, frame.frame_id)
            report.processed += 1
            writer.write_state(frame.log_time_ns, array_fields(result))
            for record in result.events:
                writer.write_event(frame.log_time_ns, event_fields(result, record))
            recording.add(frame.index, result)
            last_log_ns = frame.log_time_ns
        # The recording ends: expressions still open end at their last frame (truncated).
        if report.processed and (closed := pipeline.finish()):
            for record in closed:
                writer.write_event(last_log_ns, event_fields(result, record))
            recording.event_records.extend(closed)
    finally:
        frames.close()
        writer.close()
    report.wall_s = time.perf_counter() - t_start
    if report.processed == 0:
        raise RecordingError(
            f"none of the {report.frames} frames of {source.path} could be decoded "
            f"({', '.join(sorted(report.dropped))})"
        )
    report.notes = list(source.notes) + recording.notes
    return recording


def _write_results(
    staging: Path,
    report: OfflineReport,
    recording: Recording,
    pipeline: Pipeline,
    gt: dict[str, Any] | None,
    name: str,
) -> None:
    """Events, evaluation and the output files from what the run recorded."""
    stamps = np.asarray(recording.stamps, dtype=np.int64)
    report.recording_s = (
        ns_to_s(stamps[-1] - stamps[0]) + 1.0 / pipeline.fps if stamps.size else 0.0
    )
    report.events = event_rows(recording.event_records, stamps)
    truth = evaluate(report, gt, name, pipeline.fps) if gt is not None else []
    title = f"{name}: {report.topic} ({report.model_id})"
    on_threshold = pipeline.events_config.on_threshold
    write_outputs(staging, report, recording, truth, on_threshold, title)


def _write_report(
    staging: Path,
    report: OfflineReport,
    source: FrameSource,
    recording: Recording,
    fps: float,
) -> None:
    """The event pictures (a second, selective pass over the recording; none when ``fps`` is
    0) and report.html."""
    drawn: dict[int, str] = {}
    if fps > 0 and report.events:
        drawn = write_event_pictures(
            staging / "events", source, report.events, recording.frame_rows, recording.size, fps
        )
    names = {
        number: {
            phase: source.frame_name(int(e[f"{phase}_frame"]))
            for phase in ("onset", "apex", "offset")
            if int(e[f"{phase}_frame"]) >= 0
        }
        for number, e in enumerate(report.events, start=1)
    }
    summary = json.loads((staging / "events.json").read_text())
    (staging / "report.html").write_text(recording_report(summary, drawn, names))
    report.outputs["report_html"] = str(staging / "report.html")
    if drawn:
        report.outputs["pictures"] = str(staging / "events")
