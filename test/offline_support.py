"""Small bags and models for the offline and replay tests (made once per test session)."""

from __future__ import annotations

import json
from pathlib import Path

from me_perception.learning.synthetic import ClipConfig, make_clip
from me_perception.perception.stamps import s_to_ns
from me_perception.recording.bag_io import write_image_bag
from me_perception.tools.sample_recording import START_NS


def make_test_bag(path: Path, seconds: float = 2.5, compressed: bool = True) -> Path:
    """A short synthetic recording (one micro-expression, head motion) with ground truth."""
    clip = make_clip(
        ClipConfig(
            duration_s=seconds,
            width=480,
            height=360,
            n_micro=1,
            n_macro=0,
            micro_intensity=(0.3, 0.45),  # clearly visible: these tests check bookkeeping
        ),
        subject_id=2,
        seed=5,
    )
    stamps = [START_NS + s_to_ns(s) for s in clip.stamps]
    write_image_bag(path, clip.frames, stamps, compressed=compressed)
    truth = {
        "fps": clip.fps,
        "start_stamp_ns": START_NS,
        "events": [e.to_dict() for e in clip.events],
    }
    (path / "ground_truth.json").write_text(json.dumps(truth))
    return path
