"""The shipped sample recording: a real face photograph animated by the synthetic generator,
written as a rosbag2 (mcap, CompressedImage) with its ground truth beside the bag files.

    me_perception_make_sample OUT_DIR [--seconds 10] [--fps 30] [--seed 4]

The recording in ``me_perception/resources/sample/`` was made with the defaults; the README's
main job processes it. Ground truth (``ground_truth.json``): the generator's events with
onset/apex/offset frame indices and stamps, kind (micro / macro / blink), labels and intensity.
"""

from __future__ import annotations

import json
from pathlib import Path

from rosbags.rosbag2 import StoragePlugin

from me_perception.learning.synthetic import SyntheticClip, make_clip, sample_config
from me_perception.perception.stamps import s_to_ns
from me_perception.recording.bag_io import write_image_bag

__all__ = [
    "SAMPLE_DIR",
    "SAMPLE_TOPIC",
    "START_NS",
    "make_sample",
    "sample_config",
    "write_recording",
]

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "resources" / "sample"
SAMPLE_TOPIC = "/camera/image_raw"
#: header stamp of the first frame (2023-11-14T22:13:20Z): a plausible wall-clock time
START_NS = 1_700_000_000_000_000_000
SAMPLE_DESCRIPTION = (
    "synthetic micro-expressions on a real face photograph "
    "(scikit-image astronaut); made by me_perception_make_sample"
)


def make_sample(
    out_dir: str | Path,
    seconds: float = 10.0,
    fps: float = 30.0,
    seed: int = 4,
    subject_id: int = 0,
    jpeg_quality: int = 80,
) -> Path:
    """Render the clip and write ``out_dir`` (a bag directory plus ground_truth.json)."""
    clip = make_clip(sample_config(seconds, fps), subject_id=subject_id, seed=seed)
    return write_recording(clip, out_dir, seed, jpeg_quality=jpeg_quality)


def write_recording(
    clip: SyntheticClip,
    out_dir: str | Path,
    seed: int,
    jpeg_quality: int = 80,
    description: str = SAMPLE_DESCRIPTION,
    extra: dict | None = None,
) -> Path:
    """Write a rendered clip as the sample is written: a bag directory (mcap, CompressedImage
    JPEG on :data:`SAMPLE_TOPIC`) with ``ground_truth.json`` beside the bag files. Shared by
    the sample and the held-out evaluation sets (``tools.eval_set``) so both read alike."""
    stamps = [START_NS + s_to_ns(s) for s in clip.stamps]
    out = Path(out_dir)
    write_image_bag(
        out,
        clip.frames,
        stamps,
        topic=SAMPLE_TOPIC,
        compressed=True,
        storage=StoragePlugin.MCAP,
        frame_id="camera_optical_frame",
        jpeg_quality=jpeg_quality,
    )
    truth = {
        "description": description,
        "topic": SAMPLE_TOPIC + "/compressed",
        "fps": clip.fps,
        "frames": len(stamps),
        "start_stamp_ns": START_NS,
        "subject": clip.subject,
        "clip_id": clip.clip_id,
        "seed": seed,
        **(extra or {}),
        "events": [e.to_dict() for e in clip.events],
    }
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return out
