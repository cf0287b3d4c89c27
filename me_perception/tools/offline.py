"""Offline processing of a rosbag2 recording with the same pipeline as the live node.

    me_perception_offline BAG [--topic /camera/image_raw] [--out DIR] [--ground-truth GT.json]

Writes into the output directory (created whole at the end: an interrupted or failed run
leaves no half-written output, only a message saying what happened):
  results/        a rosbag2 (same storage as the input) with <ns>/state and <ns>/events
  events.csv      one row per spotted expression (onset/apex/offset, label, intensity, ...)
  events.json     the same plus a summary and, with ground truth, the spotting evaluation
  frames.csv      per frame and face: spotting / macro scores, phase, label
  timeline.png    spotting score per face over time, spotted intervals, ground truth
Frames are processed in bag order, one at a time, exactly as the live node would process them
if it kept up, so the results are deterministic and equal to the live node's. The output files
are made by :mod:`me_perception.tools.offline_outputs`.
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

from me_perception.perception.image_decoding import DecodeConfig, ImageDecodeError
from me_perception.perception.pipeline import ModelNotFoundError, Pipeline, PipelineConfig
from me_perception.perception.stamps import ns_to_s
from me_perception.recording.bag_io import BagError, ImageStream, ResultBagWriter, storage_of
from me_perception.ros.messages import array_fields, event_fields
from me_perception.tools.offline_outputs import (
    OfflineReport,
    Recording,
    evaluate,
    event_rows,
    write_outputs,
)

OUTPUT_MARKER = ".me_perception_output"
"""File written into every output folder: only a folder holding it may be replaced."""


def check_output_dir(source: Path, out: Path, overwrite: bool) -> None:
    """Refuse an output folder whose use could delete or alter the user's input.

    The output may not be the input, contain it, or lie inside it; an existing output folder is
    replaced only with ``overwrite`` and only if it is a previous output of this tool (it holds
    :data:`OUTPUT_MARKER`), never an arbitrary folder such as the recording's parent.
    """
    src, dst = source.resolve(), out.resolve()
    if dst == src or dst in src.parents:
        raise BagError(f"output {out} is or contains the input {source}: choose another --out")
    if src in dst.parents:
        raise BagError(f"output {out} lies inside the input {source}: choose another --out")
    if not out.exists() and not out.is_symlink():
        return
    if not overwrite:
        raise BagError(f"output directory {out} exists (use --overwrite to replace it)")
    if out.is_symlink() or not out.is_dir() or not (out / OUTPUT_MARKER).is_file():
        raise BagError(
            f"output {out} exists and is not a previous me_perception_offline output "
            f"(no {OUTPUT_MARKER} in it): refusing to replace it"
        )


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
        raise BagError(f"ground truth {path} is not usable: {exc}") from None
    return data


def process_bag(
    bag: str | Path,
    out_dir: str | Path,
    *,
    topic: str | None = None,
    config: PipelineConfig | None = None,
    ground_truth: str | Path | None = None,
    namespace: str = "/me_perception",
    progress: bool = True,
    overwrite: bool = False,
) -> OfflineReport:
    """Process one bag; see the module docstring for the outputs. Raises BagError."""
    bag = Path(bag)
    out = Path(out_dir)
    check_output_dir(bag, out, overwrite)
    stream = ImageStream(bag, topic)
    gt_path = Path(ground_truth) if ground_truth else bag / "ground_truth.json"
    gt = load_ground_truth(gt_path) if gt_path.is_file() else None
    if ground_truth and gt is None:
        raise BagError(f"ground truth file not found: {ground_truth}")
    cfg = config or PipelineConfig()
    try:
        pipeline = Pipeline(cfg)
    except (ModelNotFoundError, ValueError, RuntimeError) as exc:
        raise BagError(f"cannot load the model: {exc}") from None
    report = OfflineReport(
        bag=str(bag),
        topic=stream.topic,
        backend=pipeline.backend.describe(),
        model_id=pipeline.model_id,
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        pipeline.close()
        raise BagError(f"cannot write the output {out}: {exc.strerror or exc}") from None
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; outputs get normal permissions
    try:
        recording = _process_frames(pipeline, stream, staging, report, namespace, progress)
        _write_results(staging, report, recording, pipeline, gt, bag.name)
        (staging / OUTPUT_MARKER).write_text(f"written by me_perception_offline from {bag}\n")
        if out.exists():
            check_output_dir(bag, out, overwrite)  # re-checked: the folder may have changed
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        pipeline.close()
    report.outputs = {k: str(out / Path(v).name) for k, v in report.outputs.items()}
    return report


def _process_frames(
    pipeline: Pipeline,
    stream: ImageStream,
    staging: Path,
    report: OfflineReport,
    namespace: str,
    progress: bool,
) -> Recording:
    """Run every frame of the stream through the pipeline, writing the result bag as it goes;
    decode failures are counted by reason in ``report.dropped``."""
    from tqdm import tqdm

    decode_config = DecodeConfig()
    recording = Recording()
    writer = ResultBagWriter(staging / "results", storage_of(stream.path), namespace)
    t_start = time.perf_counter()
    frames = tqdm(
        stream,
        total=len(stream),
        unit="frame",
        disable=not progress,
        desc=f"processing {stream.topic}",
        file=sys.stderr,
    )
    try:
        for frame in frames:
            report.frames += 1
            recording.stamps.append(frame.stamp_ns)
            try:
                image = frame.decode(decode_config)
            except ImageDecodeError as exc:
                key = f"decode_{exc.reason}"
                report.dropped[key] = report.dropped.get(key, 0) + 1
                continue
            result = pipeline.process(image, frame.stamp_ns, frame.frame_id)
            report.processed += 1
            writer.write_state(frame.log_time_ns, array_fields(result))
            for record in result.events:
                writer.write_event(frame.log_time_ns, event_fields(result, record))
            recording.add(frame.index, result)
    finally:
        writer.close()
    report.wall_s = time.perf_counter() - t_start
    return recording


def _write_results(
    staging: Path,
    report: OfflineReport,
    recording: Recording,
    pipeline: Pipeline,
    gt: dict[str, Any] | None,
    bag_name: str,
) -> None:
    """Events, evaluation and the output files from what the run recorded."""
    stamps = np.asarray(recording.stamps, dtype=np.int64)
    report.recording_s = (
        ns_to_s(stamps[-1] - stamps[0]) + 1.0 / pipeline.fps if stamps.size else 0.0
    )
    report.events = event_rows(recording.event_records, stamps)
    truth = evaluate(report, gt, bag_name, pipeline.fps) if gt is not None else []
    title = f"{bag_name}: {report.topic} ({report.model_id})"
    on_threshold = pipeline.config.events.on_threshold
    write_outputs(staging, report, recording, truth, on_threshold, title)
