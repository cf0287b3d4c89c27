"""Shared records, label mappings and sheet reading for the data set loaders.

Why one module: every loader (CASME II, SAMM, the long-video sets, our synthetic clips) returns
the same two record types, so training and evaluation have a single code path whatever the
source. Mappings from raw emotions to the label sets live here so that they are documented and
tested in one place; the label sets themselves are the model's (``model.config.LABEL_SETS``).

Label sets
----------
``casme2_5``: the CASME II 5-class set used by most papers: happiness, disgust, repression,
surprise, others. CASME II's rarer codes fear and sadness are folded into 'others' (as in the
CASME II baseline and MEGC practice). SAMM has no 'repression'; its anger, contempt, fear and
sadness are folded into 'others' (lossy: use the raw ``emotion`` field for SAMM-native sets).

``megc_3``: the MEGC 2019 composite set (See et al., "MEGC 2019 - The Second Facial
Micro-Expressions Grand Challenge", FG 2019): positive = happiness; negative = repression,
anger, contempt, disgust, fear, sadness (and SMIC 'negative'); surprise = surprise. Samples
labelled 'others'/'other' are *excluded* (label3 is None). For CASME II we derive the 3-class
label from the 5-class label, so CASME II fear/sadness (folded into 'others') are excluded too;
this reproduces the composite set, where CASME II contributes only disgust + repression as
negative. For SAMM, anger/contempt/disgust/fear/sadness map to negative.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from me_perception.model.config import CASME2_TO_MEGC3

# Raw emotion (lower-case, as written in the coding sheets) -> 5-class label.
_RAW_TO_5: dict[str, str] = {
    "happiness": "happiness",
    "happy": "happiness",
    "disgust": "disgust",
    "repression": "repression",
    "surprise": "surprise",
    "others": "others",
    "other": "others",
    "fear": "others",
    "sadness": "others",
    "sad": "others",
    "anger": "others",
    "contempt": "others",
}
# Raw emotion -> 3-class label, for data sets whose raw labels are used directly (SAMM, SMIC,
# long videos that already use positive/negative/surprise/others).
_RAW_TO_3: dict[str, str | None] = {
    "happiness": "positive",
    "happy": "positive",
    "positive": "positive",
    "disgust": "negative",
    "repression": "negative",
    "anger": "negative",
    "contempt": "negative",
    "fear": "negative",
    "sadness": "negative",
    "sad": "negative",
    "negative": "negative",
    "surprise": "surprise",
    "others": None,
    "other": None,
}


class DatasetFormatError(ValueError):
    """A data set file does not look as expected; the message names the file and row."""


def normalise_emotion(raw: str) -> str:
    return re.sub(r"\s+", " ", str(raw).strip().lower())


def to_label5(raw: str) -> str | None:
    """Raw emotion -> CASME II 5-class label, or None if unknown."""
    return _RAW_TO_5.get(normalise_emotion(raw))


def to_label3(raw: str, via_5class: bool = False) -> str | None:
    """Raw emotion -> MEGC 3-class label; None for 'others' (excluded) and unknown labels.

    ``via_5class=True`` goes through the 5-class label first (CASME II convention: fear and
    sadness, folded into 'others', are then excluded).
    """
    e = normalise_emotion(raw)
    if via_5class:
        l5 = _RAW_TO_5.get(e)
        return CASME2_TO_MEGC3.get(l5) if l5 else None
    return _RAW_TO_3.get(e)


def is_known_emotion(raw: str) -> bool:
    e = normalise_emotion(raw)
    return e in _RAW_TO_5 or e in _RAW_TO_3


@dataclass
class MESample:
    """One trimmed micro-expression sample (onset..offset), as in CASME II / SAMM.

    ``frames`` are the image paths from onset to offset inclusive, in temporal order;
    ``onset``/``apex``/``offset`` are the data set's own frame numbers (as in the file names).
    ``apex_missing`` is True where the sheet had no apex (e.g. '/'); ``apex`` is then the
    middle frame, so downstream code always has an integer.
    """

    dataset: str
    subject: str
    clip: str
    frames: list[Path]
    onset: int
    apex: int
    offset: int
    emotion: str
    label5: str | None
    label3: str | None
    aus: str = ""
    fps: float = 200.0
    apex_missing: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def apex_index(self) -> int:
        """Index of the apex within ``frames``."""
        return self.apex - self.onset


@dataclass
class Interval:
    """One annotated expression in a long video (frame indices into ``LongVideo.frames``)."""

    onset: int
    apex: int | None
    offset: int
    kind: str  # "micro" | "macro" | "blink"
    emotion: str = ""
    label5: str | None = None
    label3: str | None = None
    aus: str = ""
    intensity: float | None = None


@dataclass
class LongVideo:
    """A long (untrimmed) video with annotated intervals, for spotting (and recognition)."""

    dataset: str
    subject: str
    video: str
    frames: list[Path]
    fps: float
    intervals: list[Interval]
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Sheet reading
# --------------------------------------------------------------------------------------------
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
