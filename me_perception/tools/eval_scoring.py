"""Scores of pipeline events against an evaluation set's ground truth, per group and overall.

Spotting uses the MEGC matching of :mod:`me_perception.learning.metrics` (IoU >= 0.5 in frames,
one-to-one, greedy by IoU; micro matched against micro, macro against macro). For matched
micro-expressions the predicted label (a CASME II 5-class name) is compared with the ground
truth's ``label5``, and in 3 classes (``model.config.CASME2_TO_MEGC3``; ground truth without a
3-class label, i.e. 'others', is left out there). Confusions that matter to a user are counted
apart: predicted micro-expressions overlapping a ground-truth blink or discrete head movement
(kind ``head``, or any kind starting with it; any frame in common). Still recordings count
their frames with both scores below the quiet threshold (over frames with a face) and every
event reported on them; their events are not in the spotting counts, which measure the
sample-like recordings.

Rows are grouped by (generator, frame rate) for recordings and (generator, still) for stills,
plus ``all`` per model. Ratios without a denominator are None (JSON null).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from me_perception.learning.metrics import SpotCounts, match_intervals
from me_perception.model.config import CASME2_TO_MEGC3

__all__ = [
    "COUNT_KEYS",
    "aggregate",
    "format_markdown",
    "group_name",
    "label3",
    "overlapping",
    "score_recording",
    "summarise",
]

COUNT_KEYS = (
    "micro_tp",
    "micro_fp",
    "micro_fn",
    "macro_tp",
    "macro_fp",
    "macro_fn",
    "label5_n",
    "label5_correct",
    "label3_n",
    "label3_correct",
    "micro_on_blink",
    "micro_on_head",
    "still_events",
    "still_face_frames",
    "still_quiet_frames",
)


def label3(label: str | None) -> str | None:
    """3-class name of a 5-class (or already 3-class) label; None for 'others' / unknown."""
    if not label:
        return None
    if label in CASME2_TO_MEGC3:
        return CASME2_TO_MEGC3[label]
    return label if label in set(CASME2_TO_MEGC3.values()) else None


def overlapping(pred: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> int:
    """How many predicted intervals share at least one frame with any span (inclusive)."""
    return sum(1 for a, b in pred if any(a <= q and b >= p for p, q in spans))


def _intervals(events: Sequence[dict], kind: str, prefix: bool = False) -> list[tuple[int, int]]:
    """Frame intervals of one kind (``prefix``: every kind starting with it, e.g. head...)."""
    return [
        (int(e["onset"]), int(e["offset"]))
        for e in events
        if e["kind"] == kind or (prefix and str(e["kind"]).startswith(kind))
    ]


def _labels(gt: list[dict], pred: list[dict], matches: list[tuple[int, int]]) -> dict:
    n5 = c5 = n3 = c3 = 0
    for gi, pj in matches:
        g, p = gt[gi], pred[pj]
        n5 += 1
        c5 += int(p.get("label") == g.get("label5"))
        if g.get("label3"):
            n3 += 1
            c3 += int(label3(p.get("label")) == g["label3"])
    return {"label5_n": n5, "label5_correct": c5, "label3_n": n3, "label3_correct": c3}


def score_recording(pred: Sequence[dict], truth: dict, still: bool, scores: dict) -> dict:
    """Counts of one recording (all integers; ratios come from :func:`summarise`)."""
    out = dict.fromkeys(COUNT_KEYS, 0)
    if still:
        out["still_events"] = sum(p["kind"] in ("micro", "macro") for p in pred)
        out["still_face_frames"] = int(scores["face_frames"])
        out["still_quiet_frames"] = int(scores["quiet_frames"])
        return out
    gt_events = truth["events"]
    for kind in ("micro", "macro"):
        gt_k = [e for e in gt_events if e["kind"] == kind]
        pr_k = [e for e in pred if e["kind"] == kind]
        matches, tp, fp, fn = match_intervals(_intervals(gt_k, kind), _intervals(pr_k, kind))
        out.update({f"{kind}_tp": tp, f"{kind}_fp": fp, f"{kind}_fn": fn})
        if kind == "micro":
            out.update(_labels(gt_k, pr_k, matches))
    micro = _intervals(pred, "micro")
    out["micro_on_blink"] = overlapping(micro, _intervals(gt_events, "blink"))
    out["micro_on_head"] = overlapping(micro, _intervals(gt_events, "head", prefix=True))
    return out


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _f1(c: SpotCounts) -> float | None:
    f = c.f1
    return None if math.isnan(f) else f


def summarise(counts: dict, recordings: int, stills: int) -> dict:
    """Counts plus P/R/F1, label accuracies and the still quiet share of one group."""
    micro = SpotCounts(counts["micro_tp"], counts["micro_fp"], counts["micro_fn"])
    macro = SpotCounts(counts["macro_tp"], counts["macro_fp"], counts["macro_fn"])
    spotted = recordings - stills
    return {
        "recordings": recordings,
        "stills": stills,
        **counts,
        "micro_precision": micro.precision if spotted else None,
        "micro_recall": micro.recall if spotted else None,
        "micro_f1": _f1(micro) if spotted else None,
        "macro_precision": macro.precision if spotted else None,
        "macro_recall": macro.recall if spotted else None,
        "macro_f1": _f1(macro) if spotted else None,
        "label5_accuracy": _ratio(counts["label5_correct"], counts["label5_n"]),
        "label3_accuracy": _ratio(counts["label3_correct"], counts["label3_n"]),
        "still_quiet_share": _ratio(counts["still_quiet_frames"], counts["still_face_frames"]),
    }


def group_name(row: dict) -> str:
    """``ours 30 fps`` / ``ours still``."""
    return f"{row['generator']} still" if row["still"] else f"{row['generator']} {row['fps']:g} fps"


def aggregate(rows: Sequence[dict]) -> dict[str, dict[str, dict]]:
    """model -> group -> summary (groups in first-seen order, then ``all``). Each row needs
    ``model``, ``generator``, ``fps``, ``still`` and ``counts``."""
    out: dict[str, dict[str, dict]] = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        groups: dict[str, list[dict]] = {}
        for r in mine:
            groups.setdefault(group_name(r), []).append(r)
        groups["all"] = mine
        out[model] = {name: _sum(members) for name, members in groups.items()}
    return out


def _sum(rows: Sequence[dict]) -> dict:
    counts = {k: sum(int(r["counts"][k]) for r in rows) for k in COUNT_KEYS}
    return summarise(counts, len(rows), sum(1 for r in rows if r["still"]))


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.1f}" if pct else f"{v:.2f}"


def format_markdown(summary: dict[str, dict[str, dict]]) -> str:
    """One table per model: a row per group."""
    head = (
        "| group | recordings | micro TP | FP | FN | P | R | F1 | macro F1 | label acc 5/3 "
        "| micro on blink | micro on head | still quiet % | still events |"
    )
    parts = []
    for model, groups in summary.items():
        lines = [f"### model: {model or '(shipped default)'}", "", head, "|---" * 14 + "|"]
        for name, g in groups.items():
            spot = g["recordings"] > g["stills"]
            cells = [
                name,
                str(g["recordings"]),
                *(str(g[k]) if spot else "–" for k in ("micro_tp", "micro_fp", "micro_fn")),
                _fmt(g["micro_precision"]),
                _fmt(g["micro_recall"]),
                _fmt(g["micro_f1"]),
                _fmt(g["macro_f1"]),
                f"{_fmt(g['label5_accuracy'])}/{_fmt(g['label3_accuracy'])}",
                str(g["micro_on_blink"]) if spot else "–",
                str(g["micro_on_head"]) if spot else "–",
                _fmt(g["still_quiet_share"], pct=True),
                str(g["still_events"]) if g["stills"] else "–",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
