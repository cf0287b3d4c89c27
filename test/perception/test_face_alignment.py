"""Similarity alignment: invariance to in-plane pose, fallbacks, output contract."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from me_perception.perception.detection import HaarFaceDetector
from me_perception.perception.face_alignment import (
    AlignmentConfig,
    align_face,
    align_faces,
    umeyama,
)


def test_umeyama_recovers_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    ang, s, t = 0.3, 1.7, np.array([5.0, -3.0])
    r = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = (s * (r @ src.T)).T + t
    m = umeyama(src, dst)
    np.testing.assert_allclose(m[:, :2], s * r, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)


@pytest.fixture(scope="module")
def astronaut():
    bgr = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    det = HaarFaceDetector().detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))[0]
    return bgr, det


def test_output_contract(astronaut):
    bgr, det = astronaut
    a = align_face(bgr, det.box, det.landmarks, AlignmentConfig(size=64, gray=True))
    assert a.crop.shape == (64, 64) and a.crop.dtype == np.float32
    assert 0.0 <= a.crop.min() and a.crop.max() <= 1.0
    assert a.used_landmarks and a.matrix.shape == (2, 3)
    c = align_face(bgr, det.box, det.landmarks, AlignmentConfig(size=112, gray=False))
    assert c.crop.shape == (112, 112, 3)
    g = align_face(
        cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), det.box, None, AlignmentConfig(gray=False)
    )
    assert g.crop.shape == (64, 64, 3) and not g.used_landmarks


def test_rotation_invariance(astronaut):
    """Rotating and scaling the image (and landmarks) gives nearly the same crop."""
    bgr, det = astronaut
    cfg = AlignmentConfig(size=64)
    ref = align_face(bgr, det.box, det.landmarks, cfg).crop
    m = cv2.getRotationMatrix2D((256.0, 256.0), 20.0, 0.8)
    rotated = cv2.warpAffine(bgr, m, (512, 512), flags=cv2.INTER_LINEAR)
    lm = (m[:, :2] @ det.landmarks.T.astype(np.float64)).T + m[:, 2]
    out = align_face(rotated, None, lm, cfg).crop
    assert np.abs(out - ref)[8:-8, 8:-8].mean() < 0.04
    # And the box fallback does *not* undo rotation: the test above is meaningful.
    x, y = lm[:, 0].min(), lm[:, 1].min()
    box = (x - 20, y - 30, lm[:, 0].max() - x + 40, lm[:, 1].max() - y + 50)
    naive = align_face(rotated, box, None, cfg).crop
    assert np.abs(naive - ref)[8:-8, 8:-8].mean() > 0.06


def test_eyes_land_on_template(astronaut):
    bgr, det = astronaut
    cfg = AlignmentConfig(size=112, zoom=1.0)
    a = align_face(bgr, det.box, det.landmarks, cfg)
    eyes = (a.matrix[:, :2] @ det.landmarks[:2].T).T + a.matrix[:, 2]
    np.testing.assert_allclose(eyes, [[38.3, 51.7], [73.5, 51.5]], atol=3.0)


@pytest.mark.parametrize(
    "landmarks",
    [None, np.full((5, 2), np.nan), np.full((5, 2), 100.0), np.zeros((3, 2))],
)
def test_box_fallback(astronaut, landmarks):
    bgr, det = astronaut
    a = align_face(bgr, det.box, landmarks)
    assert not a.used_landmarks
    assert np.isfinite(a.crop).all()


def test_needs_box_or_landmarks():
    img = np.zeros((10, 10), np.uint8)
    with pytest.raises(ValueError):
        align_face(img, None, None)
    with pytest.raises(ValueError):
        align_face(img, (0.0, 0.0, 0.0, 5.0), None)


def test_float_input_is_clipped():
    img = np.full((50, 50), 2.0, np.float32)
    a = align_face(img, (10.0, 10.0, 20.0, 20.0))
    assert a.crop.max() == 1.0


def test_align_faces_batch(astronaut):
    bgr, det = astronaut
    batch, aligned = align_faces(bgr, [(det.box, det.landmarks), (det.box, None)])
    assert batch.shape == (2, 64, 64) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[0], align_face(bgr, det.box, det.landmarks).crop)
    assert [a.used_landmarks for a in aligned] == [True, False]
    empty, _ = align_faces(bgr, [], AlignmentConfig(gray=False, size=32))
    assert empty.shape == (0, 32, 32, 3)
