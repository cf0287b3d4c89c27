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
    rows = read_table(sheet)
    hidx, cols = find_header(rows, _COLUMNS, sheet)
    au_col = None
    for j, v in enumerate(rows[hidx][1]):
        if re.sub(r"[^a-z]", "", str(v).lower()) in ("actionunits", "actionunit", "aus"):
            au_col = j
    samples: list[MESample] = []
    seen: set[str] = set()
    for rownum, values in rows[hidx + 1 :]:
        if all(v is None or str(v).strip() == "" for v in values):
            continue
        raw_sub, clip = cell(values, cols["subject"]), cell(values, cols["filename"])
        if raw_sub is None or clip is None:
            raise DatasetFormatError(f"{sheet}: row {rownum}: missing Subject or Filename")
        try:
            sub = _subject(raw_sub)
        except ValueError:
            raise DatasetFormatError(f"{sheet}: row {rownum}: bad Subject {raw_sub!r}") from None
        clip = str(clip).strip()
        if not clip.startswith(sub):
            raise DatasetFormatError(
                f"{sheet}: row {rownum}: Filename {clip!r} does not belong to subject {sub}"
            )
        onset = parse_int(cell(values, cols["onset"]), "Onset Frame", sheet, rownum)
        offset = parse_int(cell(values, cols["offset"]), "Offset Frame", sheet, rownum)
        apex = parse_int(
            cell(values, cols["apex"]), "Apex Frame", sheet, rownum, allow_missing=True
        )
        assert onset is not None and offset is not None
        if apex is not None and apex < 0:
            apex = None
        if onset > offset:
            raise DatasetFormatError(
                f"{sheet}: row {rownum}: Onset Frame {onset} > Offset Frame {offset}"
            )
        apex_missing = apex is None
        if apex is None:
            apex = (onset + offset) // 2
        if not onset <= apex <= offset:
            raise DatasetFormatError(
                f"{sheet}: row {rownum}: Apex Frame {apex} outside [{onset}, {offset}]"
            )
        emo = cell(values, cols["emotion"])
        if emo is None or not is_known_emotion(str(emo)):
            raise DatasetFormatError(f"{sheet}: row {rownum}: unknown emotion {emo!r}")
        if clip in seen:
            raise DatasetFormatError(f"{sheet}: row {rownum}: duplicate sample {clip}")
        seen.add(clip)
        folder = base / sub / clip
        frames = (
            clip_frames(folder, onset, offset, f"{sheet}: row {rownum}") if check_frames else []
        )
        aus = cell(values, au_col)
        samples.append(
            MESample(
                dataset="samm",
                subject=sub,
                clip=clip,
                frames=frames,
                onset=onset,
                apex=apex,
                offset=offset,
                emotion=str(emo).strip().lower(),
                label5=to_label5(str(emo)),
                label3=to_label3(str(emo)),
                aus="" if aus is None else str(aus),
                fps=SAMM_FPS,
                apex_missing=apex_missing,
            )
        )
    if not samples:
        raise DatasetFormatError(f"{sheet}: no samples below the header row")
    return samples
