"""The learning commands: train on a CASME II-layout folder, then evaluate without training."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from me_perception.learning.synthetic import ClipConfig


def test_cli_trains_on_a_casme2_layout_folder(tmp_path: Path):
    """`me_perception_train --dataset casme2 --root DIR` on a CASME II-layout copy (frames are
    synthetic here; the data set itself is licensed and never shipped)."""
    import json

    import cv2
    import openpyxl

    from me_perception.learning.cli import train_main as main
    from me_perception.learning.synthetic import SyntheticFaceGenerator

    cfg = ClipConfig(
        fps=100.0,
        duration_s=1.5,
        n_micro=1,
        n_macro=0,
        blink_rate_hz=0.0,
        width=160,
        height=160,
        face_fraction=0.5,
        classes=("happiness", "surprise"),
    )
    gen = SyntheticFaceGenerator()
    wb = openpyxl.Workbook()
    wb.active.append(
        ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
         "Estimated Emotion"]
    )  # fmt: skip
    for sub in (1, 2, 3):
        for k in range(2):
            clip = gen.render(cfg, subject_id=sub, seed=10 * sub + k)
            (e,) = clip.events
            name = f"EP0{k + 1}_01"
            folder = tmp_path / "CASME2_RAW_selected" / f"sub0{sub}" / name
            folder.mkdir(parents=True)
            for i in range(e.onset, e.offset + 1):
                cv2.imwrite(str(folder / f"img{i}.png"), clip.frames[i])
            wb.active.append([sub, name, e.onset, e.apex, e.offset, "12", e.label5])
    wb.save(tmp_path / "CASME2-coding-test.xlsx")
    out = tmp_path / "run"
    args = ["--dataset", "casme2", "--root", str(tmp_path), "--out", str(out)]
    args += ["--epochs", "1", "--steps", "2", "--batch-size", "2", "--window-s", "0.2"]
    args += ["--crop-size", "32", "--val-subjects", "1", "--max-folds", "1", "--threads", "1"]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert "casme2" in json.dumps(report)
    assert (out / "model.onnx").is_file() and (out / "confusion.png").is_file()

    # and the evaluation command scores that model on the same layout without training
    from me_perception.learning.cli import evaluate_main as evaluate

    rep_dir = tmp_path / "eval"
    argv = ["--model", str(out), "--dataset", "casme2", "--root", str(tmp_path)]
    assert evaluate([*argv, "--out", str(rep_dir)]) == 0
    evaluated = json.loads((rep_dir / "report.json").read_text())
    assert evaluated["n_videos"] == 6
    assert evaluated["test"]["recognition"]["n"] == 6
    assert (rep_dir / "confusion.png").is_file() and (rep_dir / "per_subject.md").is_file()
    assert evaluate([*argv[:2], "--dataset", "casme2", "--root", str(tmp_path / "nope"),
                     "--out", str(tmp_path / "e2")]) == 2  # fmt: skip
