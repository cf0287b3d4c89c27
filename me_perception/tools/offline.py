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
if it kept up, so the results are deterministic and equal to the live node's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from me_perception.learning.metrics import SpotVideo, evaluate_spotting
from me_perception.perception.events import EventKind, Phase
from me_perception.perception.image_decoding import DecodeConfig, ImageDecodeError
from me_perception.perception.pipeline import (
    EventRecord,
    ModelNotFoundError,
    Pipeline,
    PipelineConfig,
)
from me_perception.perception.stamps import nearest_index, ns_to_s
from me_perception.recording.bag_io import BagError, ImageStream, ResultBagWriter, storage_of
from me_perception.ros.messages import array_fields, event_fields
from me_perception.tools.timeline_plot import Interval, plot_timeline

EVENT_COLUMNS = (
    "face_id",
    "kind",
    "label",
    "confidence",
    "intensity",
    "peak_score",
    "onset_s",
    "apex_s",
    "offset_s",
    "duration_ms",
    "onset_frame",
    "apex_frame",
    "offset_frame",
    "onset_stamp_ns",
    "apex_stamp_ns",
    "offset_stamp_ns",
    "truncated",
)


@dataclass
class OfflineReport:
    """What one offline run produced (also written to events.json)."""

    bag: str
    topic: str
    frames: int = 0
    processed: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    recording_s: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    evaluation: dict[str, Any] | None = None
    backend: str = ""
    model_id: str = ""
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def speed(self) -> float:
        """Recording time / processing time (> 1: faster than real time)."""
        return self.recording_s / self.wall_s if self.wall_s > 0 else 0.0


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
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; outputs get normal permissions
    try:
        _run(pipeline, stream, staging, report, cfg, gt, namespace, bag, progress)
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


def _run(
    pipeline: Pipeline,
    stream: ImageStream,
    staging: Path,
    report: OfflineReport,
    cfg: PipelineConfig,
    gt: dict[str, Any] | None,
    namespace: str,
    bag: Path,
    progress: bool,
) -> None:
    from tqdm import tqdm

    decode_config = DecodeConfig()
    writer = ResultBagWriter(staging / "results", storage_of(bag), namespace)
    stamps: list[int] = []
    series: dict[str, tuple[list[float], list[float], list[float]]] = {}
    frame_rows: list[dict[str, Any]] = []
    event_records: list[EventRecord] = []
    t_start = time.perf_counter()
    try:
        bar = tqdm(
            stream,
            total=len(stream),
            unit="frame",
            disable=not progress,
            desc=f"processing {stream.topic}",
            file=sys.stderr,
        )
        for frame in bar:
            report.frames += 1
            stamps.append(frame.stamp_ns)
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
                event_records.append(record)
            t = ns_to_s(frame.stamp_ns - stamps[0])
            for face in result.faces:
                s = series.setdefault(face.face_id, ([], [], []))
                s[0].append(t)
                s[1].append(face.spotting_score)
                s[2].append(face.macro_score)
                frame_rows.append(
                    {
                        "frame": frame.index,
                        "stamp_ns": frame.stamp_ns,
                        "time_s": round(t, 6),
                        "face_id": face.face_id,
                        "x": face.box[0],
                        "y": face.box[1],
                        "width": face.box[2],
                        "height": face.box[3],
                        "spotting_score": round(face.spotting_score, 6),
                        "macro_score": round(face.macro_score, 6),
                        "phase": Phase(face.phase).name.lower(),
                        "label": face.label,
                        "intensity": round(face.intensity, 6),
                    }
                )
    finally:
        writer.close()
    report.wall_s = time.perf_counter() - t_start
    stamp_arr = np.asarray(stamps, dtype=np.int64)
    report.recording_s = (
        ns_to_s(stamp_arr[-1] - stamp_arr[0]) + 1.0 / pipeline.fps if len(stamps) else 0.0
    )
    t0 = int(stamp_arr[0]) if len(stamps) else 0

    def rel(ns: int) -> float | None:
        return round(ns_to_s(ns - t0), 6) if ns else None

    for record in event_records:
        ev = record.event
        if ev.phase != Phase.OFFSET:
            continue
        report.events.append(
            {
                "face_id": record.face_id,
                "kind": ev.kind.value,
                "label": ev.label,
                "confidence": round(ev.confidence, 6),
                "intensity": round(ev.intensity, 6),
                "peak_score": round(ev.peak_score, 6),
                "onset_s": rel(ev.onset_ns),
                "apex_s": rel(ev.apex_ns),
                "offset_s": rel(ev.offset_ns),
                "duration_ms": round(ev.duration_ns / 1e6, 3),
                "onset_frame": nearest_index(stamp_arr, ev.onset_ns),
                "apex_frame": nearest_index(stamp_arr, ev.apex_ns),
                "offset_frame": nearest_index(stamp_arr, ev.offset_ns),
                "onset_stamp_ns": ev.onset_ns,
                "apex_stamp_ns": ev.apex_ns,
                "offset_stamp_ns": ev.offset_ns,
                "truncated": ev.truncated,
            }
        )
    gt_intervals: list[Interval] = []
    if gt is not None:
        gt_events = [e for e in gt["events"] if e["kind"] in ("micro", "macro")]
        video = SpotVideo(
            subject=str(gt.get("subject", "sample")),
            video=str(gt.get("clip_id", bag.name)),
            gt=[(int(e["onset"]), int(e["offset"]), e["kind"]) for e in gt_events],
            pred=[
                (e["onset_frame"], e["offset_frame"], e["kind"])
                for e in report.events
                if e["onset_frame"] >= 0 and e["offset_frame"] >= e["onset_frame"]
            ],
        )
        report.evaluation = evaluate_spotting([video])
        fps = float(gt.get("fps", pipeline.fps))
        gt_intervals = [
            Interval(
                e["onset"] / fps,
                (e["offset"] + 1) / fps,
                e["kind"],
                e.get("label5") or e["kind"],
            )
            for e in gt["events"]
        ]
    _write_tables(staging, report, frame_rows)
    predicted = [
        Interval(e["onset_s"], e["offset_s"], e["kind"], e["label"], e["face_id"])
        for e in report.events
        if e["onset_s"] is not None and e["offset_s"] is not None
    ]
    plot_timeline(
        staging / "timeline.png",
        series,
        predicted,
        gt_intervals,
        on_threshold=cfg.events.on_threshold,
        title=f"{bag.name}: {stream.topic} ({report.model_id})",
    )
    report.outputs = {
        "bag": str(staging / "results"),
        "events_csv": str(staging / "events.csv"),
        "events_json": str(staging / "events.json"),
        "frames_csv": str(staging / "frames.csv"),
        "timeline_png": str(staging / "timeline.png"),
    }
    summary = {
        "bag": report.bag,
        "topic": report.topic,
        "frames": report.frames,
        "processed": report.processed,
        "dropped": report.dropped,
        "backend": report.backend,
        "model_id": report.model_id,
        "events": report.events,
        "evaluation": report.evaluation,
    }
    # Wall-clock figures are kept out of the JSON so two runs give identical files.
    text = json.dumps(_finite(summary), indent=2, sort_keys=True, allow_nan=False)
    (staging / "events.json").write_text(text + "\n")


def _finite(value: Any) -> Any:
    """JSON has no NaN: undefined metrics (e.g. F1 with nothing to find) become null."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _write_tables(staging: Path, report: OfflineReport, frame_rows: list[dict[str, Any]]) -> None:
    with (staging / "events.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=EVENT_COLUMNS)
        w.writeheader()
        for e in report.events:
            w.writerow(e)
    columns = (
        "frame",
        "stamp_ns",
        "time_s",
        "face_id",
        "x",
        "y",
        "width",
        "height",
        "spotting_score",
        "macro_score",
        "phase",
        "label",
        "intensity",
    )
    with (staging / "frames.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(frame_rows)


def format_summary(report: OfflineReport) -> str:
    """The short human summary printed at the end of a run."""
    lines = [
        f"processed {report.processed}/{report.frames} frames of {report.topic} "
        f"({report.recording_s:.1f} s of recording) in {report.wall_s:.1f} s: "
        f"{report.speed:.1f}x real time, backend {report.backend}",
    ]
    if report.dropped:
        lines.append("dropped: " + ", ".join(f"{k} {v}" for k, v in sorted(report.dropped.items())))
    micro = [e for e in report.events if e["kind"] == EventKind.MICRO.value]
    macro = [e for e in report.events if e["kind"] == EventKind.MACRO.value]
    lines.append(f"spotted {len(micro)} micro-expression(s) and {len(macro)} macro movement(s):")
    for e in report.events:
        lines.append(
            f"  face {e['face_id']}  {e['kind']:5s}  {e['onset_s']:7.3f}-{e['offset_s']:7.3f} s "
            f"({e['duration_ms']:.0f} ms)  {e['label'] or '-':12s} conf {e['confidence']:.2f} "
            f"intensity {e['intensity']:.2f}"
        )
    if report.evaluation is not None:
        for kind, c in sorted(report.evaluation["overall"].items()):
            f1 = "n/a" if not np.isfinite(c["f1"]) else f"{c['f1']:.2f}"
            lines.append(
                f"vs ground truth [{kind}] (IoU >= 0.5): TP {c['tp']} FP {c['fp']} FN {c['fn']}"
                f"  precision {c['precision']:.2f} recall {c['recall']:.2f} F1 {f1}"
            )
    for name, path in report.outputs.items():
        lines.append(f"{name:13s} {path}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="me_perception_offline",
        description="Spot and recognise micro-expressions in a rosbag2 recording (sqlite3/mcap).",
    )
    p.add_argument("bag", help="input bag directory (with metadata.yaml)")
    p.add_argument("--topic", help="image topic (default: the bag's only image topic)")
    p.add_argument("--out", help="output directory (default: <bag>_me_perception beside the bag)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output dir (only a previous output of this tool)",
    )
    p.add_argument("--ground-truth", help="ground truth JSON (default: <bag>/ground_truth.json)")
    p.add_argument("--model", default="", help="model directory or .onnx (default: shipped)")
    p.add_argument("--backend", default="auto", help="auto, onnxruntime, torch, tensorrt, ...")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for inference")
    p.add_argument("--namespace", default="/me_perception", help="namespace of output topics")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: the staging folder is removed


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    out = Path(args.out) if args.out else Path(str(Path(args.bag).resolve()) + "_me_perception")
    config = PipelineConfig(model_path=args.model, backend=args.backend, num_threads=args.threads)
    try:
        report = process_bag(
            args.bag,
            out,
            topic=args.topic,
            config=config,
            ground_truth=args.ground_truth,
            namespace=args.namespace,
            progress=not args.no_progress,
            overwrite=args.overwrite,
        )
    except BagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing was written", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    print(format_summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
