"""Evaluation through the real pipeline: the events the pipeline emits, scored against an
evaluation set's ground truth, per group; and the matching / overlap rules on hand-made events."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from eval_set_support import make_tiny_set

from me_perception.perception.events import EventConfig, EventDetector, EventKind, Phase
from me_perception.tools.cli import pipeline_eval_main
from me_perception.tools.eval_scoring import (
    COUNT_KEYS,
    aggregate,
    format_markdown,
    label3,
    overlapping,
    score_recording,
)
from me_perception.tools.pipeline_eval import EventLog, evaluate_set, json_safe

NS = 1_000_000_000
SHIPPED = ""  # PipelineConfig's default: the shipped model


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = make_tiny_set(tmp_path_factory.mktemp("pipeline_eval") / "set")
    return evaluate_set(root, [SHIPPED], workers=0)


def _f1(tp: int, fp: int, fn: int) -> float | None:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None


def test_report_structure_and_consistent_metrics(report: dict) -> None:
    json.dumps(json_safe(report), allow_nan=False)  # strict JSON
    rows = report["recordings"]
    assert [r["still"] for r in rows] == [False, True]
    groups = report["summary"][SHIPPED]
    assert list(groups) == ["ours 30 fps", "ours still", "all"]
    for r in rows:
        frames = r["scores"]["frames"]
        assert frames == 120 and 0 < r["scores"]["face_frames"] <= frames
        for e in r["events"]:
            assert e["kind"] in ("micro", "macro") and 0 <= e["onset"] <= e["offset"] < frames
            assert e["onset_ns"] <= e["offset_ns"]
    for name, g in groups.items():
        members = (
            rows if name == "all" else [r for r in rows if r["still"] == (name == "ours still")]
        )
        for k in COUNT_KEYS:
            assert g[k] == sum(r["counts"][k] for r in members), (name, k)
        if g["stills"] < g["recordings"]:
            assert g["micro_f1"] == _f1(g["micro_tp"], g["micro_fp"], g["micro_fn"])
            assert g["macro_f1"] == _f1(g["macro_tp"], g["macro_fp"], g["macro_fn"])
            truth = json.loads((Path(rows[0]["bag"]) / "ground_truth.json").read_text())
            n_micro = sum(e["kind"] == "micro" for e in truth["events"])
            assert g["micro_tp"] + g["micro_fn"] == n_micro
            assert g["micro_tp"] + g["micro_fp"] == sum(
                e["kind"] == "micro" for e in rows[0]["events"]
            )
            assert g["label5_n"] == g["micro_tp"]
    still = groups["ours still"]
    assert 0.0 <= still["still_quiet_share"] <= 1.0
    assert still["still_events"] == len(rows[1]["events"])
    assert still["micro_f1"] is None  # stills are not in the spotting counts


def test_workers_give_the_same_rows_as_one_process(report: dict, tmp_path: Path) -> None:
    """Spawned single-threaded workers: same events and scores, in manifest order."""
    root = Path(report["eval_set"])
    out_json, out_md = tmp_path / "eval.json", tmp_path / "eval.md"
    code = pipeline_eval_main(
        [
            str(root),
            "--model",
            SHIPPED,
            "--workers",
            "2",
            "--json",
            str(out_json),
            "--markdown",
            str(out_md),
        ]
    )
    assert code == 0
    again = json.loads(out_json.read_text())
    key = ("path", "events", "counts")
    assert [[r[k] for k in key] for r in again["recordings"]] == [
        [json_safe(r[k]) for k in key] for r in report["recordings"]
    ]
    assert out_md.read_text() == format_markdown(report["summary"])


def test_scoring_matches_megc_and_counts_confusions() -> None:
    def truth(kind: str, a: int, b: int, label5: str | None = None) -> dict:
        return {"kind": kind, "onset": a, "offset": b, "label5": label5, "label3": label3(label5)}

    gt = {
        "events": [
            truth("micro", 10, 15, "repression"),
            truth("blink", 40, 45),
            truth("head", 70, 80),
            truth("macro", 100, 130, "happiness"),
            truth("micro", 200, 209, "others"),
            truth("micro", 300, 305, "surprise"),
        ]
    }

    def ev(a: int, b: int, kind: str = "micro", label: str = "") -> dict:
        return {"kind": kind, "onset": a, "offset": b, "label": label}

    pred = [
        ev(10, 16, label="disgust"),  # IoU 6/7: TP, wrong in 5 classes, right in 3
        ev(45, 47),  # touches the blink's last frame
        ev(75, 76),  # inside the head movement
        ev(100, 118, "macro"),  # IoU 19/31: TP
        ev(205, 215, label="others"),  # IoU 5/16: FP, and the micro at 200 is missed
        ev(300, 305, label="surprise"),  # TP, right
        ev(110, 112),  # a micro inside the macro: FP, not a blink or head confusion
    ]
    c = score_recording(pred, gt, still=False, scores={})
    assert (c["micro_tp"], c["micro_fp"], c["micro_fn"]) == (2, 4, 1)
    assert (c["macro_tp"], c["macro_fp"], c["macro_fn"]) == (1, 0, 0)
    assert (c["label5_n"], c["label5_correct"]) == (2, 1)
    assert (c["label3_n"], c["label3_correct"]) == (2, 2)
    assert (c["micro_on_blink"], c["micro_on_head"]) == (1, 1)
    still = score_recording(
        [ev(1, 2)], {"events": []}, True, {"face_frames": 50, "quiet_frames": 45}
    )
    assert (still["still_events"], still["still_quiet_frames"], still["micro_fp"]) == (1, 45, 0)
    rows = [
        {"model": "m", "generator": "g", "fps": 30.0, "still": False, "counts": c},
        {"model": "m", "generator": "g", "fps": 200.0, "still": False, "counts": c},
        {"model": "m", "generator": "g", "fps": 30.0, "still": True, "counts": still},
    ]
    summary = aggregate(rows)["m"]
    assert list(summary) == ["g 30 fps", "g 200 fps", "g still", "all"]
    total = summary["all"]
    assert (total["micro_tp"], total["micro_fp"], total["micro_fn"]) == (4, 8, 2)
    assert total["micro_f1"] == pytest.approx(8 / 18)
    assert total["micro_precision"] == pytest.approx(4 / 12)
    assert total["label5_accuracy"] == pytest.approx(0.5)
    assert total["still_quiet_share"] == pytest.approx(0.9)
    assert "| all | 3 | 4 | 8 | 2 | 0.33 | 0.67 | 0.44 | 1.00 |" in format_markdown(aggregate(rows))


def test_overlap_and_label_helpers() -> None:
    assert overlapping([(0, 4), (5, 9), (20, 30)], [(4, 5)]) == 2
    assert overlapping([(0, 3)], [(4, 5)]) == 0
    assert label3("repression") == "negative" and label3("others") is None
    assert label3("positive") == "positive" and label3("") is None


def test_event_log_keeps_finished_events_and_the_end_closes_open_ones() -> None:
    """Events from the node's own event logic: a short segment ends with an OFFSET; one still
    open at the end of the stream is closed (reset, as Pipeline.finish does) at its last frame
    with the APEX's label."""
    det = EventDetector(EventConfig(class_names=("a", "b")))
    log = EventLog()
    scores = np.zeros(60)
    scores[10:16] = 0.9
    scores[50:] = np.linspace(0.9, 0.7, 10)  # still above the off threshold at the end
    stamps = NS + np.arange(60) * (NS // 30)
    for ns, s in zip(stamps, scores, strict=True):
        for e in det.update(int(ns), float(s), (0.2, 0.8)):
            log.add("f", e)
    assert len(log.finished) == 1
    for e in det.reset():
        log.add("f", e)
    (_, first, t1), (_, last, t2) = log.finished
    assert first.phase == last.phase == Phase.OFFSET and not t1 and t2
    assert first.kind == last.kind == EventKind.MICRO
    assert last.onset_ns == stamps[50] and last.offset_ns == stamps[-1] and last.label == "b"
