"""The identities' hand/detector-measured landmarks agree with the project's face detector."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from me_perception.learning.synthetic.identities import (
    IDENTITIES,
    get_identity,
    identity_names,
    mirrored,
)
from me_perception.perception.detection import (
    HaarDetectorConfig,
    HaarFaceDetector,
    find_onet_model,
)

_FIVE = ("eye_l", "eye_r", "nose_tip", "mouth_l", "mouth_r")  # the detector's order


def test_registry_names_both_real_faces():
    assert identity_names() == tuple(IDENTITIES) == ("astronaut", "grace_hopper")
    with pytest.raises(ValueError, match="grace_hopper"):
        get_identity("nobody")


@pytest.mark.skipif(find_onet_model() is None, reason="O-Net model file not installed")
@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_detector_finds_the_face_and_landmarks_near_the_constants(name):
    ident = get_identity(name)
    det = HaarFaceDetector(HaarDetectorConfig(landmarks="onet"))
    gray = cv2.cvtColor(ident.canvas, cv2.COLOR_BGR2GRAY)
    faces = det.detect(gray)
    assert faces, "no face found"
    fx, fy, _ = ident.face_box
    best = min(faces, key=lambda f: np.hypot(f.box[0] + f.box[2] / 2 - fx, f.box[1] - fy))
    assert best.landmark_source == "detector"
    ref = np.array([ident.landmarks[k] for k in _FIVE])
    err = np.linalg.norm(best.landmarks - ref, axis=1) / ident.iod
    assert err.max() < 0.12, dict(zip(_FIVE, err.round(3), strict=True))
    # The detected box holds the eyes, nose and mouth.
    x0, y0, w, h = best.box
    assert ((ref > (x0, y0)) & (ref < (x0 + w, y0 + h))).all()


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_mirror_flips_pixels_and_swaps_left_right(name):
    ident = get_identity(name)
    m = mirrored(ident)
    assert np.array_equal(m.canvas, ident.canvas[:, ::-1])
    assert m.landmarks["eye_l"][0] < m.landmarks["eye_r"][0]
    assert m.landmarks["mouth_l"][0] < m.landmarks["mouth_r"][0]
    w = ident.side - 1
    assert m.landmarks["eye_l"][0] == pytest.approx(w - ident.landmarks["eye_r"][0])
    assert m.iod == pytest.approx(ident.iod)
    assert np.array_equal(mirrored(m).canvas, ident.canvas)
