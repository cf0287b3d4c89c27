"""Reading coding sheets (xlsx / csv): tables, headers, cells, and validated sample rows.

Every error names the file and the row a person sees in a spreadsheet program. The trimmed-
sample data sets (CASME II, SAMM) share one row parser and one loader
(:func:`load_trimmed_samples`); each declares only what differs (:class:`TrimmedSheet`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .common import (
    DatasetFormatError,
    MESample,
    is_known_emotion,
    to_label3,
    to_label5,
)
from .frames import clip_frames


def _canon(name: object) -> str:
    """Column key: lower case, alphanumerics only ('Onset Frame' -> 'onsetframe')."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower()) if name is not None else ""


def read_table(path: Path, sheet: str | int | None = None) -> list[tuple[int, list[object]]]:
    """Rows of an .xlsx / .csv file as (1-based row number, values) including the header row.

    Row numbers are those a person sees in a spreadsheet program, so error messages can point
    at them.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"{path}: file not found")
    suffix = path.suffix.lower()
    rows: list[tuple[int, list[object]]] = []
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl

        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises several types for corrupt files
            raise DatasetFormatError(f"{path}: cannot read workbook ({exc})") from exc
        try:
            if sheet is None:
                ws = wb.worksheets[0]
            elif isinstance(sheet, int):
                ws = wb.worksheets[sheet]
            else:
                ws = wb[sheet]
            for i, r in enumerate(ws.iter_rows(values_only=True), start=1):
                rows.append((i, list(r)))
        finally:
            wb.close()
    elif suffix in (".csv", ".txt"):
        with path.open(newline="", encoding="utf-8-sig") as fh:
            for i, r in enumerate(csv.reader(fh), start=1):
                rows.append((i, list(r)))
    else:
        raise DatasetFormatError(f"{path}: unsupported sheet type {suffix!r} (xlsx or csv)")
    return rows


def find_header(
    rows: Sequence[tuple[int, list[object]]],
    required: dict[str, Sequence[str]],
    path: Path,
    search_rows: int = 40,
) -> tuple[int, dict[str, int]]:
    """Locate the header row and the column of each required field.

    ``required`` maps our field name to accepted spellings (compared after :func:`_canon`),
    so 'OnsetFrame', 'Onset Frame' and 'onset_frame' all match. Searching the first rows (not
    only row 1) tolerates sheets with a title block above the table, as in SAMM's.
    """
    for idx, (_, values) in enumerate(rows[:search_rows]):
        keys = [_canon(v) for v in values]
        cols: dict[str, int] = {}
        for fld, names in required.items():
            cand = {_canon(n) for n in names}
            for j, k in enumerate(keys):
                if k in cand:
                    cols[fld] = j
                    break
        if len(cols) == len(required):
            return idx, cols
    missing = ", ".join(required)
    raise DatasetFormatError(f"{path}: no header row with columns {missing} in the first rows")


def is_blank(values: Sequence[object]) -> bool:
    """A sheet row with nothing in it (trailing rows of spreadsheet exports)."""
    return all(v is None or str(v).strip() == "" for v in values)


def cell(values: list[object], col: int | None) -> object:
    if col is None or col >= len(values):
        return None
    v = values[col]
    if isinstance(v, str):
        v = v.strip()
        return v if v != "" else None
    return v


def parse_int(
    v: object, what: str, path: Path, row: int, allow_missing: bool = False
) -> int | None:
    """Integer cell, accepting 12, 12.0, '12', ' 12 '; '/', '-', '' mean missing."""
    if v is None or (isinstance(v, str) and v.strip() in ("/", "-", "", "NA", "n/a")):
        if allow_missing:
            return None
        raise DatasetFormatError(f"{path}: row {row}: missing {what}")
    if isinstance(v, bool):
        raise DatasetFormatError(f"{path}: row {row}: bad {what} {v!r}")
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, float):
        if v != v or v != int(v):
            raise DatasetFormatError(f"{path}: row {row}: bad {what} {v!r}")
        return int(v)
    s = str(v).strip()
    if re.fullmatch(r"[+-]?\d+(\.0+)?", s):
        return int(float(s))
    raise DatasetFormatError(f"{path}: row {row}: bad {what} {v!r}")


def find_column(header: Sequence[object], names: Sequence[str]) -> int | None:
    """Index of the last header cell whose letters alone (lower case) are one of ``names``
    (e.g. 'Action Units' -> 'actionunits'), or None."""
    found = None
    for j, v in enumerate(header):
        if re.sub(r"[^a-z]", "", str(v).lower()) in names:
            found = j
    return found


AU_COLUMN_NAMES = ("actionunits", "actionunit", "aus", "au")


@dataclass(frozen=True)
class SampleRow:
    """One validated row of a trimmed-sample coding sheet (CASME II, SAMM)."""

    subject: str
    clip: str
    onset: int
    apex: int
    offset: int
    apex_missing: bool
    emotion: str
    aus: str

    def sample(
        self, dataset: str, frames: list[Path], fps: float, label3_via_5class: bool
    ) -> MESample:
        """The :class:`MESample` of this row (labels mapped from the raw emotion)."""
        return MESample(
            dataset=dataset,
            subject=self.subject,
            clip=self.clip,
            frames=frames,
            onset=self.onset,
            apex=self.apex,
            offset=self.offset,
            emotion=self.emotion.strip().lower(),
            label5=to_label5(self.emotion),
            label3=to_label3(self.emotion, via_5class=label3_via_5class),
            aus=self.aus,
            fps=fps,
            apex_missing=self.apex_missing,
        )


def parse_sample_row(
    values: list[object],
    cols: dict[str, int],
    au_col: int | None,
    where: tuple[Path, int],
    subject: Callable[[object], str],
    frame_names: tuple[str, str, str],
) -> SampleRow | None:
    """Validate one sheet row (None for a blank row); errors name the sheet and row.

    ``cols`` has the columns subject, filename, onset, apex, offset and emotion; ``subject``
    maps the raw subject cell to its folder name (ValueError when malformed); ``frame_names``
    are the sheet's own names of onset, apex and offset for the messages. A missing or
    negative apex is marked ``apex_missing`` and set to the middle frame.
    """
    sheet, row = where
    if is_blank(values):
        return None
    raw_sub, clip = cell(values, cols["subject"]), cell(values, cols["filename"])
    if raw_sub is None or clip is None:
        raise DatasetFormatError(f"{sheet}: row {row}: missing Subject or Filename")
    try:
        sub = subject(raw_sub)
    except ValueError:
        raise DatasetFormatError(f"{sheet}: row {row}: bad Subject {raw_sub!r}") from None
    on_name, apex_name, off_name = frame_names
    onset = parse_int(cell(values, cols["onset"]), on_name, sheet, row)
    offset = parse_int(cell(values, cols["offset"]), off_name, sheet, row)
    apex = parse_int(cell(values, cols["apex"]), apex_name, sheet, row, allow_missing=True)
    assert onset is not None and offset is not None
    if apex is not None and apex < 0:
        apex = None
    if onset > offset:
        raise DatasetFormatError(f"{sheet}: row {row}: {on_name} {onset} > {off_name} {offset}")
    apex_missing = apex is None
    if apex is None:
        apex = (onset + offset) // 2
    if not onset <= apex <= offset:
        raise DatasetFormatError(
            f"{sheet}: row {row}: {apex_name} {apex} outside [{onset}, {offset}]"
        )
    emo = cell(values, cols["emotion"])
    if emo is None or not is_known_emotion(str(emo)):
        raise DatasetFormatError(f"{sheet}: row {row}: unknown emotion {emo!r}")
    aus = cell(values, au_col)
    return SampleRow(
        sub,
        str(clip).strip(),
        onset,
        apex,
        offset,
        apex_missing,
        str(emo),
        "" if aus is None else str(aus),
    )


def load_trimmed_samples(
    sheet: Path,
    columns: dict[str, Sequence[str]],
    spec: TrimmedSheet,
    base: Path,
    check_frames: bool = True,
) -> list[MESample]:
    """Every sample of a trimmed-sample coding sheet (CASME II, SAMM), validated, in sheet
    order; frames are looked up in ``base/<subject>/<clip>`` unless ``check_frames`` is off."""
    rows = read_table(sheet)
    hidx, cols = find_header(rows, columns, sheet)
    au_col = find_column(rows[hidx][1], AU_COLUMN_NAMES)
    samples: list[MESample] = []
    seen: set[tuple[str, str]] = set()
    for rownum, values in rows[hidx + 1 :]:
        where = f"{sheet}: row {rownum}"
        row = parse_sample_row(
            values, cols, au_col, (sheet, rownum), spec.subject, spec.frame_names
        )
        if row is None:
            continue
        if spec.check is not None:
            spec.check(row, where)
        if (row.subject, row.clip) in seen:
            raise DatasetFormatError(f"{where}: duplicate sample {row.subject}/{row.clip}")
        seen.add((row.subject, row.clip))
        folder = base / row.subject / row.clip
        frames = clip_frames(folder, row.onset, row.offset, where) if check_frames else []
        samples.append(row.sample(spec.dataset, frames, spec.fps, spec.label3_via_5class))
    if not samples:
        raise DatasetFormatError(f"{sheet}: no samples below the header row")
    return samples


@dataclass(frozen=True)
class TrimmedSheet:
    """What differs between the trimmed-sample data sets' coding sheets.

    ``subject`` maps the raw subject cell to its folder name (ValueError when malformed);
    ``frame_names`` are the sheet's names of onset, apex and offset (for messages); ``check``
    (optional) refuses a row with a :class:`DatasetFormatError` prefixed by the row's place.
    """

    dataset: str
    fps: float
    subject: Callable[[object], str]
    frame_names: tuple[str, str, str]
    label3_via_5class: bool
    check: Callable[[SampleRow, str], None] | None = None
