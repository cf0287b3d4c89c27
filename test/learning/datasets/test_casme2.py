"""CASME II loader on small fixture folders in the published layout (real data is licensed)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest

from me_perception.learning.datasets import DatasetFormatError, load_casme2, load_frames, to_label5
from me_perception.learning.datasets.casme2 import subject_folder

HEADER = [
    "Subject",
    "Filename",
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    "Action Units",
    "Estimated Emotion",
]
ROWS = [
    [1, "EP02_01f", 46, 59, 86, "12", "happiness"],
    ["01", "EP03_02", 10, "/", 20, "4", "disgust"],
    ["sub02", "EP01_11f", 5, 7, 9, "14", "repression"],
    [2, "EP06_01f", 30, 33, 35.0, "1+2", "Surprise"],
    [2, "EP07_04", 1, 2, 4, "R10", "others"],
    [2, "EP08_01", 3, 4, 5, "4+7", "fear"],
]


def _make_frames(root: Path, rows: list[list]) -> None:
    for r in rows:
        sub = subject_folder(r[0])
        folder = root / "CASME2_RAW_selected" / sub / str(r[1])
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(int(r[2]) - 1, int(float(r[4])) + 2):  # one spare frame each side
            img = np.full((6, 8, 3), n % 256, np.uint8)
            cv2.imwrite(str(folder / f"img{n}.jpg"), img)


def _write_xlsx(path: Path, header: list, rows: list[list], title: bool = False) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    if title:
        ws.append(["CASME II coding, version 2014-05-08"])
    ws.append(header)
    for r in rows:
        ws.append(r)
    ws.append([])
    wb.save(path)
    return path


@pytest.fixture
def casme(tmp_path: Path) -> Path:
    _make_frames(tmp_path, ROWS)
    _write_xlsx(tmp_path / "CASME2-coding-20140508.xlsx", HEADER, ROWS)
    return tmp_path


def test_loads_xlsx_with_quirks(casme: Path):
    samples = load_casme2(casme)
    assert [s.clip for s in samples] == [r[1] for r in ROWS]
    s0 = samples[0]
    assert (s0.subject, s0.onset, s0.apex, s0.offset) == ("sub01", 46, 59, 86)
    assert len(s0.frames) == 41 and s0.frames[0].name == "img46.jpg"
    assert s0.frames[-1].name == "img86.jpg" and s0.apex_index == 13
    assert s0.fps == 200.0 and s0.aus == "12"
    assert (s0.label5, s0.label3) == ("happiness", "positive")
    s1 = samples[1]
    assert s1.apex_missing and s1.apex == 15 and not s0.apex_missing
    assert (s1.label5, s1.label3) == ("disgust", "negative")
    assert samples[2].subject == "sub02" and samples[2].label3 == "negative"
    assert (samples[3].label5, samples[3].label3, samples[3].offset) == ("surprise", "surprise", 35)
    assert (samples[4].label5, samples[4].label3) == ("others", None)  # excluded from 3-class
    # CASME II fear/sadness are 'others' in the 5-class set, hence excluded from MEGC 3-class.
    assert (samples[5].emotion, samples[5].label5, samples[5].label3) == ("fear", "others", None)
    frames = load_frames(s0.frames[:3])
    assert frames.shape == (3, 6, 8, 3)


def test_csv_with_other_capitalisation_and_title_row(tmp_path: Path):
    _make_frames(tmp_path, ROWS[:2])
    header = ["subject", "filename", "Onset Frame", "apex frame", "offset_frame", "AUs", "Emotion"]
    path = tmp_path / "CASME2-coding-2014.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["CASME II"])
        w.writerow(header)
        for r in ROWS[:2]:
            w.writerow(r)
    samples = load_casme2(tmp_path)
    assert [s.clip for s in samples] == ["EP02_01f", "EP03_02"]
    assert samples[1].apex_missing


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ([1, "EP02_01f", 90, 59, 86, "12", "happiness"], r"row 3: OnsetFrame 90 > OffsetFrame 86"),
        ([1, "EP02_01f", 46, 99, 86, "12", "happiness"], r"row 3: ApexFrame 99 outside"),
        ([1, "EP02_01f", 46, 59, 86, "12", "boredom"], r"row 3: unknown emotion 'boredom'"),
        ([1, "EP02_01f", "x", 59, 86, "12", "happiness"], r"row 3: bad OnsetFrame 'x'"),
        ([1, "EP02_01f", 46, 59, None, "12", "happiness"], r"row 3: missing OffsetFrame"),
        (["s?", "EP02_01f", 46, 59, 86, "12", "happiness"], r"row 3: bad Subject"),
        ([1, "EP99_01", 46, 59, 86, "12", "happiness"], r"row 3: clip folder .*EP99_01 missing"),
        ([1, "EP02_01f", 40, 59, 86, "12", "happiness"], r"row 3: 5 frame\(s\) missing.*first 40"),
        ([1, "EP03_02", 10, 12, 20, "4", "disgust"], r"row 3: duplicate sample sub01/EP03_02"),
    ],
)
def test_malformed_rows_name_file_and_row(casme: Path, bad_row: list, message: str):
    sheet = _write_xlsx(casme / "bad.xlsx", HEADER, [ROWS[1], bad_row])
    with pytest.raises(DatasetFormatError, match=message) as info:
        load_casme2(casme, sheet=sheet)
    assert "bad.xlsx" in str(info.value)


def test_missing_column_and_missing_sheet(casme: Path, tmp_path_factory):
    sheet = _write_xlsx(casme / "nocol.xlsx", HEADER[:4] + HEADER[5:], ROWS)
    with pytest.raises(DatasetFormatError, match=r"nocol\.xlsx: no header row"):
        load_casme2(casme, sheet=sheet)
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(DatasetFormatError, match="no CASME2-coding"):
        load_casme2(empty)
    only_header = _write_xlsx(casme / "hdr.xlsx", HEADER, [])
    with pytest.raises(DatasetFormatError, match="no samples"):
        load_casme2(casme, sheet=only_header)
    broken = casme / "broken.xlsx"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(DatasetFormatError, match=r"broken\.xlsx: cannot read workbook"):
        load_casme2(casme, sheet=broken)


def test_subject_folder_and_label_mapping():
    assert subject_folder(1) == subject_folder("01") == subject_folder("sub1") == "sub01"
    assert subject_folder(12.0) == "sub12"
    assert to_label5("Sadness") == "others" and to_label5("HAPPINESS") == "happiness"
    assert to_label5("nonsense") is None
