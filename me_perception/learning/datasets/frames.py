"""Frame files of the data sets: numbering, listing, the frames of a clip, loading images."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .common import DatasetFormatError


def frame_number(p: Path) -> int | None:
    """Trailing integer of a file stem ('img46' -> 46, '006_05562' -> 5562)."""
    m = re.search(r"(\d+)$", p.stem)
    return int(m.group(1)) if m else None


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def list_frames(folder: Path) -> dict[int, Path]:
    """Frame number -> path for the images in a folder (numeric, not lexical, order)."""
    out: dict[int, Path] = {}
    if not folder.is_dir():
        return out
    for p in folder.iterdir():
        if p.suffix.lower() in IMAGE_SUFFIXES:
            n = frame_number(p)
            if n is not None:
                out[n] = p
    return out


def clip_frames(folder: Path, onset: int, offset: int, where: str) -> list[Path]:
    """The image files of frames ``onset..offset`` (inclusive) in ``folder``; ``where`` (e.g.
    "sheet.xlsx: row 7") prefixes the error when the folder or a frame is missing."""
    avail = list_frames(folder)
    if not avail:
        raise DatasetFormatError(f"{where}: clip folder {folder} missing or has no images")
    missing = [n for n in range(onset, offset + 1) if n not in avail]
    if missing:
        raise DatasetFormatError(
            f"{where}: {len(missing)} frame(s) missing in {folder}, first {missing[0]}"
        )
    return [avail[n] for n in range(onset, offset + 1)]


def load_frames(paths: Iterable[Path], size: tuple[int, int] | None = None) -> np.ndarray:
    """Read images (BGR uint8) into one (T, H, W, 3) array, optionally resized to (w, h)."""
    import cv2

    out = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise DatasetFormatError(f"{p}: cannot decode image")
        if size is not None and (img.shape[1], img.shape[0]) != tuple(size):
            img = cv2.resize(img, tuple(size), interpolation=cv2.INTER_AREA)
        out.append(img)
    if not out:
        return np.zeros((0, 0, 0, 3), np.uint8)
    return np.stack(out)
