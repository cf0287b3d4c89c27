"""Our synthetic clips on disk: writer and loader.

Why: training and evaluation read real data sets from folders of images plus annotation
sheets; writing synthetic clips the same way (frames + one JSON of ground truth) lets them go
through the very same :class:`LongVideo` code path, and lets a set be generated once and
reused.

Layout::

    <root>/<subject>/<clip_id>/000000.png ... (or .jpg)
    <root>/<subject>/<clip_id>/ground_truth.json

``ground_truth.json`` (format ``me_perception.synthetic/1``)::

    {"format": "me_perception.synthetic/1", "fps": 30.0, "subject": "syn01",
     "clip_id": "syn01_0000", "n_frames": 180, "frame_files": ["000000.png", ...],
     "stamps": [0.0, ...], "iod_px": 65.2,
     "events": [{"kind": "micro", "onset": 86, "apex": 89, "offset": 91, "onset_s": 2.89,
                 "apex_s": 2.97, "offset_s": 3.03, "label5": "surprise",
                 "label3": "surprise", "aus": ["AU1", "AU2"], "intensity": 0.37}, ...],
     "face_boxes": [[x, y, w, h], ...], "landmark_names": [...],
     "landmarks": [[[x, y], ...], ...], "meta": {...}}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from me_perception.learning.synthetic import (
    ClipConfig,
    Event,
    SyntheticClip,
    SyntheticFaceGenerator,
)

from .common import DatasetFormatError, Interval, LongVideo
from .frames import load_frames

FORMAT = "me_perception.synthetic/1"
GT_NAME = "ground_truth.json"


def write_clip(clip: SyntheticClip, root: Path, image_ext: str = ".png") -> Path:
    """Write frames and ground truth under ``root/<subject>/<clip_id>``; returns the folder."""
    folder = Path(root) / clip.subject / clip.clip_id
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, f in enumerate(clip.frames):
        name = f"{i:06d}{image_ext}"
        if not cv2.imwrite(str(folder / name), f):
            raise OSError(f"{folder / name}: cannot write image")
        names.append(name)
    gt = {
        "format": FORMAT,
        "fps": clip.fps,
        "subject": clip.subject,
        "clip_id": clip.clip_id,
        "n_frames": len(clip.frames),
        "frame_files": names,
        "stamps": [float(s) for s in clip.stamps],
        "iod_px": clip.iod_px,
        "events": [e.to_dict() for e in clip.events],
        "face_boxes": np.round(clip.face_boxes, 3).tolist(),
        "landmark_names": list(clip.landmark_names),
        "landmarks": np.round(clip.landmarks, 3).tolist(),
        "meta": clip.meta,
    }
    tmp = folder / (GT_NAME + ".tmp")
    tmp.write_text(json.dumps(gt, indent=1))
    tmp.replace(folder / GT_NAME)
    return folder


def _read_gt(folder: Path) -> dict:
    path = Path(folder) / GT_NAME
    try:
        gt = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: not found") from None
    except json.JSONDecodeError as exc:
        raise DatasetFormatError(f"{path}: invalid JSON ({exc})") from exc
    if gt.get("format") != FORMAT:
        raise DatasetFormatError(f"{path}: format {gt.get('format')!r}, expected {FORMAT!r}")
    for key in ("fps", "subject", "clip_id", "n_frames", "frame_files", "events"):
        if key not in gt:
            raise DatasetFormatError(f"{path}: missing key {key!r}")
    n = int(gt["n_frames"])
    if len(gt["frame_files"]) != n:
        raise DatasetFormatError(f"{path}: {len(gt['frame_files'])} frame files for n_frames={n}")
    for i, e in enumerate(gt["events"]):
        try:
            ev = Event.from_dict(e)
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetFormatError(f"{path}: event {i}: {exc!r}") from exc
        if not 0 <= ev.onset <= ev.apex <= ev.offset < n:
            raise DatasetFormatError(
                f"{path}: event {i}: frames {ev.onset}/{ev.apex}/{ev.offset} invalid for {n} frames"
            )
        if ev.kind not in ("micro", "macro", "blink", "head"):
            raise DatasetFormatError(f"{path}: event {i}: unknown kind {ev.kind!r}")
    missing = [f for f in gt["frame_files"] if not (Path(folder) / f).is_file()]
    if missing:
        raise DatasetFormatError(
            f"{path}: {len(missing)} frame file(s) missing, first {missing[0]}"
        )
    return gt


def read_clip(folder: Path) -> SyntheticClip:
    """Load one clip written by :func:`write_clip` (frames decoded into memory)."""
    folder = Path(folder)
    gt = _read_gt(folder)
    frames = load_frames(folder / f for f in gt["frame_files"])
    n = int(gt["n_frames"])
    return SyntheticClip(
        frames=frames,
        stamps=np.asarray(gt.get("stamps", np.arange(n) / gt["fps"]), np.float64),
        fps=float(gt["fps"]),
        subject=str(gt["subject"]),
        clip_id=str(gt["clip_id"]),
        events=[Event.from_dict(e) for e in gt["events"]],
        face_boxes=np.asarray(gt.get("face_boxes", np.zeros((n, 4))), np.float64),
        landmarks=np.asarray(gt.get("landmarks", np.zeros((n, 0, 2))), np.float64),
        landmark_names=tuple(gt.get("landmark_names", ())),
        iod_px=float(gt.get("iod_px", 0.0)),
        meta=dict(gt.get("meta", {})),
    )


def load_synthetic(root: Path) -> list[LongVideo]:
    """All clips under ``root`` as :class:`LongVideo` records (frames as paths, lazily read).

    ``extra`` carries ``face_boxes`` (T, 4), ``landmarks`` (T, K, 2) with ``landmark_names``,
    ``stamps`` and ``iod_px`` so training can align the face without running the detector.
    """
    root = Path(root)
    out = []
    for gt_path in sorted(root.glob(f"*/*/{GT_NAME}")):
        folder = gt_path.parent
        gt = _read_gt(folder)
        n = int(gt["n_frames"])
        out.append(
            LongVideo(
                dataset="synthetic",
                subject=str(gt["subject"]),
                video=str(gt["clip_id"]),
                frames=[folder / f for f in gt["frame_files"]],
                fps=float(gt["fps"]),
                intervals=[
                    Interval(
                        onset=e.onset,
                        apex=e.apex,
                        offset=e.offset,
                        kind=e.kind,
                        emotion=e.label5 or "",
                        label5=e.label5,
                        label3=e.label3,
                        aus="+".join(e.aus),
                        intensity=e.intensity,
                    )
                    for e in (Event.from_dict(d) for d in gt["events"])
                    # Head movements are rigid motion, not expressions: neutral for training
                    # (read_clip keeps them for evaluation against distractors).
                    if e.kind != "head"
                ],
                extra={
                    "face_boxes": np.asarray(gt.get("face_boxes", np.zeros((n, 4))), np.float64),
                    "stamps": np.asarray(gt.get("stamps", np.arange(n) / gt["fps"])),
                    "iod_px": float(gt.get("iod_px", 0.0)),
                    "landmarks": np.asarray(gt.get("landmarks", np.zeros((n, 0, 2))), np.float64),
                    "landmark_names": tuple(gt.get("landmark_names", ())),
                },
            )
        )
    if not out:
        raise DatasetFormatError(f"{root}: no */*/{GT_NAME} found")
    return out


def write_dataset(
    root: Path,
    subjects: Sequence[int],
    clips_per_subject: int,
    config: ClipConfig,
    seed: int = 0,
    image_ext: str = ".png",
) -> list[Path]:
    """Render and write a synthetic data set (deterministic for ``seed``); returns clip folders.

    Clip ``j`` of subject ``s`` uses generator seed ``seed * 1000 + j``, as
    ``training.make_synthetic_videos`` does, so an on-disk set and an in-memory one agree.
    """
    gen = SyntheticFaceGenerator()
    out = []
    for s in subjects:
        for j in range(clips_per_subject):
            clip = gen.render(config, subject_id=int(s), seed=seed * 1000 + j)
            out.append(write_clip(clip, root, image_ext))
    return out
