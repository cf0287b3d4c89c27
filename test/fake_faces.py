"""A scripted face detector: known boxes and landmarks, no detector cost (tests only).

It is a real :class:`~me_perception.perception.detection.FaceDetector` subclass, so everything
downstream (tracker, face choice, alignment, buffers, network, events) runs for real.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from me_perception.perception.detection import Box, FaceDetection, FaceDetector, landmarks_from_box
from me_perception.perception.image_decoding import DecodedImage


def face(x: float, y: float, size: float, score: float = 0.99) -> FaceDetection:
    """A detection of a square face at (x, y) with landmarks from the box template."""
    box: Box = (float(x), float(y), float(size), float(size))
    return FaceDetection(box, score, landmarks_from_box(box), "detector")


class ScriptedDetector(FaceDetector):
    """Returns ``script(call_index)`` on each call (the full image and ROIs alike)."""

    def __init__(self, script: Callable[[int], Sequence[FaceDetection]]) -> None:
        self.script = script
        self.calls = 0
        self.resets = 0

    def detect(self, gray: np.ndarray, rois: Sequence[Box] | None = None) -> list[FaceDetection]:
        out = list(self.script(self.calls))
        self.calls += 1
        return out

    def reset(self) -> None:
        self.resets += 1


def textured_image(width: int = 320, height: int = 240, seed: int = 0) -> DecodedImage:
    """A smooth random BGR image (so aligned crops are not constant)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    import cv2

    return DecodedImage(
        "bgr8", bgr=cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    )
