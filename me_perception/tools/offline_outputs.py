"""The files an offline run writes: events.csv, events.json, frames.csv and timeline.png.

Built from what :mod:`me_perception.tools.offline` collected while the pipeline ran. Wall-clock
figures stay out of the files, so two runs over the same recording give identical bytes.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from me_perception.learning.metrics import SpotVideo, evaluate_spotting
from me_perception.perception.events import EventKind, Phase
from me_perception.perception.pipeline import EventRecord, FrameResult
from me_perception.perception.stamps import nearest_index, ns_to_s
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
FRAME_COLUMNS = (
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


@dataclass
class OfflineReport:
    """What one offline run produced (also written to events.json)."""

    recording: str  # the input path
    topic: str  # what was read: a bag's topic, or a description of the video or frame folder
    kind: str = "bag"  # bag | video | folder
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
    notes: list[str] = field(default_factory=list)  # the reader's and the pipeline's

    @property
    def speed(self) -> float:
        """Recording time / processing time (> 1: faster than real time)."""
        return self.recording_s / self.wall_s if self.wall_s > 0 else 0.0


MAX_NOTES = 20
"""Distinct pipeline notes kept for the report (a long recording may repeat a few many times)."""


@dataclass
class Recording:
    """What one pass over the recording collected: frame stamps, per-face score series for the
    plot, per-frame rows for frames.csv and the pipeline's events."""

    stamps: list[int] = field(default_factory=list)
    series: dict[str, tuple[list[float], list[float], list[float]]] = field(default_factory=dict)
    frame_rows: list[dict[str, Any]] = field(default_factory=list)
    event_records: list[EventRecord] = field(default_factory=list)
    size: tuple[int, int] = (0, 0)  # width, height of the frames
    note_counts: dict[str, int] = field(default_factory=dict)

    def add(self, index: int, result: FrameResult) -> None:
        """Record one processed frame (its stamp must already be in ``stamps``)."""
        self.event_records.extend(result.events)
        self.size = (result.width, result.height)
        for note in result.notes:
            if note and (note in self.note_counts or len(self.note_counts) < MAX_NOTES):
                self.note_counts[note] = self.note_counts.get(note, 0) + 1
        t = ns_to_s(result.stamp_ns - self.stamps[0])
        for face in result.faces:
            s = self.series.setdefault(face.face_id, ([], [], []))
            s[0].append(t)
            s[1].append(face.spotting_score)
            s[2].append(face.macro_score)
            self.frame_rows.append(
                {
                    "frame": index,
                    "stamp_ns": result.stamp_ns,
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

    @property
    def notes(self) -> list[str]:
        """The pipeline's notes, each once, with how many frames carried it."""
        return [f"{n} ({c} frames)" if c > 1 else n for n, c in self.note_counts.items()]


def event_rows(records: list[EventRecord], stamps: np.ndarray) -> list[dict[str, Any]]:
    """One row per finished expression (its OFFSET event), times relative to the first frame.
    A withdrawn onset (a blink or head movement, kind ``withdrawn``) is no expression: it stays
    in the result bag's event topic but gets no row."""
    t0 = int(stamps[0]) if stamps.size else 0

    def rel(ns: int) -> float | None:
        return round(ns_to_s(ns - t0), 6) if ns else None

    rows = []
    for record in records:
        ev = record.event
        if ev.phase != Phase.OFFSET or ev.kind is EventKind.WITHDRAWN:
            continue
        rows.append(
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
                "onset_frame": nearest_index(stamps, ev.onset_ns),
                "apex_frame": nearest_index(stamps, ev.apex_ns),
                "offset_frame": nearest_index(stamps, ev.offset_ns),
                "onset_stamp_ns": ev.onset_ns,
                "apex_stamp_ns": ev.apex_ns,
                "offset_stamp_ns": ev.offset_ns,
                "truncated": ev.truncated,
            }
        )
    return rows


def evaluate(report: OfflineReport, gt: dict[str, Any], video: str, fps: float) -> list[Interval]:
    """MEGC spotting counts of the report's events against the ground truth (stored in
    ``report.evaluation``); returns the ground-truth intervals for the plot."""
    gt_events = [e for e in gt["events"] if e["kind"] in ("micro", "macro")]
    spotted = SpotVideo(
        subject=str(gt.get("subject", "sample")),
        video=str(gt.get("clip_id", video)),
        gt=[(int(e["onset"]), int(e["offset"]), e["kind"]) for e in gt_events],
        pred=[
            (e["onset_frame"], e["offset_frame"], e["kind"])
            for e in report.events
            if e["onset_frame"] >= 0 and e["offset_frame"] >= e["onset_frame"]
        ],
    )
    report.evaluation = evaluate_spotting([spotted])
    fps = float(gt.get("fps", fps))
    return [
        Interval(e["onset"] / fps, (e["offset"] + 1) / fps, e["kind"], e.get("label5") or e["kind"])
        for e in gt["events"]
    ]


def write_outputs(
    folder: Path,
    report: OfflineReport,
    recording: Recording,
    ground_truth: list[Interval],
    on_threshold: float,
    title: str,
) -> None:
    """events.csv, frames.csv, timeline.png and events.json into ``folder``."""
    _write_tables(folder, report, recording.frame_rows)
    predicted = [
        Interval(e["onset_s"], e["offset_s"], e["kind"], e["label"], e["face_id"])
        for e in report.events
        if e["onset_s"] is not None and e["offset_s"] is not None
    ]
    plot_timeline(
        folder / "timeline.png",
        recording.series,
        predicted,
        ground_truth,
        on_threshold=on_threshold,
        title=title,
    )
    report.outputs = {
        "bag": str(folder / "results"),
        "events_csv": str(folder / "events.csv"),
        "events_json": str(folder / "events.json"),
        "frames_csv": str(folder / "frames.csv"),
        "timeline_png": str(folder / "timeline.png"),
    }
    summary = {
        "recording": report.recording,
        "kind": report.kind,
        "topic": report.topic,
        "recording_s": round(report.recording_s, 6),
        "notes": report.notes,
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
    (folder / "events.json").write_text(text + "\n")


def _finite(value: Any) -> Any:
    """JSON has no NaN: undefined metrics (e.g. F1 with nothing to find) become null."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _write_tables(folder: Path, report: OfflineReport, frame_rows: list[dict[str, Any]]) -> None:
    with (folder / "events.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=EVENT_COLUMNS)
        w.writeheader()
        for e in report.events:
            w.writerow(e)
    with (folder / "frames.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FRAME_COLUMNS)
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
    lines += [f"note: {n}" for n in report.notes]
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
