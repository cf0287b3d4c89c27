"""Held-out evaluation sets: sample-like recordings of one identity the model never saw.

    me_perception_make_eval_set OUT_DIR --identity astronaut --count 3 --fps 30 200 \\
        --generator ours independent --stills 2 --seed 1000

Why: a model is judged on what the node does with recordings like the shipped sample, of a
face it was not trained on. This writes, for each generator x frame rate x ``i < count``, a
recording made as the sample is (``tools.sample_recording``: 640x480 JPEG q80 in an mcap
rosbag2, ``ground_truth.json`` beside it; three micro-expressions, one macro-expression,
blinks, head sway and, where the generator supports it, one discrete head movement), plus
``stills`` still recordings (the identity's neutral face: no event, normal sensor noise and
slight sway; 30 fps). ``manifest.json`` lists every recording; ``me_perception_pipeline_eval``
reads it.

Subject ids (the generator's per-person variation): recording ``i`` is subject
``HELDOUT_SUBJECT_BASE + i`` at every frame rate and generator (the same person seen at 30 and
200 fps); still ``j`` is subject ``HELDOUT_SUBJECT_BASE + j``. Training uses small ids
(``me_perception_train --first-subject 1 --subjects N``, N well below 100), so held-out subjects
never coincide with training subjects as long as training stays below the base. Seeds:
recording ``i`` uses ``seed + i``; still ``j`` uses ``seed + STILL_SEED_OFFSET + j``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from me_perception.learning.synthetic import ClipConfig, SyntheticClip, make_clip
from me_perception.tools.sample_recording import sample_config, write_recording

__all__ = [
    "HELDOUT_SUBJECT_BASE",
    "STILL_SEED_OFFSET",
    "EvalSetConfig",
    "make_eval_set",
    "read_manifest",
    "recording_config",
    "render",
    "still_config",
]

#: first subject id of held-out recordings (training uses ids below it)
HELDOUT_SUBJECT_BASE = 100
#: still recordings draw their seeds from here on (seed + offset + j), apart from the clips'
STILL_SEED_OFFSET = 500
MANIFEST = "manifest.json"
Say = Callable[[str], None] | None


@dataclass(frozen=True)
class EvalSetConfig:
    """What to write. ``generators`` and ``identity`` go to ``make_clip`` as keywords."""

    identity: str = "astronaut"
    count: int = 3
    fps: tuple[float, ...] = (30.0, 200.0)
    generators: tuple[str, ...] = ("ours",)
    stills: int = 2
    seed: int = 1000
    seconds: float = 10.0
    still_seconds: float = 10.0
    still_fps: float = 30.0
    jpeg_quality: int = 80


def recording_config(seconds: float, fps: float) -> ClipConfig:
    """The sample's clip settings plus one discrete head movement."""
    return replace(sample_config(seconds, fps), n_head=1)


def still_config(seconds: float, fps: float) -> ClipConfig:
    """A neutral face: no expression, blink or head movement; noise and a slight sway."""
    return ClipConfig(
        fps=fps,
        duration_s=seconds,
        n_micro=0,
        n_macro=0,
        n_head=0,
        blink_rate_hz=0.0,
        head_translation_px=1.5,
        head_rotation_deg=0.5,
    )


def render(
    cfg: ClipConfig, subject_id: int, seed: int, identity: str, generator: str
) -> SyntheticClip:
    """``make_clip`` of one identity and generator (unknown names are refused there)."""
    return make_clip(cfg, subject_id=subject_id, seed=seed, identity=identity, generator=generator)


def _fps_name(fps: float) -> str:
    return f"{fps:g}fps"


def _write(
    out: Path, rel: str, clip: SyntheticClip, row: dict, cfg: EvalSetConfig, say: Say
) -> dict:
    desc = (
        f"held-out evaluation recording: identity {row['identity']}, generator "
        f"{row['generator']}, subject {row['subject_id']}; made by me_perception_make_eval_set"
    )
    extra = {k: row[k] for k in ("identity", "generator", "still", "subject_id")}
    write_recording(clip, out / rel, row["seed"], cfg.jpeg_quality, desc, extra)
    if say is not None:
        say(f"wrote {rel} ({len(clip.stamps)} frames, {len(clip.events)} events)")
    return {"path": rel, **row}


def make_eval_set(out_dir: str | Path, cfg: EvalSetConfig, say: Say = None) -> Path:
    """Render and write every recording and ``manifest.json``; returns the manifest path.

    ``out_dir`` must not exist or be empty (a half-written set is never mistaken for a whole).
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    for g in cfg.generators:  # fail before rendering anything
        render(still_config(0.2, 10.0), HELDOUT_SUBJECT_BASE, cfg.seed, cfg.identity, g)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for g in cfg.generators:
        for fps in cfg.fps:
            for i in range(cfg.count):
                row = _row(cfg, g, fps, False, cfg.seed + i, HELDOUT_SUBJECT_BASE + i)
                clip_cfg = recording_config(cfg.seconds, fps)
                clip = render(clip_cfg, row["subject_id"], row["seed"], cfg.identity, g)
                rel = f"{g}/{_fps_name(fps)}/{cfg.identity}_{i:03d}"
                rows.append(_write(out, rel, clip, row, cfg, say))
        for j in range(cfg.stills):
            seed = cfg.seed + STILL_SEED_OFFSET + j
            row = _row(cfg, g, cfg.still_fps, True, seed, HELDOUT_SUBJECT_BASE + j)
            clip_cfg = still_config(cfg.still_seconds, cfg.still_fps)
            clip = render(clip_cfg, row["subject_id"], seed, cfg.identity, g)
            rows.append(_write(out, f"{g}/still/{cfg.identity}_still_{j:02d}", clip, row, cfg, say))
    manifest = {
        "identity": cfg.identity,
        "seed": cfg.seed,
        "seconds": cfg.seconds,
        "subject_rule": f"recording i / still j: subject {HELDOUT_SUBJECT_BASE} + i / + j",
        "recordings": rows,
    }
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def _row(cfg: EvalSetConfig, g: str, fps: float, still: bool, seed: int, subject: int) -> dict:
    return {
        "identity": cfg.identity,
        "generator": g,
        "fps": float(fps),
        "still": still,
        "seed": seed,
        "subject_id": subject,
    }


def read_manifest(eval_dir: str | Path) -> list[dict]:
    """The manifest's recordings, each with ``bag`` (absolute path) added."""
    root = Path(eval_dir)
    path = root / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: make the set with me_perception_make_eval_set")
    rows: Sequence[dict] = json.loads(path.read_text())["recordings"]
    return [{**r, "bag": str(root / r["path"])} for r in rows]
