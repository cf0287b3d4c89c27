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

from .common import (
    AU_COLUMN_NAMES,
    DatasetFormatError,
    MESample,
    clip_frames,
    find_column,
    find_header,
    parse_sample_row,
    read_table,
)

CASME2_FPS = 200.0

_FRAME_NAMES = ("OnsetFrame", "ApexFrame", "OffsetFrame")
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
    rows = read_table(sheet)
    hidx, cols = find_header(rows, _COLUMNS, sheet)
    au_col = find_column(rows[hidx][1], AU_COLUMN_NAMES)
    base = root / frames_dir
    samples: list[MESample] = []
    seen: set[tuple[str, str]] = set()
    for rownum, values in rows[hidx + 1 :]:
        where = (sheet, rownum)
        row = parse_sample_row(values, cols, au_col, where, subject_folder, _FRAME_NAMES)
        if row is None:
            continue
        if (row.subject, row.clip) in seen:
            raise DatasetFormatError(
                f"{sheet}: row {rownum}: duplicate sample {row.subject}/{row.clip}"
            )
        seen.add((row.subject, row.clip))
        folder = base / row.subject / row.clip
        at = f"{sheet}: row {rownum}"
        frames = clip_frames(folder, row.onset, row.offset, at) if check_frames else []
        samples.append(row.sample("casme2", frames, CASME2_FPS, label3_via_5class=True))
    if not samples:
        raise DatasetFormatError(f"{sheet}: no samples below the header row")
    return samples
