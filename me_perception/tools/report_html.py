"""HTML pages: the report of one processed recording, and the page pieces the batch index
shares with it.

Plain, self-contained HTML with relative links (the output folder can be moved, zipped or
served as it is), no scripts, no external resources, no dates: two runs give the same bytes.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1400px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.micro td:first-child { border-left: 4px solid #d62728; }
tr.macro td:first-child { border-left: 4px solid #ff7f0e; }
tr.failed td { background: #fde; }
img.timeline { max-width: 100%; border: 1px solid #ccc; }
img.thumb { width: 200px; border: 1px solid #ccc; }
figure { margin: 1em 0; } img.event { max-width: 100%; border: 1px solid #ccc; }
.notes li { color: #844; }
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def page(title: str, body: str) -> str:
    """A complete HTML document."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.3f}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    if isinstance(value, Raw):
        return f"<td>{value.html}</td>"
    return f"<td>{esc(value)}</td>"


class Raw:
    """Cell content that is already HTML (a link, an image)."""

    def __init__(self, html_text: str) -> None:
        self.html = html_text


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[str] = ()
) -> str:
    """An HTML table; ``classes`` gives each row a CSS class (e.g. the event kind)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{esc(classes[i])}"' if i < len(classes) and classes[i] else ""
        body.append(f"<tr{css}>" + "".join(_cell(v) for v in row) + "</tr>")
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(body) + "\n</table>"


def notes_list(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{esc(n)}</li>" for n in notes)
    return f'<h2>Notes</h2>\n<ul class="notes">{items}</ul>'


def _facts(summary: Mapping[str, Any]) -> str:
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(summary["dropped"].items())) or "none"
    facts = [
        ("recording", summary["recording"]),
        ("kind", summary["kind"]),
        ("stream", summary["topic"]),
        ("frames", f"{summary['processed']} processed of {summary['frames']}"),
        ("dropped", dropped),
        ("duration", f"{summary['recording_s']:.2f} s"),
        ("model", summary["model_id"]),
        ("backend", summary["backend"]),
    ]
    return table(["", ""], facts)


def _evaluation(evaluation: Mapping[str, Any] | None) -> str:
    if not evaluation:
        return ""
    rows = []
    for kind, c in sorted(evaluation["overall"].items()):
        f1 = c["f1"] if isinstance(c["f1"], float) else "n/a"
        rows.append([kind, c["tp"], c["fp"], c["fn"], c["precision"], c["recall"], f1])
    heads = ["kind", "TP", "FP", "FN", "precision", "recall", "F1"]
    return "<h2>Against the ground truth (IoU ≥ 0.5)</h2>\n" + table(heads, rows)


def _events(
    events: Sequence[Mapping[str, Any]],
    pictures: Mapping[int, str],
    frame_names: Mapping[int, Mapping[str, str]],
) -> str:
    """The events table (a thumbnail links to each picture) and the pictures below it."""
    if not events:
        return "<h2>Events</h2>\n<p>No expression was spotted.</p>"
    heads = ["#", "face", "kind", "label", "confidence", "intensity", "peak score"]
    heads += ["onset s", "apex s", "offset s", "ms", "onset / apex / offset frame", "picture"]
    rows, classes, figures = [], [], []
    for number, e in enumerate(events, start=1):
        names = frame_names.get(number, {})
        where = " / ".join(names.get(p, "") for p in ("onset", "apex", "offset"))
        name = pictures.get(number)
        picture: Any = "(frames not readable)"
        if name:
            src = f"events/{esc(name)}"
            picture = Raw(
                f'<a href="#event-{number}"><img class="thumb" src="{src}" '
                f'alt="event {number}"></a>'
            )
            figures.append(
                f'<figure id="event-{number}"><img class="event" src="{src}" '
                f'alt="event {number}"><figcaption>event {number}: {esc(e["kind"])} '
                f"{esc(e['label'] or '')}, face {esc(e['face_id'])}</figcaption></figure>"
            )
        label = (e["label"] or "-") + (" (truncated)" if e["truncated"] else "")
        rows.append(
            [
                number, e["face_id"], e["kind"], label, e["confidence"], e["intensity"],
                e["peak_score"], e["onset_s"], e["apex_s"], e["offset_s"],
                round(e["duration_ms"]), where, picture,
            ]
        )  # fmt: skip
        classes.append(e["kind"])
    out = f"<h2>Events ({len(events)})</h2>\n" + table(heads, rows, classes)
    if figures:
        out += "\n<h2>Event pictures</h2>\n" + "\n".join(figures)
    return out


def recording_report(
    summary: Mapping[str, Any],
    pictures: Mapping[int, str],
    frame_names: Mapping[int, Mapping[str, str]],
) -> str:
    """The report page of one recording: facts, notes, evaluation, timeline, events."""
    events = summary["events"]
    micro = sum(e["kind"] == "micro" for e in events)
    body = [
        _facts(summary),
        f"<p>{micro} micro-expression(s), {len(events) - micro} macro movement(s); data: "
        '<a href="events.csv">events.csv</a>, <a href="events.json">events.json</a>, '
        '<a href="frames.csv">frames.csv</a>, result bag <code>results/</code>.</p>',
        notes_list(summary.get("notes") or []),
        _evaluation(summary.get("evaluation")),
        '<h2>Timeline</h2>\n<img class="timeline" src="timeline.png" alt="timeline">',
        _events(events, pictures, frame_names),
    ]
    name = Path(str(summary["recording"])).name
    return page(f"me_perception: {name}", "\n".join(b for b in body if b))
