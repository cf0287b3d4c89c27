"""The held-out pipeline evaluation replays the node's event logic on per-frame scores."""

from __future__ import annotations

import numpy as np

from me_perception.perception.events import EventConfig
from me_perception.tools.pipeline_eval import evaluate, replay_events

NS = 1_000_000_000


def _scores(p_micro: np.ndarray) -> dict:
    stamps = (NS + np.arange(len(p_micro)) * (NS // 30)).astype(np.int64)
    series = [(int(s), float(p), (0.5, 0.5)) for s, p in zip(stamps, p_micro, strict=True)]
    return {"stamps": stamps, "faces": {"f1": series}}


def test_replay_reports_micro_and_long_runs_as_macro():
    p = np.zeros(120)
    p[10:16] = 0.9  # 0.2 s: micro
    p[40:70] = 0.9  # 1 s: too long for a micro-expression
    events = replay_events(_scores(p), EventConfig())
    kinds = sorted(k for _, _, k in events)
    assert kinds == ["macro", "micro"]
    micro = next(e for e in events if e[2] == "micro")
    assert abs(micro[0] - 10) <= 1 and abs(micro[1] - 16) <= 1


def test_threshold_table_counts_hits_false_alarms_and_blinks():
    p = np.zeros(120)
    p[10:16] = 0.9  # hits the micro-expression
    p[90:95] = 0.55  # on a blink, only above a low threshold
    gt = {
        "subject": "s",
        "clip_id": "c",
        "events": [
            {"kind": "micro", "onset": 10, "offset": 15},
            {"kind": "blink", "onset": 89, "offset": 96},
        ],
    }
    rows = evaluate([(_scores(p), gt)], [(0.6, 0.4), (0.5, 0.3)])
    strict, loose = rows
    assert strict["micro"]["tp"] == 1 and strict["micro"]["fp"] == 0
    assert strict["micro_on_blink"] == 0
    assert loose["micro"]["fp"] == 1 and loose["micro_on_blink"] == 1
