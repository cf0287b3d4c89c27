"""Evaluate a model *through the real pipeline* on synthetic recordings of held-out subjects,
and calibrate the node's event thresholds.

    me_perception_pipeline_eval --model DIR [--subjects 7 8 9] [--seeds 2000]

Why: the training report scores the network on crops prepared by the training code. What a
user gets is the node: JPEG frames -> Haar/O-Net front end -> tracker -> alignment -> network
step -> ``events.EventDetector`` on p_micro with on/off hysteresis. This tool renders sample-like
recordings (``sample_recording.make_sample``: 10 s, 640x480, 30 fps, three micro-expressions,
one macro, blinks, head motion) for subjects and seeds the model was *not* trained on, runs
the same :class:`~me_perception.perception.pipeline.Pipeline` the offline tool runs, and replays the
per-frame scores through the event logic for several (on, off) threshold pairs (the events
depend only on the per-frame scores, so one pipeline pass serves every pair). It reports
MEGC spotting TP/FP/FN (IoU >= 0.5, per kind, as ``me_perception_offline`` does) and how many
reported micro-expressions overlap a blink.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from me_perception.learning.metrics import SpotVideo, evaluate_spotting
from me_perception.perception.events import EventConfig, EventDetector, Phase
from me_perception.perception.image_decoding import DecodeConfig
from me_perception.perception.pipeline import Pipeline, PipelineConfig
from me_perception.perception.stamps import nearest_index
from me_perception.perception.stream_clock import StampKind
from me_perception.recording.bag_io import ImageStream

__all__ = ["evaluate", "replay_events", "run_scores"]


def run_scores(bag: Path, model: str, backend: str = "onnxruntime") -> dict:
    """One pipeline pass: frame stamps and, per face, (stamp, p_micro, class probs)."""
    pipe = Pipeline(PipelineConfig(model_path=model, backend=backend, num_threads=1))
    stamps: list[int] = []
    faces: dict[str, list[tuple[int, float, tuple[float, ...]]]] = {}
    try:
        for frame in ImageStream(bag):
            stamps.append(frame.stamp_ns)
            result = pipe.process(frame.decode(DecodeConfig()), frame.stamp_ns, frame.frame_id)
            for f in result.faces if result.stamp_kind is not StampKind.DUPLICATE else ():
                if f.valid:
                    faces.setdefault(f.face_id, []).append(
                        (frame.stamp_ns, f.spotting_score, f.class_probabilities)
                    )
    finally:
        pipe.close()
    return {"stamps": np.asarray(stamps, np.int64), "faces": faces}


def replay_events(scores: dict, config: EventConfig) -> list[tuple[int, int, str]]:
    """Finished events (onset frame, offset frame, kind) the node would report."""
    stamps = scores["stamps"]
    out = []
    for series in scores["faces"].values():
        det = EventDetector(config)
        evs = []
        for ns, score, probs in series:
            evs += det.update(ns, score, probs)
        evs += det.reset()
        for ev in evs:
            if ev.phase == Phase.OFFSET and ev.offset_ns >= ev.onset_ns > 0:
                a, b = nearest_index(stamps, ev.onset_ns), nearest_index(stamps, ev.offset_ns)
                out.append((a, b, ev.kind.value))
    return out


def evaluate(
    recordings: Sequence[tuple[dict, dict]], pairs: Sequence[tuple[float, float]]
) -> list[dict]:
    """Spotting counts per (on, off) pair over ``(scores, ground truth)`` recordings."""
    rows = []
    for on, off in pairs:
        cfg = EventConfig(on_threshold=on, off_threshold=off)
        videos, blink_hits = [], 0
        for scores, gt in recordings:
            pred = replay_events(scores, cfg)
            blinks = [(e["onset"], e["offset"]) for e in gt["events"] if e["kind"] == "blink"]
            blink_hits += sum(
                1
                for a, b, k in pred
                if k == "micro" and any(a <= bo and b >= ba for ba, bo in blinks)
            )
            gt_iv = [
                (int(e["onset"]), int(e["offset"]), e["kind"])
                for e in gt["events"]
                if e["kind"] in ("micro", "macro")
            ]
            videos.append(SpotVideo(str(gt["subject"]), str(gt["clip_id"]), gt_iv, pred))
        ev = evaluate_spotting(videos)["overall"]
        rows.append({"on": on, "off": off, "micro_on_blink": blink_hits, **ev})
    return rows
