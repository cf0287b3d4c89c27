"""Synthetic training and validation data: rendered clips measured by the pipeline's own front
end (:func:`~me_perception.learning.preparation.prepare_clip`), cached on disk.

Why a cache: measuring is the expensive part (about 150 frames/s on a free core, far less on a
busy one), and the leave-one-identity-out folds and the final model reuse the same videos. A
prepared video is stored as one ``.npz`` keyed by *everything* it depends on: identity,
generator, subject, seed, the clip settings, the JPEG quality, the model input (size, channels,
classes), the blink label, the motion and front-end settings, and a digest of the source files
of the renderer and of the measurement. Change any of them and the video is prepared again.

Seeds and subjects: clip ``j`` of subject ``s`` uses generator seed ``seed * 1000 + j``
(``seed=1`` -> 1000, 1001, ...). Held-out evaluation sets use subject ids >= 100
(``tools.eval_set.HELDOUT_SUBJECT_BASE``), so training keeps to small ids. The shipped sample
(astronaut, subject 0, seed 4) is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from me_perception.learning.preparation import PreparedVideo, prepare_clip
from me_perception.learning.synthetic import ClipConfig, make_clip
from me_perception.perception.front_end import FrontEndConfig
from me_perception.perception.motion import MotionConfig

__all__ = ["PREP_VERSION", "SyntheticDataConfig", "cache_key", "make_synthetic_videos"]

#: bump when the prepared-video format changes
PREP_VERSION = 2
#: what the shipped sample recording is made of (never used for training or selection)
SAMPLE_CLIP = ("astronaut", 0, 4)
_ROOT = Path(__file__).resolve().parents[1]
_SOURCES = (
    "learning/preparation.py",
    "learning/synthetic",
    "perception/motion.py",
    "perception/measurement.py",
    "perception/front_end.py",
    "perception/face_alignment.py",
    "perception/face_regions.py",
    "perception/face_tracking.py",
    "perception/detection",
    "perception/image_decoding.py",
)


@dataclass(frozen=True)
class SyntheticDataConfig:
    """Which synthetic clips to render: one identity, one generator, one clip setting."""

    subjects: tuple[int, ...] = (1, 2, 3, 4)
    clips_per_subject: int = 2
    clip: ClipConfig = field(
        default_factory=lambda: ClipConfig(
            fps=30.0, duration_s=6.0, width=320, height=240, face_fraction=0.45
        )
    )
    seed: int = 1
    identity: str = "astronaut"
    generator: str = "ours"
    jpeg_quality: int = 80
    """JPEG quality of the camera round trip (the shipped sample uses 80); 0 = raw frames."""

    def clips(self) -> list[tuple[int, int]]:
        """(subject id, generator seed) of every clip, in order."""
        return [
            (s, self.seed * 1000 + j) for s in self.subjects for j in range(self.clips_per_subject)
        ]


def _source_digest() -> str:
    h = hashlib.sha256()
    for rel in _SOURCES:
        p = _ROOT / rel
        for f in sorted(p.rglob("*.py")) if p.is_dir() else [p]:
            h.update(f.relative_to(_ROOT).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def cache_key(
    data: SyntheticDataConfig, subject: int, seed: int, model_cfg: Any, blink_label: str
) -> str:
    """Digest of everything one prepared clip depends on (see the module docstring)."""
    spec = {
        "version": PREP_VERSION,
        "identity": data.identity,
        "generator": data.generator,
        "subject": subject,
        "seed": seed,
        "clip": asdict(data.clip),
        "jpeg": data.jpeg_quality,
        "input": [model_cfg.crop_size, model_cfg.in_channels, list(model_cfg.classes)],
        "blink_label": blink_label,
        "motion": asdict(MotionConfig()),
        "front_end": asdict(FrontEndConfig()),
        "sources": _source_digest(),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def _save(path: Path, v: PreparedVideo) -> None:
    meta = {
        "subject": v.subject,
        "video": v.video,
        "fps": v.fps,
        "identity": v.identity,
        "events": [list(e) for e in v.events],
    }
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(
        tmp,
        inputs=v.inputs,
        spot=v.spot_target,
        cls=v.class_target,
        inten=v.intensity_target,
        head=v.head_moving,
        meta=np.array(json.dumps(meta)),
    )
    tmp.replace(path)


def _load(path: Path) -> PreparedVideo:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        events = [
            (int(a), int(b), int(c), str(k), int(i), float(x))
            for a, b, c, k, i, x in meta["events"]
        ]
        return PreparedVideo(
            meta["subject"], meta["video"], float(meta["fps"]), z["inputs"], z["spot"], z["cls"],
            z["inten"], events, z["head"], meta["identity"],
        )  # fmt: skip


def make_synthetic_videos(
    data: SyntheticDataConfig | Sequence[SyntheticDataConfig],
    model_cfg: Any,
    blink_label: str = "neutral",
    log: Callable[[str], None] | None = None,
    cache_dir: str | Path | None = None,
) -> list[PreparedVideo]:
    """Render and prepare clips (deterministic for the configs); several configs are
    concatenated in order. With ``cache_dir`` each prepared clip is read from / written to
    ``cache_dir/<clip id>-<key>.npz``; ``log`` (print-like) reports progress."""
    configs = [data] if isinstance(data, SyntheticDataConfig) else list(data)
    if any((d.identity, *c) == SAMPLE_CLIP for d in configs for c in d.clips()):
        raise ValueError("astronaut subject 0 seed 4 is the shipped sample: not for training")
    out = []
    for d in configs:
        for subject, seed in d.clips():
            path = None
            if cache_dir is not None:
                key = cache_key(d, subject, seed, model_cfg, blink_label)[:16]
                name = f"{d.identity}-{d.generator}-{d.clip.fps:g}fps-s{subject:03d}-{seed}"
                path = Path(cache_dir) / f"{name}-{key}.npz"
                if path.is_file():
                    out.append(_load(path))
                    continue
            clip = make_clip(
                d.clip, subject_id=subject, seed=seed, identity=d.identity, generator=d.generator
            )
            video = prepare_clip(clip, model_cfg, blink_label, d.jpeg_quality, identity=d.identity)
            video.video = f"{clip.clip_id}_{d.generator}_{d.clip.fps:g}fps"  # unique across sets
            if log is not None:
                n_in, n_all = len(video.inputs), len(clip.frames)
                log(f"{video.video}: {n_in}/{n_all} frames from the first tracked one")
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                _save(path, video)
            out.append(video)
    return out
