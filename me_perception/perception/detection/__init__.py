"""Face detection: the detector interface, the shipped Haar + O-Net detector, scheduling.

``base`` (the interface every face source implements), ``haar`` (OpenCV's Haar cascade with
O-Net or eye-cascade landmarks), ``onet`` (MTCNN's O-Net landmarker), ``schedule`` (full and ROI
passes spread over frames), ``external`` (boxes from an upstream node).
"""

from me_perception.perception.detection.base import (
    BOX_LANDMARK_TEMPLATE,
    Box,
    FaceDetection,
    FaceDetector,
    box_iou,
    landmarks_from_box,
    roll_from_landmarks,
)
from me_perception.perception.detection.external import ExternalRoiDetector
from me_perception.perception.detection.haar import HaarDetectorConfig, HaarFaceDetector
from me_perception.perception.detection.onet import OnetLandmarker, find_onet_model
from me_perception.perception.detection.schedule import IntervalDetector

__all__ = [
    "BOX_LANDMARK_TEMPLATE",
    "Box",
    "ExternalRoiDetector",
    "FaceDetection",
    "FaceDetector",
    "HaarDetectorConfig",
    "HaarFaceDetector",
    "IntervalDetector",
    "OnetLandmarker",
    "box_iou",
    "find_onet_model",
    "landmarks_from_box",
    "roll_from_landmarks",
]
