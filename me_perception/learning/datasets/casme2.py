"""CASME II loader (Yan et al. 2014; 200 fps, 26 subjects, 255 samples).

Expected layout (as distributed)::

    <root>/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg ... img86.jpg
    <root>/CASME2-coding-20140508.xlsx   (any CASME2-coding-*.xlsx or .csv)

The cropped release (``Cropped/sub01/EP02_01f/reg_img46.jpg``) works too: pass
``frames_dir='Cropped'``; frame numbers are the trailing digits of the file name.

Coding sheet columns (matched case- and space-insensitively): Subject, Filename, OnsetFrame,
ApexFrame, OffsetFrame, Action Units, Estimated Emotion. Known quirks handled:

* ApexFrame '/' (a handful of rows): ``apex_missing=True`` and apex = middle frame;
* Subject as 1, '1', '01' or 'sub01';
* 'Onset Frame' vs 'OnsetFrame' etc., a title row above the header, blank trailing rows;
* numbers stored as floats ('46.0') by spreadsheet exports.

Anything else that is wrong (onset > offset, apex outside, a frame missing, an unknown emotion,
a clip folder missing) raises :class:`DatasetFormatError` naming the file and row.
"""

from __future__ import annotations

import re
from pathlib import Path

from .common import DatasetFormatError, MESample
from .sheets import TrimmedSheet, load_trimmed_samples

CASME2_FPS = 200.0

_COLUMNS = {
    "subject": ("Subject", "sub"),
    "filename": ("Filename", "File name", "Clip", "Episode"),
    "onset": ("OnsetFrame", "Onset"),
    "apex": ("ApexFrame", "Apex"),
    "offset": ("OffsetFrame", "Offset"),
    "emotion": ("Estimated Emotion", "Emotion", "EstimatedEmotion"),
}


def find_coding_sheet(root: Path) -> Path:
    """The coding sheet under ``root`` (newest CASME2-coding-*.xlsx, else .csv)."""
    root = Path(root)
    cands = sorted(root.glob("CASME2-coding-*.xlsx")) or sorted(root.glob("CASME2-coding-*.csv"))
    if not cands:
        cands = sorted(root.glob("CASME2*coding*.xls*")) + sorted(root.glob("CASME2*coding*.csv"))
    if not cands:
        raise DatasetFormatError(f"{root}: no CASME2-coding-*.xlsx or .csv found")
    return cands[-1]


def subject_folder(value: object) -> str:
    """'1', 1, '01', 'sub01', 'sub1' -> 'sub01'."""
    s = str(value).strip().lower()
    m = re.fullmatch(r"(?:sub)?0*(\d+)(?:\.0+)?", s)
    if not m:
        raise ValueError(value)
    return f"sub{int(m.group(1)):02d}"


def load_casme2(
    root: Path,
    sheet: Path | None = None,
    frames_dir: str = "CASME2_RAW_selected",
    check_frames: bool = True,
) -> list[MESample]:
    """All samples of CASME II, validated, in sheet order."""
    root = Path(root)
    sheet = Path(sheet) if sheet is not None else find_coding_sheet(root)
    return load_trimmed_samples(sheet, _COLUMNS, _SHEET, root / frames_dir, check_frames)


_SHEET = TrimmedSheet(
    dataset="casme2",
    fps=CASME2_FPS,
    subject=subject_folder,
    frame_names=("OnsetFrame", "ApexFrame", "OffsetFrame"),
    label3_via_5class=True,
)
