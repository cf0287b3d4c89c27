"""Recognition and MEGC spotting metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from me_perception.learning import metrics as M

LABELS = ["positive", "negative", "surprise"]


def test_recognition_hand_computed():
    # true: P P P N N S ; pred: P P N N S S
    t = ["positive"] * 3 + ["negative"] * 2 + ["surprise"]
    p = ["positive", "positive", "negative", "negative", "surprise", "surprise"]
    cm = M.confusion_matrix(t, p, LABELS)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert M.accuracy(t, p) == pytest.approx(4 / 6)
    # F1: P = 2*2/(4+0+1) = 0.8 ; N = 2*1/(2+1+1) = 0.5 ; S = 2*1/(2+1+0) = 2/3
    assert M.per_class_f1(t, p, LABELS) == pytest.approx(
        {"positive": 0.8, "negative": 0.5, "surprise": 2 / 3}
    )
    assert M.uf1(t, p, LABELS) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    # recall: 2/3, 1/2, 1
    assert M.uar(t, p, LABELS) == pytest.approx((2 / 3 + 0.5 + 1) / 3)


def test_all_wrong_and_all_right():
    t = ["positive", "negative", "surprise"]
    p = ["negative", "surprise", "positive"]
    assert M.accuracy(t, p) == 0 and M.uf1(t, p, LABELS) == 0 and M.uar(t, p, LABELS) == 0
    assert M.uf1(t, t, LABELS) == 1 and M.uar(t, t, LABELS) == 1


def test_class_absent_from_ground_truth_is_left_out_of_the_means():
    t = ["positive", "positive", "negative"]
    p = ["positive", "surprise", "negative"]  # 'surprise' predicted but never true
    # Classes in the mean: positive (F1 = 2/3, recall 1/2) and negative (F1 = 1, recall 1).
    assert M.uf1(t, p, LABELS) == pytest.approx((2 / 3 + 1) / 2)
    assert M.uar(t, p, LABELS) == pytest.approx((0.5 + 1) / 2)
    assert "surprise" not in M.per_class_f1(t, p, LABELS)
    assert M.confusion_matrix(t, p, LABELS)[:, 2].sum() == 1


def test_empty_inputs_give_nan_and_length_mismatch_raises():
    assert math.isnan(M.accuracy([], []))
    assert math.isnan(M.uf1([], [], LABELS)) and math.isnan(M.uar([], [], LABELS))
    assert M.confusion_matrix([], [], LABELS).sum() == 0
    with pytest.raises(ValueError):
        M.accuracy(["a"], [])


def test_report_and_per_subject_table():
    subj = ["s1", "s1", "s2", "s2"]
    t = ["positive", "negative", "surprise", "surprise"]
    p = ["positive", "positive", "surprise", "negative"]
    table = M.per_subject_table(subj, t, p, LABELS)
    assert table["s1"] == pytest.approx(
        {"n": 2, "accuracy": 0.5, "uf1": (2 / 3 + 0) / 2, "uar": 0.5}
    )
    assert table["s2"]["accuracy"] == 0.5 and table["s2"]["uar"] == 0.5
    rep = M.recognition_report(t, p, LABELS)
    assert rep["n"] == 4 and rep["confusion"] == M.confusion_matrix(t, p, LABELS).tolist()
    text = M.format_table(table, ["n", "accuracy", "uf1"])
    assert "| s1 | 2 | 0.5000 | 0.3333 |" in text


def test_interval_iou_inclusive_frames():
    assert M.interval_iou((0, 9), (0, 9)) == 1.0
    assert M.interval_iou((0, 9), (5, 14)) == pytest.approx(5 / 15)
    assert M.interval_iou((0, 9), (10, 19)) == 0.0
    assert M.interval_iou((3, 3), (3, 3)) == 1.0


def test_matching_is_one_to_one_with_threshold():
    gt = [(10, 19), (40, 49)]
    # p0 IoU with gt0 = 1 ; p1 overlaps gt0 with IoU 10/12 but gt0 is taken -> FP
    # p2 with gt1: overlap 45..49 = 5, union 40..54 = 15 -> 1/3 < 0.5 -> FP
    pred = [(10, 19), (9, 20), (45, 54)]
    matches, tp, fp, fn = M.match_intervals(gt, pred)
    assert matches == [(0, 0)] and (tp, fp, fn) == (1, 2, 1)
    # exactly at the threshold counts: overlap 10..19 of union 10..29 -> 0.5
    assert M.match_intervals([(10, 29)], [(10, 19)])[1] == 1
    with pytest.raises(ValueError):
        M.match_intervals([(5, 4)], [])


def test_spotting_aggregated_over_videos_and_kinds():
    v1 = M.SpotVideo(
        "s1",
        "a",
        gt=[(10, 19, "micro"), (50, 99, "macro")],
        pred=[(11, 19, "micro"), (50, 90, "macro"), (200, 210, "micro")],
    )
    v2 = M.SpotVideo("s2", "b", gt=[(0, 9, "micro")], pred=[])
    v3 = M.SpotVideo("s2", "c", gt=[], pred=[(5, 9, "macro")])
    rep = M.evaluate_spotting([v1, v2, v3])
    mic, mac, al = (rep["overall"][k] for k in ("micro", "macro", "all"))
    assert (mic["tp"], mic["fp"], mic["fn"]) == (1, 1, 1)
    assert (mac["tp"], mac["fp"], mac["fn"]) == (1, 1, 0)
    assert (al["tp"], al["fp"], al["fn"]) == (2, 2, 1)
    assert al["precision"] == pytest.approx(0.5) and al["recall"] == pytest.approx(2 / 3)
    assert al["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    s2 = rep["per_subject"]["s2"]["all"]
    assert (s2["tp"], s2["fp"], s2["fn"], s2["f1"]) == (0, 1, 1, 0.0)
    # A micro prediction does not match macro ground truth.
    v4 = M.SpotVideo("s1", "d", gt=[(0, 9, "macro")], pred=[(0, 9, "micro")])
    assert M.spot_counts(v4)["all"] == M.SpotCounts(0, 1, 1)
    assert M.spot_counts(v4, kinds=None)["all"] == M.SpotCounts(1, 0, 0)


def test_spotting_empty_cases():
    no_pred = M.evaluate_spotting([M.SpotVideo("s", "v", gt=[(0, 5, "micro")])])["overall"]["all"]
    assert (no_pred["precision"], no_pred["recall"], no_pred["f1"]) == (0.0, 0.0, 0.0)
    no_gt = M.evaluate_spotting([M.SpotVideo("s", "v", pred=[(0, 5, "micro")])])["overall"]["all"]
    assert (no_gt["fp"], no_gt["precision"], no_gt["recall"], no_gt["f1"]) == (1, 0.0, 0.0, 0.0)
    nothing = M.evaluate_spotting([M.SpotVideo("s", "v")])["overall"]["all"]
    assert nothing["tp"] == nothing["fp"] == nothing["fn"] == 0 and math.isnan(nothing["f1"])
    assert math.isnan(M.evaluate_spotting([])["overall"]["all"]["f1"])


def test_confusion_matrix_infers_labels():
    cm = M.confusion_matrix(["b", "a"], ["a", "a"])
    assert np.array_equal(cm, [[1, 0], [1, 0]])
