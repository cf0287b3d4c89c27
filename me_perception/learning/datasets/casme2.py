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
    DatasetFormatError,
    MESample,
    cell,
    clip_frames,
    find_header,
    is_known_emotion,
    parse_int,
    read_table,
    to_label3,
    to_label5,
)

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
    rows = read_table(sheet)
    hidx, cols = find_header(rows, _COLUMNS, sheet)
    au_col = None
    for j, v in enumerate(rows[hidx][1]):
        if re.sub(r"[^a-z]", "", str(v).lower()) in ("actionunits", "actionunit", "aus", "au"):
            au_col = j
    base = root / frames_dir
    samples: list[MESample] = []
    seen: set[tuple[str, str]] = set()
    for rownum, values in rows[hidx + 1 :]:
        if all(v is None or str(v).strip() == "" for v in values):
            continue
        raw_sub = cell(values, cols["subject"])
        clip = cell(values, cols["filename"])
        if raw_sub is None or clip is None:
            raise DatasetFormatError(f"{sheet}: row {rownum}: missing Subject or Filename")
        try:
            sub = subject_folder(raw_sub)
        except ValueError:
            raise DatasetFormatError(f"{sheet}: row {rownum}: bad Subject {raw_sub!r}") from None
        clip = str(clip).strip()
        onset = parse_int(cell(values, cols["onset"]), "OnsetFrame", sheet, rownum)
        offset = parse_int(cell(values, cols["offset"]), "OffsetFrame", sheet, rownum)
        apex = parse_int(cell(values, cols["apex"]), "ApexFrame", sheet, rownum, allow_missing=True)
        assert onset is not None and offset is not None
        if onset > offset:
            raise DatasetFormatError(
                f"{sheet}: row {rownum}: OnsetFrame {onset} > OffsetFrame {offset}"
            )
        apex_missing = apex is None
        if apex is None:
            apex = (onset + offset) // 2
        if not onset <= apex <= offset:
            raise DatasetFormatError(
                f"{sheet}: row {rownum}: ApexFrame {apex} outside [{onset}, {offset}]"
            )
        emo = cell(values, cols["emotion"])
        if emo is None or not is_known_emotion(str(emo)):
            raise DatasetFormatError(f"{sheet}: row {rownum}: unknown emotion {emo!r}")
        if (sub, clip) in seen:
            raise DatasetFormatError(f"{sheet}: row {rownum}: duplicate sample {sub}/{clip}")
        seen.add((sub, clip))
        folder = base / sub / clip
        frames = (
            clip_frames(folder, onset, offset, f"{sheet}: row {rownum}") if check_frames else []
        )
        aus = cell(values, au_col)
        samples.append(
            MESample(
                dataset="casme2",
                subject=sub,
                clip=clip,
                frames=frames,
                onset=onset,
                apex=apex,
                offset=offset,
                emotion=str(emo).strip().lower(),
                label5=to_label5(str(emo)),
                label3=to_label3(str(emo), via_5class=True),
                aus="" if aus is None else str(aus),
                fps=CASME2_FPS,
                apex_missing=apex_missing,
            )
        )
    if not samples:
        raise DatasetFormatError(f"{sheet}: no samples below the header row")
    return samples
