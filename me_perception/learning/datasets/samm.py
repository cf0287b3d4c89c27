"""SAMM loader (Davison et al. 2018; 200 fps, 32 subjects, 159 micro-movements).

Expected layout (as distributed)::

    <root>/SAMM/006/006_1_2/006_05562.jpg ...
    <root>/SAMM_Micro_FACS_Codes_v2.xlsx   (or a .csv export)

``root`` may also be the ``SAMM`` folder itself if the sheet lies inside it.
The sheet has a title/notes block above the table; the header row is found by its columns:
Subject, Filename, Onset Frame, Apex Frame, Offset Frame, Action Units, Estimated Emotion
(case/space insensitive). Frame numbers are the absolute numbers in the file names
(``006_05562.jpg`` -> 5562). Apex '-1', '/' or empty -> ``apex_missing=True``.

Labels: SAMM emotions are anger, contempt, disgust, fear, happiness, sadness, surprise, other.
``label3`` follows MEGC 2019 (negative = anger/contempt/disgust/fear/sadness, 'other'
excluded). ``label5`` maps onto the CASME II set (happiness, disgust, surprise kept; anger,
contempt, fear, sadness, other -> 'others'; SAMM has no 'repression').
"""

from __future__ import annotations

import re
from pathlib import Path

from .common import DatasetFormatError, MESample
from .sheets import SampleRow, TrimmedSheet, load_trimmed_samples

SAMM_FPS = 200.0

_COLUMNS = {
    "subject": ("Subject",),
    "filename": ("Filename", "File name"),
    "onset": ("Onset Frame", "OnsetFrame", "Onset"),
    "apex": ("Apex Frame", "ApexFrame", "Apex"),
    "offset": ("Offset Frame", "OffsetFrame", "Offset"),
    "emotion": ("Estimated Emotion", "Emotion"),
}


def find_sheet(root: Path) -> Path:
    root = Path(root)
    for pat in ("SAMM_Micro_FACS_Codes*.xlsx", "SAMM_Micro_FACS_Codes*.csv"):
        cands = sorted(root.glob(pat)) + sorted(root.parent.glob(pat))
        if cands:
            return cands[-1]
    raise DatasetFormatError(f"{root}: no SAMM_Micro_FACS_Codes*.xlsx or .csv found")


def _subject(value: object) -> str:
    s = str(value).strip()
    m = re.fullmatch(r"0*(\d+)(?:\.0+)?", s)
    if not m:
        raise ValueError(value)
    return f"{int(m.group(1)):03d}"


def load_samm(root: Path, sheet: Path | None = None, check_frames: bool = True) -> list[MESample]:
    """All SAMM samples, validated, in sheet order."""
    root = Path(root)
    sheet = Path(sheet) if sheet is not None else find_sheet(root)
    base = root / "SAMM" if (root / "SAMM").is_dir() else root
    return load_trimmed_samples(sheet, _COLUMNS, _SHEET, base, check_frames)


def _clip_of_subject(row: SampleRow, where: str) -> None:
    if not row.clip.startswith(row.subject):
        raise DatasetFormatError(
            f"{where}: Filename {row.clip!r} does not belong to subject {row.subject}"
        )


_SHEET = TrimmedSheet(
    dataset="samm",
    fps=SAMM_FPS,
    subject=_subject,
    frame_names=("Onset Frame", "Apex Frame", "Offset Frame"),
    label3_via_5class=False,
    check=_clip_of_subject,
)
