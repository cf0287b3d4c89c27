"""The HTML report, rendered by a real browser (Debian's chromium, headless; scripts/test.sh
installs it): the page shows its tables, the timeline and the event pictures."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from offline_support import make_test_bag

from me_perception.perception.pipeline import PipelineConfig
from me_perception.tools.offline import process_recording


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed: run ./scripts/test.sh (it apt-installs it)")
    return found


def screenshot(page: Path, png: Path, profile: Path, size: str = "1300,2600") -> np.ndarray:
    """A headless Chromium screenshot of a local page, as a BGR image."""
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        f"--window-size={size}",
        f"--screenshot={png}",
        page.resolve().as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=120, check=True)
    image = cv2.imread(str(png))
    assert image is not None, f"no screenshot written to {png}"
    return image


def _colourful(image: np.ndarray) -> float:
    """Fraction of clearly coloured pixels (plots, heat maps, faces; not text or tables)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    return float(np.mean((hsv[:, :, 1] > 80) & (hsv[:, :, 2] > 60)))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    bag = make_test_bag(root / "clip")
    config = PipelineConfig(backend="onnxruntime", num_threads=1)  # the shipped model
    process_recording(bag, root / "out", config=config, progress=False)
    return root / "out"


def test_the_report_renders_with_its_pictures(report: Path, tmp_path: Path) -> None:
    events = sorted((report / "events").glob("*.png"))
    assert events, "the shipped model spots something in this clip"
    shot = screenshot(report / "report.html", tmp_path / "report.png", tmp_path / "profile")
    assert shot.shape[:2] == (2600, 1300)
    assert shot.std() > 30, "the page is blank"
    colour = _colourful(shot)
    # Without its images the same page is black text on white: check that they made the
    # difference, by rendering a copy whose image links are broken.
    broken = tmp_path / "broken"
    shutil.copytree(report, broken, ignore=shutil.ignore_patterns("*.png", "results"))
    bare = screenshot(broken / "report.html", tmp_path / "bare.png", tmp_path / "profile2")
    assert colour > 0.02 and colour > 5 * _colourful(bare), (colour, _colourful(bare))
    # the top of the page is the facts table: dark text on white, rows of it
    top = cv2.cvtColor(shot[:300], cv2.COLOR_BGR2GRAY)
    assert (top < 100).mean() > 0.005 and (top > 240).mean() > 0.5
