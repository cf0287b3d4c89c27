"""Long-video spotting sets: CAS(ME)^2 and SAMM Long Videos (the MEGC spotting benchmarks).

Both return :class:`~me_perception.learning.datasets.common.LongVideo` records whose intervals are
*indices into the video's frame list* (0-based), whatever numbering the files use, so that
spotting metrics and the model see one convention.

CAS(ME)^2 (Qu et al. 2017; 30 fps, 22 subjects, 57 clips with macro- and micro-expressions)::

    <root>/rawpic/s15/15_0101disgustingteeth/img1.jpg ...
    <root>/CAS(ME)^2code_final.xlsx   (any *code_final*.xlsx / .csv)

Sheet 1 has no header: participant, expression id ('disgust1_1' = video 'disgust1', 1st
expression), onset, apex, offset, AUs, emotion (positive/negative/surprise/others), type
('macro-expression' / 'micro-expression'), self report. Onset/apex/offset are the numbers of
the ``img<N>.jpg`` files. The other sheets ("naming rule 1/2") map video names to 4-digit
codes (rows ``code, name`` or ``name, code``) and participants to folder numbers (rows
``initials, folder, participant`` as distributed, or ``participant, folder``); the video folder
is then ``rawpic/s<folder>/<folder>_<code>*``. Without naming sheets the participant number must
equal the folder number and the folder name must contain the video name. Quirk handled: an
offset of 0 (unannotated) is set to the apex, recorded in ``extra['offset_was_zero']``.

SAMM Long Videos (Yap et al. 2020; 200 fps, 147 videos)::

    <root>/SAMM_longvideos/006_1/006_1_0001.jpg ...
    <root>/SAMM_LongVideos_V*.xlsx   (or .csv)

Header row (below a title block) with Subject, Filename ('006_1_3' = video '006_1', 3rd
expression), Onset, Apex, Offset, Type ('Macro', 'Micro - 1/2', ...), Action Units. Apex -1
means not annotated (the middle frame is used, ``apex`` is None in the interval). The long
videos carry no emotion labels, so ``label3``/``label5`` are None there.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from .common import (
    DatasetFormatError,
    Interval,
    LongVideo,
    normalise_emotion,
    to_label3,
    to_label5,
)
from .frames import list_frames
from .sheets import (
    AU_COLUMN_NAMES,
    cell,
    find_column,
    find_header,
    is_blank,
    parse_int,
    read_table,
)

CASME_SQ_FPS = 30.0
SAMM_LV_FPS = 200.0


def _kind(raw: object, path: Path, row: int) -> str:
    s = normalise_emotion(str(raw or ""))
    if s.startswith("macro"):
        return "macro"
    if s.startswith("micro"):
        return "micro"
    raise DatasetFormatError(f"{path}: row {row}: unknown expression type {raw!r}")


def _frames_or_error(folder: Path, path: Path, row: int) -> tuple[list[Path], int]:
    avail = list_frames(folder)
    if not avail:
        raise DatasetFormatError(f"{path}: row {row}: video folder {folder} missing or empty")
    nums = sorted(avail)
    if nums[-1] - nums[0] + 1 != len(nums):
        gaps = [n for n in range(nums[0], nums[-1] + 1) if n not in avail]
        raise DatasetFormatError(f"{folder}: {len(gaps)} frame(s) missing, first {gaps[0]}")
    return [avail[n] for n in nums], nums[0]


def _interval(
    frames: tuple[int, int | None, int],
    first_num: int,
    n: int,
    where: tuple[Path, int],
    **labels: Any,
) -> Interval:
    """A validated interval in indices into the video's frame list, from the sheet's file
    numbers (onset, apex or None, offset) and the video's first file number."""
    path, row = where
    on, apex, off = frames[0] - first_num, frames[1], frames[2] - first_num
    apex = None if apex is None else apex - first_num
    if on > off:
        raise DatasetFormatError(f"{path}: row {row}: onset {on} > offset {off}")
    if apex is not None and not on <= apex <= off:
        raise DatasetFormatError(f"{path}: row {row}: apex {apex} outside [{on}, {off}]")
    if on < 0 or off >= n:
        raise DatasetFormatError(f"{path}: row {row}: interval [{on}, {off}] outside the video")
    return Interval(onset=on, apex=apex, offset=off, **labels)


# --------------------------------------------------------------------------------------------
# CAS(ME)^2
# --------------------------------------------------------------------------------------------
def _find(root: Path, patterns: tuple[str, ...], what: str) -> Path:
    for pat in patterns:
        cands = sorted(Path(root).glob(pat))
        if cands:
            return cands[-1]
    raise DatasetFormatError(f"{root}: no {what} found ({', '.join(patterns)})")


def _locate(
    root: Path, sheet: Path | None, patterns: tuple[str, ...], what: str, folder: str
) -> tuple[Path, Path]:
    """The annotation sheet (given, or the newest match under ``root``) and the frames folder."""
    found = Path(sheet) if sheet else _find(root, patterns, what)
    frames = root / folder
    if not frames.is_dir():
        raise DatasetFormatError(f"{frames}: {folder} folder not found")
    return found, frames


def _naming_rules(sheet: Path) -> tuple[dict[str, str], dict[int, int]]:
    """(video name -> 4-digit code, participant -> folder number) from the naming sheets."""
    videos: dict[str, str] = {}
    subjects: dict[int, int] = {}
    if sheet.suffix.lower() not in (".xlsx", ".xlsm"):
        return videos, subjects
    import openpyxl

    wb = openpyxl.load_workbook(sheet, read_only=True, data_only=True)
    names = wb.sheetnames
    wb.close()
    for name in names[1:]:
        for _, vals in read_table(sheet, name):
            a, b, c = cell(vals, 0), cell(vals, 1), cell(vals, 2)
            if a is None or b is None:
                continue
            sa, sb = str(a).strip(), str(b).strip()
            num = r"\d+(\.0+)?"
            if c is not None and re.fullmatch(num, sb) and re.fullmatch(num, str(c).strip()):
                # (initials, folder number, participant number), as distributed.
                subjects[int(float(str(c)))] = int(float(sb))
            elif re.fullmatch(num, sa) and re.fullmatch(num, sb) and len(sb) < 4:
                subjects[int(float(sa))] = int(float(sb))  # (participant, folder number)
            elif re.fullmatch(num, sb) and not re.fullmatch(num, sa):
                videos[sa.lower()] = f"{int(float(sb)):04d}"  # (name, code)
            elif re.fullmatch(num, sa) and not re.fullmatch(num, sb):
                # (code, name); a code typed as a number lost its leading zero: 101 -> '0101'
                videos[sb.lower()] = f"{int(float(sa)):04d}"
    return videos, subjects


def load_casme_sq(root: Path, sheet: Path | None = None) -> list[LongVideo]:
    """CAS(ME)^2 long videos with their macro/micro intervals, validated."""
    patterns = ("*code_final*.xlsx", "*code_final*.csv")
    sheet, raw = _locate(Path(root), sheet, patterns, "CAS(ME)^2 code sheet", "rawpic")
    video_codes, subject_map = _naming_rules(sheet)
    rows = read_table(sheet)
    grouped: dict[tuple[int, str], list[tuple[int, list[object]]]] = defaultdict(list)
    for rownum, vals in rows:
        if is_blank(vals):
            continue
        first = cell(vals, 0)
        if rownum == 1 and not re.fullmatch(r"\d+(\.0+)?", str(first).strip()):
            continue  # tolerate a header row
        part = parse_int(first, "participant", sheet, rownum)
        expr = cell(vals, 1)
        if expr is None:
            raise DatasetFormatError(f"{sheet}: row {rownum}: missing expression id")
        video = str(expr).strip().split("_")[0].lower()
        assert part is not None
        grouped[(part, video)].append((rownum, vals))
    videos: list[LongVideo] = []
    cache: dict[Path, tuple[list[Path], int]] = {}
    for (part, video), items in grouped.items():
        first_row = items[0][0]
        folder_num = subject_map.get(part, part)
        sdir = raw / f"s{folder_num:02d}"
        code = video_codes.get(video)
        if code is not None:
            cands = sorted(sdir.glob(f"{folder_num:02d}_{code}*"))
        else:
            cands = sorted(p for p in sdir.glob("*") if p.is_dir() and video in p.name.lower())
        if len(cands) != 1:
            raise DatasetFormatError(
                f"{sheet}: row {first_row}: expected one folder for participant {part} video "
                f"{video!r} in {sdir}, found {len(cands)}"
            )
        folder = cands[0]
        if folder not in cache:
            cache[folder] = _frames_or_error(folder, sheet, first_row)
        frames, first_num = cache[folder]
        intervals = []
        extra_zero = []
        for rownum, vals in items:
            on = parse_int(cell(vals, 2), "onset", sheet, rownum)
            apex = parse_int(cell(vals, 3), "apex", sheet, rownum, allow_missing=True)
            off = parse_int(cell(vals, 4), "offset", sheet, rownum, allow_missing=True)
            assert on is not None
            if apex is not None and apex <= 0:
                apex = None
            if off is None or off == 0:
                if apex is None:
                    raise DatasetFormatError(f"{sheet}: row {rownum}: neither offset nor apex")
                off = apex
                extra_zero.append(rownum)
            emo = str(cell(vals, 6) or "")
            kind = _kind(cell(vals, 7), sheet, rownum)
            interval = _interval(
                (on, apex, off),
                first_num,
                len(frames),
                (sheet, rownum),
                kind=kind,
                emotion=normalise_emotion(emo),
                label5=to_label5(emo),
                label3=to_label3(emo),
                aus=str(cell(vals, 5) or ""),
            )
            intervals.append(interval)
        intervals.sort(key=lambda iv: iv.onset)
        videos.append(
            LongVideo(
                dataset="casme_sq",
                subject=f"s{folder_num:02d}",
                video=folder.name,
                frames=frames,
                fps=CASME_SQ_FPS,
                intervals=intervals,
                extra={"offset_was_zero": extra_zero, "first_frame_number": first_num},
            )
        )
    if not videos:
        raise DatasetFormatError(f"{sheet}: no annotations")
    return videos


# --------------------------------------------------------------------------------------------
# SAMM Long Videos
# --------------------------------------------------------------------------------------------
_SAMM_LV_COLUMNS = {
    "subject": ("Subject",),
    "filename": ("Filename", "File name"),
    "onset": ("Onset", "Onset Frame"),
    "apex": ("Apex", "Apex Frame"),
    "offset": ("Offset", "Offset Frame"),
    "type": ("Type",),
}


def load_samm_lv(root: Path, sheet: Path | None = None) -> list[LongVideo]:
    """SAMM Long Videos with their macro/micro intervals, validated."""
    patterns = ("SAMM_LongVideos*.xlsx", "SAMM_LongVideos*.csv")
    sheet, base = _locate(Path(root), sheet, patterns, "SAMM LV sheet", "SAMM_longvideos")
    rows = read_table(sheet)
    hidx, cols = find_header(rows, _SAMM_LV_COLUMNS, sheet)
    au_col = find_column(rows[hidx][1], AU_COLUMN_NAMES)
    grouped: dict[str, list[tuple[int, list[object]]]] = defaultdict(list)
    for rownum, vals in rows[hidx + 1 :]:
        if is_blank(vals):
            continue
        name = cell(vals, cols["filename"])
        m = re.fullmatch(r"(\d+_\d+)_\d+", str(name).strip()) if name is not None else None
        if m is None:
            raise DatasetFormatError(
                f"{sheet}: row {rownum}: Filename {name!r} is not like '006_1_3'"
            )
        grouped[m.group(1)].append((rownum, vals))
    videos = []
    for vid, items in grouped.items():
        frames, first_num = _frames_or_error(base / vid, sheet, items[0][0])
        intervals = []
        for rownum, vals in items:
            on = parse_int(cell(vals, cols["onset"]), "Onset", sheet, rownum)
            off = parse_int(cell(vals, cols["offset"]), "Offset", sheet, rownum)
            apex = parse_int(cell(vals, cols["apex"]), "Apex", sheet, rownum, allow_missing=True)
            assert on is not None and off is not None
            if apex is not None and apex < 0:
                apex = None
            kind = _kind(cell(vals, cols["type"]), sheet, rownum)
            aus = str(cell(vals, au_col) or "")
            where = (sheet, rownum)
            intervals.append(
                _interval((on, apex, off), first_num, len(frames), where, kind=kind, aus=aus)
            )
        intervals.sort(key=lambda iv: iv.onset)
        videos.append(
            LongVideo(
                dataset="samm_lv",
                subject=vid.split("_")[0],
                video=vid,
                frames=frames,
                fps=SAMM_LV_FPS,
                intervals=intervals,
                extra={"first_frame_number": first_num},
            )
        )
    if not videos:
        raise DatasetFormatError(f"{sheet}: no annotations below the header row")
    return videos
