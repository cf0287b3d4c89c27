"""One table across the recordings of a batch: summary.csv and index.html.

Built from the recordings' own output folders (their ``events.json``), so recordings finished
by an earlier, interrupted run count exactly like those done now. Per recording: status,
frames, duration, events in all and per minute, and counts by kind (micro, macro) and by kind
and class (``micro:happiness``, ...); a last row ``(all)`` adds them up. A failed recording is
listed with its reason.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from me_perception.tools.batch import Job, Outcome
from me_perception.tools.report_html import Raw, esc, page, table

BASE_COLUMNS = (
    "recording",
    "input",
    "kind",
    "status",
    "frames",
    "processed",
    "duration_s",
    "events",
    "events_per_min",
    "micro",
    "macro",
)
TOTAL = "(all)"
TEXT_COLUMNS = ("recording", "input", "kind", "status", "error")


def _row(job: Job, outcome: Outcome | None) -> dict[str, Any]:
    row: dict[str, Any] = {"recording": job.name, "input": job.recording}
    summary_path = Path(job.out) / "events.json"
    status = outcome.status if outcome else "not run"
    if status in ("done", "skipped") and summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        events = summary["events"]
        minutes = summary.get("recording_s", 0.0) / 60.0
        row.update(
            kind=summary.get("kind", ""),
            status="done" if status == "done" else "done earlier",
            frames=summary["frames"],
            processed=summary["processed"],
            duration_s=round(summary.get("recording_s", 0.0), 3),
            events=len(events),
            events_per_min=round(len(events) / minutes, 3) if minutes > 0 else 0.0,
        )
        for e in events:
            row[e["kind"]] = row.get(e["kind"], 0) + 1
            key = f"{e['kind']}:{e['label'] or 'none'}"
            row[key] = row.get(key, 0) + 1
    else:
        row["status"] = status
        row["error"] = outcome.error if outcome else ""
    return row


def summary_rows(jobs: Sequence[Job], outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """One row per recording (in job order) and the ``(all)`` row."""
    by_name = {o.name: o for o in outcomes}
    rows = [_row(job, by_name.get(job.name)) for job in jobs]
    total: dict[str, Any] = {"recording": TOTAL, "status": _status_counts(rows)}
    for key in [*_count_columns(rows), "frames", "processed", "duration_s", "events"]:
        total[key] = sum(r.get(key, 0) or 0 for r in rows)
    minutes = total["duration_s"] / 60.0
    total["duration_s"] = round(total["duration_s"], 3)
    total["events_per_min"] = round(total["events"] / minutes, 3) if minutes > 0 else 0.0
    return [*rows, total]


def _status_counts(rows: Sequence[Mapping[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def _count_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    classes = sorted({k for r in rows for k in r if ":" in k})
    return ["micro", "macro", *classes]


def columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return [*BASE_COLUMNS, *_count_columns(rows)[2:], "error"]


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_summary(root: Path, rows: Sequence[dict[str, Any]]) -> tuple[Path, Path]:
    """summary.csv and index.html into the batch's output root (each replaced whole)."""
    cols = columns(rows)
    csv_path, html_path = root / "summary.csv", root / "index.html"
    tmp = root / ".summary.csv.tmp"
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=cols, restval=0, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({c: r.get(c, "" if c in TEXT_COLUMNS else 0) for c in cols})
    os.replace(tmp, csv_path)
    _write_atomic(html_path, index_page(rows, cols))
    return csv_path, html_path


def index_page(rows: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> str:
    """The batch's index: the summary table, each recording linked to its report."""
    shown = [c for c in cols if c != "input"]
    body_rows, classes = [], []
    for r in rows:
        cells: list[Any] = []
        for c in shown:
            value = r.get(c, "" if c in TEXT_COLUMNS else 0)
            if c == "recording" and r["recording"] != "(all)" and r.get("events") is not None:
                value = Raw(f'<a href="{esc(r["recording"])}/report.html">{esc(value)}</a>')
            cells.append(value)
        body_rows.append(cells)
        classes.append("failed" if r.get("status") == "failed" else "")
    done = sum(1 for r in rows[:-1] if str(r.get("status", "")).startswith("done"))
    intro = (
        f"<p>{len(rows) - 1} recording(s), {done} processed; the same table as "
        '<a href="summary.csv">summary.csv</a>. Events per minute of recording; '
        "counts by kind and by kind:class.</p>"
    )
    return page("me_perception batch", intro + table(shown, body_rows, classes))
