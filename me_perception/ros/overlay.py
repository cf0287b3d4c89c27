"""Debug overlay: face boxes, ids, scores and labels drawn on a copy of the frame."""

from __future__ import annotations

import cv2
import numpy as np

from me_perception.perception.events import Phase
from me_perception.perception.pipeline import FrameResult

_COLOURS = {
    Phase.NONE: (200, 200, 200),
    Phase.ONSET: (0, 200, 255),
    Phase.APEX: (0, 0, 255),
    Phase.OFFSET: (255, 160, 0),
}


def draw_overlay(bgr: np.ndarray, result: FrameResult) -> np.ndarray:
    """A BGR copy of ``bgr`` with every tracked face annotated (the input is not modified)."""
    out = np.array(bgr, dtype=np.uint8, copy=True)
    for face in result.faces:
        x, y, w, h = face.box
        colour = _COLOURS.get(face.phase, (255, 255, 255))
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, 2)
        text = f"{face.face_id} spot {face.spotting_score:.2f} macro {face.macro_score:.2f}"
        cv2.putText(out, text, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1)
        if face.label:
            label = f"{face.label} {face.confidence:.2f} int {face.intensity:.2f}"
            cv2.putText(out, label, (x, y + h + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1)
    return out
