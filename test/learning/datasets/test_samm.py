"""SAMM loader on small fixture folders in the published layout (real data is licensed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest

from me_perception.learning.datasets import DatasetFormatError, load_samm

HEADER = [
    "Subject",
    "Filename",
    "Inducement Code",
    "Onset Frame",
    "Apex Frame",
    "Offset Frame",
    "Duration",
    "Type",
    "Action Units",
    "Notes",
    "Estimated Emotion",
]
ROWS = [
    ["006", "006_1_2", 1, 5562, 5588, 5632, 71, "Micro - 1/2", "R14", "", "Contempt"],
    [6, "006_1_6", 1, 1020, -1, 1030, 11, "Micro - 1/2", "12", "", "Happiness"],
    ["007", "007_6_1", 6, 200, 210, 220, 21, "Micro - 1/2", "1+2", "", "Surprise"],
    ["007", "007_7_5", 7, 10, 12, 14, 5, "Micro - 1/2", "4", "", "Other"],
]


def _make_frames(root: Path, rows: list[list]) -> None:
    for r in rows:
        sub = f"{int(r[0]):03d}"
        folder = root / "SAMM" / sub / r[1]
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(r[3], r[5] + 1):
            cv2.imwrite(str(folder / f"{sub}_{n:05d}.jpg"), np.zeros((4, 4, 3), np.uint8))


def _write(path: Path, rows: list[list]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    # The distributed sheet has a title/notes block above the table.
    ws.append(["SAMM Micro-Movement FACS codes"])
    ws.append(["Notes: frame numbers refer to image files"])
    ws.append([])
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


@pytest.fixture
def samm(tmp_path: Path) -> Path:
    _make_frames(tmp_path, ROWS)
    _write(tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx", ROWS)
    return tmp_path


def test_loads_layout_and_labels(samm: Path):
    s = load_samm(samm)
    assert [x.clip for x in s] == ["006_1_2", "006_1_6", "007_6_1", "007_7_5"]
    assert (s[0].subject, s[0].onset, s[0].apex, s[0].offset) == ("006", 5562, 5588, 5632)
    assert s[0].frames[0].name == "006_05562.jpg" and len(s[0].frames) == 71
    assert (s[0].label5, s[0].label3) == ("others", "negative")  # contempt: MEGC negative
    assert s[1].apex_missing and s[1].apex == 1025
    assert (s[1].label5, s[1].label3) == ("happiness", "positive")
    assert (s[2].label5, s[2].label3) == ("surprise", "surprise")
    assert (s[3].label5, s[3].label3) == ("others", None)  # 'Other' excluded from 3-class
    assert all(x.fps == 200.0 and x.dataset == "samm" for x in s)


def test_root_may_be_the_samm_folder(samm: Path):
    (samm / "SAMM_Micro_FACS_Codes_v2.xlsx").rename(samm / "SAMM" / "SAMM_Micro_FACS_Codes_v2.xlsx")
    assert len(load_samm(samm / "SAMM")) == 4


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["006", "007_1_2", 1, 5562, 5588, 5632, 0, "", "", "", "Anger"], "does not belong"),
        (["006", "006_1_2", 1, 5632, 5588, 5562, 0, "", "", "", "Anger"], "Onset Frame 5632 >"),
        (["006", "006_1_2", 1, 5562, 5588, 5640, 0, "", "", "", "Anger"], r"8 frame\(s\) missing"),
        (["006", "006_1_2", 1, 5562, 5588, 5632, 0, "", "", "", "Joy"], "unknown emotion 'Joy'"),
        (["006", "006_1_2", 1, "", 5588, 5632, 0, "", "", "", "Anger"], "missing Onset Frame"),
        ([None, "006_1_2", 1, 5562, 5588, 5632, 0, "", "", "", "Anger"], "missing Subject"),
    ],
)
def test_malformed_rows_name_file_and_row(samm: Path, bad: list, message: str):
    sheet = _write(samm / "bad.xlsx", [ROWS[2], bad])
    with pytest.raises(DatasetFormatError, match=message) as info:
        load_samm(samm, sheet=sheet)
    assert "bad.xlsx: row 6" in str(info.value)


def test_no_sheet(tmp_path: Path):
    with pytest.raises(DatasetFormatError, match="no SAMM_Micro_FACS_Codes"):
        load_samm(tmp_path)
