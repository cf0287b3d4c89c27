"""Recognition and spotting metrics as used in the MEGC challenges.

Recognition
-----------
* accuracy: fraction of correct predictions;
* UF1 (unweighted F1): mean over classes of ``F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)``;
* UAR (unweighted average recall): mean over classes of ``TP_c / N_c``;
* confusion matrix: rows = true class, columns = predicted class, in ``labels`` order.

Classes absent from the ground truth: their recall is undefined (N_c = 0), so they are left out
of both means (UF1 and UAR average over the classes that occur in ``y_true``). Predictions *of*
such a class still count, as false negatives of the true classes. This is why MEGC computes
UF1/UAR once over predictions pooled across all leave-one-subject-out folds instead of averaging
per-fold scores, where most subjects lack some classes; :func:`per_subject_table` reports
per-subject numbers for inspection only. Empty input gives NaN (nothing to score).

Spotting (MEGC 2019-2022)
-------------------------
Intervals are inclusive frame ranges ``(onset, offset)``. A prediction is a true positive when
its IoU with a ground-truth interval is >= 0.5 (``|A n B| / |A u B|`` counted in frames);
matching is one-to-one (each ground-truth interval matches at most one prediction, each
prediction at most one interval; pairs are taken greedily by decreasing IoU). Unmatched
predictions are FP, unmatched ground truth FN. TP/FP/FN are summed over all videos and then
``P = TP / (TP + FP)``, ``R = TP / (TP + FN)``, ``F1 = 2PR / (P + R)``; a ratio whose
denominator is 0 is 0, except that F1 is NaN when there is nothing at all (TP = FP = FN = 0).
Per expression type (micro/macro), ground truth and predictions of that type are matched
separately; the overall counts are the per-type sums (MEGC 2020+ convention).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np


# --------------------------------------------------------------------------------------------
# Recognition
# --------------------------------------------------------------------------------------------
def _labels(y_true: Sequence, y_pred: Sequence, labels: Sequence | None) -> list:
    if labels is not None:
        return list(labels)
    return sorted(set(y_true) | set(y_pred), key=str)


def confusion_matrix(
    y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None
) -> np.ndarray:
    """Counts (C, C), rows = true, columns = predicted; pairs with unknown labels are ignored."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items, y_pred {len(y_pred)}")
    labs = _labels(y_true, y_pred, labels)
    idx = {c: i for i, c in enumerate(labs)}
    cm = np.zeros((len(labs), len(labs)), np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        if t in idx and p in idx:
            cm[idx[t], idx[p]] += 1
    return cm


def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items, y_pred {len(y_pred)}")
    if not len(y_true):
        return math.nan
    return float(sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true))


def per_class_f1(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> dict:
    """F1 of each class present in ``y_true`` (see module docstring for absent classes)."""
    labs = _labels(y_true, y_pred, labels)
    cm = confusion_matrix(y_true, y_pred, labs)
    out = {}
    for i, c in enumerate(labs):
        n_c = cm[i].sum()
        if n_c == 0:
            continue
        tp = cm[i, i]
        fp = cm[:, i].sum() - tp
        fn = n_c - tp
        out[c] = float(2 * tp / (2 * tp + fp + fn))
    return out


def uf1(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> float:
    """Unweighted F1: mean F1 over classes present in the ground truth; NaN if empty."""
    f = per_class_f1(y_true, y_pred, labels)
    return float(np.mean(list(f.values()))) if f else math.nan


def uar(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> float:
    """Unweighted average recall over classes present in the ground truth; NaN if empty."""
    labs = _labels(y_true, y_pred, labels)
    cm = confusion_matrix(y_true, y_pred, labs)
    rec = [cm[i, i] / cm[i].sum() for i in range(len(labs)) if cm[i].sum() > 0]
    return float(np.mean(rec)) if rec else math.nan


def recognition_report(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> dict:
    """All recognition metrics at once (JSON-serialisable apart from NaN)."""
    labs = _labels(y_true, y_pred, labels)
    return {
        "n": len(y_true),
        "accuracy": accuracy(y_true, y_pred),
        "uf1": uf1(y_true, y_pred, labs),
        "uar": uar(y_true, y_pred, labs),
        "per_class_f1": per_class_f1(y_true, y_pred, labs),
        "labels": [str(c) for c in labs],
        "confusion": confusion_matrix(y_true, y_pred, labs).tolist(),
    }


def per_subject_table(
    subjects: Sequence[str], y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None
) -> dict[str, dict]:
    """Recognition metrics per subject (for inspection; see module docstring)."""
    labs = _labels(y_true, y_pred, labels)
    out: dict[str, dict] = {}
    for s in sorted(set(subjects), key=str):
        sel = [i for i, x in enumerate(subjects) if x == s]
        t = [y_true[i] for i in sel]
        p = [y_pred[i] for i in sel]
        out[str(s)] = {
            "n": len(sel),
            "accuracy": accuracy(t, p),
            "uf1": uf1(t, p, labs),
            "uar": uar(t, p, labs),
        }
    return out


# --------------------------------------------------------------------------------------------
# Spotting
# --------------------------------------------------------------------------------------------
def interval_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """IoU of two inclusive frame intervals (onset, offset)."""
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter
    return inter / union


def match_intervals(
    gt: Sequence[tuple[int, int]],
    pred: Sequence[tuple[int, int]],
    iou_threshold: float = 0.5,
) -> tuple[list[tuple[int, int]], int, int, int]:
    """One-to-one matching. Returns (matched (gt_index, pred_index) pairs, TP, FP, FN)."""
    for name, ivs in (("ground truth", gt), ("prediction", pred)):
        for iv in ivs:
            if iv[1] < iv[0]:
                raise ValueError(f"{name} interval {iv} has offset < onset")
    pairs = []
    for i, g in enumerate(gt):
        for j, p in enumerate(pred):
            v = interval_iou(g, p)
            if v >= iou_threshold:
                pairs.append((v, i, j))
    pairs.sort(key=lambda x: (-x[0], x[1], x[2]))
    used_g: set[int] = set()
    used_p: set[int] = set()
    matches = []
    for _, i, j in pairs:
        if i not in used_g and j not in used_p:
            used_g.add(i)
            used_p.add(j)
            matches.append((i, j))
    tp = len(matches)
    return sorted(matches), tp, len(pred) - tp, len(gt) - tp


@dataclass
class SpotCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: SpotCounts) -> SpotCounts:
        return SpotCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        d = self.tp + self.fp
        return self.tp / d if d else 0.0

    @property
    def recall(self) -> float:
        d = self.tp + self.fn
        return self.tp / d if d else 0.0

    @property
    def f1(self) -> float:
        if self.tp + self.fp + self.fn == 0:
            return math.nan
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)

    def as_dict(self) -> dict:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


@dataclass
class SpotVideo:
    """Ground truth and predictions of one video: items are (onset, offset, kind)."""

    subject: str
    video: str
    gt: list[tuple[int, int, str]] = field(default_factory=list)
    pred: list[tuple[int, int, str]] = field(default_factory=list)


def spot_counts(
    video: SpotVideo, kinds: Iterable[str] | None = ("micro", "macro"), iou_threshold: float = 0.5
) -> dict[str, SpotCounts]:
    """Per-kind counts for one video (plus 'all' = their sum).

    ``kinds=None`` ignores the type and matches everything against everything.
    """
    out: dict[str, SpotCounts] = {}
    if kinds is None:
        _, tp, fp, fn = match_intervals(
            [(a, b) for a, b, _ in video.gt], [(a, b) for a, b, _ in video.pred], iou_threshold
        )
        out["all"] = SpotCounts(tp, fp, fn)
        return out
    total = SpotCounts()
    for k in kinds:
        g = [(a, b) for a, b, kk in video.gt if kk == k]
        p = [(a, b) for a, b, kk in video.pred if kk == k]
        _, tp, fp, fn = match_intervals(g, p, iou_threshold)
        out[k] = SpotCounts(tp, fp, fn)
        total = total + out[k]
    out["all"] = total
    return out


def evaluate_spotting(
    videos: Sequence[SpotVideo],
    kinds: Iterable[str] | None = ("micro", "macro"),
    iou_threshold: float = 0.5,
) -> dict:
    """Counts summed over videos, then P/R/F1 per kind and overall, plus per-subject tables."""
    kinds_t = tuple(kinds) if kinds is not None else None
    total: dict[str, SpotCounts] = {}
    per_subject: dict[str, dict[str, SpotCounts]] = {}
    for v in videos:
        c = spot_counts(v, kinds_t, iou_threshold)
        subj = per_subject.setdefault(str(v.subject), {})
        for k, cnt in c.items():
            total[k] = total.get(k, SpotCounts()) + cnt
            subj[k] = subj.get(k, SpotCounts()) + cnt
    if not total:
        total["all"] = SpotCounts()
    return {
        "iou_threshold": iou_threshold,
        "n_videos": len(videos),
        "overall": {k: v.as_dict() for k, v in total.items()},
        "per_subject": {
            s: {k: v.as_dict() for k, v in d.items()} for s, d in sorted(per_subject.items())
        },
    }


def format_table(rows: dict[str, dict], columns: Sequence[str]) -> str:
    """A Markdown table of ``rows`` (name -> metrics) for logs and reports."""

    def fmt(v: object) -> str:
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.4f}"
        return str(v)

    lines = ["| name | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    for name, m in rows.items():
        lines.append(f"| {name} | " + " | ".join(fmt(m.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)
