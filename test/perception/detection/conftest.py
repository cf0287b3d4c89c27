"""Real photographs (shipped inside scikit-image) and one detector for the detection tests."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from me_perception.perception.detection import HaarFaceDetector


@pytest.fixture(scope="module")
def astronaut_gray() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)


@pytest.fixture(scope="module")
def detector() -> HaarFaceDetector:
    return HaarFaceDetector()
