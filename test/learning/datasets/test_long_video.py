"""CAS(ME)^2 and SAMM Long Videos loaders on small fixtures in the published layouts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest

from me_perception.learning.datasets import DatasetFormatError, load_casme_sq, load_samm_lv


def _frames(folder: Path, pattern: str, numbers: range) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    img = np.zeros((4, 4, 3), np.uint8)
    for n in numbers:
        cv2.imwrite(str(folder / pattern.format(n)), img)


# --------------------------------------------------------------------------------------------
# CAS(ME)^2
# --------------------------------------------------------------------------------------------
CODES = [
    [1, "disgust1_1", 10, 14, 20, "4", "negative", "macro-expression", "disgust"],
    [1, "disgust1_2", 30, 31, 33, "4+9", "negative", "micro-expression", "disgust"],
    [1, "happy1_1", 5, 8, 0, "12", "positive", "micro-expression", "happy"],
    [2, "disgust1_1", 2, 3, 6, "1+2", "surprise", "macro-expression", "surprise"],
    [2, "disgust1_2", 8, 9, 9, "10", "others", "micro-expression", ""],
]


def _casme_sq(root: Path, codes: list[list], naming: bool = True) -> Path:
    _frames(root / "rawpic" / "s15" / "15_0101disgustingteeth", "img{}.jpg", range(1, 41))
    _frames(root / "rawpic" / "s15" / "15_0401happy", "img{}.jpg", range(1, 21))
    _frames(root / "rawpic" / "s16" / "16_0101disgustingteeth", "img{}.jpg", range(1, 11))
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in codes:
        ws.append(r)
    if naming:
        ws1 = wb.create_sheet("naming rule1")
        ws1.append(["XX", 15, 1])
        ws1.append(["YY", 16, 2])
        ws2 = wb.create_sheet("naming rule2")
        ws2.append(["0101", "disgust1"])
        ws2.append([401, "happy1"])  # code typed as a number: leading zero lost
    path = root / "CAS(ME)^2code_final.xlsx"
    wb.save(path)
    return path


def test_casme_sq_layout_and_intervals(tmp_path: Path):
    _casme_sq(tmp_path, CODES)
    videos = {(v.subject, v.video): v for v in load_casme_sq(tmp_path)}
    assert set(videos) == {
        ("s15", "15_0101disgustingteeth"),
        ("s15", "15_0401happy"),
        ("s16", "16_0101disgustingteeth"),
    }
    v = videos[("s15", "15_0101disgustingteeth")]
    assert len(v.frames) == 40 and v.frames[0].name == "img1.jpg" and v.fps == 30.0
    # Indices into the frame list: img10 is index 9.
    assert [(iv.onset, iv.apex, iv.offset, iv.kind) for iv in v.intervals] == [
        (9, 13, 19, "macro"),
        (29, 30, 32, "micro"),
    ]
    assert v.intervals[0].label3 == "negative"
    happy = videos[("s15", "15_0401happy")]
    (iv,) = happy.intervals
    assert (iv.onset, iv.offset) == (4, 7)  # offset 0 -> apex
    assert happy.extra["offset_was_zero"] == [3]
    other = videos[("s16", "16_0101disgustingteeth")].intervals
    assert [iv.label3 for iv in other] == ["surprise", None]


def test_casme_sq_without_naming_sheets_uses_folder_names(tmp_path: Path):
    codes = [[15, "disgustingteeth_1", 10, 14, 20, "4", "negative", "macro-expression", ""]]
    _casme_sq(tmp_path, codes, naming=False)
    (v,) = load_casme_sq(tmp_path)
    assert v.video == "15_0101disgustingteeth"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([1, "disgust1_1", 20, 14, 30, "", "negative", "macro-expression", ""], "apex 13 outside"),
        (
            [1, "disgust1_1", 30, 31, 20, "", "negative", "macro-expression", ""],
            "onset 29 > offset",
        ),
        (
            [1, "disgust1_1", 30, 31, 50, "", "negative", "macro-expression", ""],
            "outside the video",
        ),
        (
            [1, "disgust1_1", 10, 14, 20, "", "negative", "nano-expression", ""],
            "unknown expression",
        ),
        ([3, "disgust1_1", 10, 14, 20, "", "negative", "macro-expression", ""], "found 0"),
        ([1, "disgust1_1", 10, None, 0, "", "negative", "macro-expression", ""], "neither offset"),
    ],
)
def test_casme_sq_malformed(tmp_path: Path, bad: list, message: str):
    _casme_sq(tmp_path, [CODES[0], bad])
    with pytest.raises(DatasetFormatError, match=message) as info:
        load_casme_sq(tmp_path)
    assert "code_final.xlsx: row 2" in str(info.value)


def test_casme_sq_missing_frame_in_folder(tmp_path: Path):
    _casme_sq(tmp_path, CODES)
    (tmp_path / "rawpic" / "s15" / "15_0401happy" / "img7.jpg").unlink()
    with pytest.raises(DatasetFormatError, match=r"15_0401happy: 1 frame\(s\) missing, first 7"):
        load_casme_sq(tmp_path)


# --------------------------------------------------------------------------------------------
# SAMM Long Videos
# --------------------------------------------------------------------------------------------
LV_HEADER = [
    "Subject",
    "Filename",
    "Inducement Code",
    "Onset",
    "Apex",
    "Offset",
    "Duration",
    "Type",
    "Action Units",
    "Notes",
]
LV_ROWS = [
    ["006", "006_1_1", 1, 100, 110, 150, 51, "Macro", "12", ""],
    ["006", "006_1_2", 1, 300, -1, 320, 21, "Micro - 1/2", "4", ""],
    [7, "007_3_1", 3, 1, 5, 9, 9, "Micro - 1/2", "14", ""],
]


def _samm_lv(root: Path, rows: list[list]) -> Path:
    _frames(root / "SAMM_longvideos" / "006_1", "006_1_{:04d}.jpg", range(1, 401))
    _frames(root / "SAMM_longvideos" / "007_3", "007_3_{:04d}.jpg", range(1, 21))
    wb = openpyxl.Workbook()
    ws = wb.active
    for line in (["SAMM Long Videos"], ["Release V3"], [], LV_HEADER, *rows):
        ws.append(line)
    path = root / "SAMM_LongVideos_V3_Release.xlsx"
    wb.save(path)
    return path


def test_samm_lv_layout_and_intervals(tmp_path: Path):
    _samm_lv(tmp_path, LV_ROWS)
    videos = {v.video: v for v in load_samm_lv(tmp_path)}
    v = videos["006_1"]
    assert len(v.frames) == 400 and v.fps == 200.0 and v.subject == "006"
    assert [(iv.onset, iv.apex, iv.offset, iv.kind) for iv in v.intervals] == [
        (99, 109, 149, "macro"),
        (299, None, 319, "micro"),
    ]
    assert all(iv.label3 is None for iv in v.intervals)  # long videos carry no emotion
    assert videos["007_3"].intervals[0].aus == "14"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["006", "006-1-3", 1, 100, 110, 150, 0, "Macro", "", ""], "not like '006_1_3'"),
        (["006", "006_1_3", 1, 100, 160, 150, 0, "Macro", "", ""], "apex 159 outside"),
        (["006", "006_1_3", 1, 100, 110, 500, 0, "Macro", "", ""], "outside the video"),
        (["006", "006_1_3", 1, 100, 110, 150, 0, "Blink", "", ""], "unknown expression type"),
        (["006", "006_1_3", 1, "abc", 110, 150, 0, "Macro", "", ""], "bad Onset 'abc'"),
        (["009", "009_1_1", 1, 1, 2, 3, 0, "Macro", "", ""], r"009_1 missing or empty"),
    ],
)
def test_samm_lv_malformed(tmp_path: Path, bad: list, message: str):
    _samm_lv(tmp_path, [LV_ROWS[0], bad])
    with pytest.raises(DatasetFormatError, match=message) as info:
        load_samm_lv(tmp_path)
    assert "SAMM_LongVideos_V3_Release.xlsx: row 6" in str(info.value)


def test_samm_lv_missing_folder_and_sheet(tmp_path: Path):
    with pytest.raises(DatasetFormatError, match="no SAMM LV sheet"):
        load_samm_lv(tmp_path)
    with pytest.raises(DatasetFormatError, match="no CAS"):
        load_casme_sq(tmp_path)
