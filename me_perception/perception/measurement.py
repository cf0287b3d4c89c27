"""One code path from an image to what is measured of each face: the front end (detect, track,
choose, align) plus each face's motion (:mod:`.motion`).

The pipeline (live node, offline tools) and training (``learning/preparation``) both call
:class:`FaceMeasurement`, so a model is trained on motion measured exactly as it will be
measured live: same detector schedule, tracker smoothing, alignment, flow, head-motion
removal and reference rules. There is no second copy in training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from me_perception.perception.detection import FaceDetector
from me_perception.perception.front_end import FrontEnd, FrontEndConfig, FrontEndFrame
from me_perception.perception.image_decoding import DecodedImage
from me_perception.perception.motion import FaceMotion, MotionConfig, MotionSample

__all__ = ["FaceMeasurement", "MeasuredFrame"]


@dataclass
class MeasuredFrame:
    """The front end's frame plus one motion sample per processed face (same order)."""

    frame: FrontEndFrame
    motion: list[MotionSample] = field(default_factory=list)


class FaceMeasurement:
    """Front end + per-face motion for one camera stream. Not thread-safe."""

    def __init__(
        self,
        front_end: FrontEndConfig | None = None,
        motion: MotionConfig | None = None,
        *,
        crop_size: int = 64,
        gray: bool = True,
        detector: FaceDetector | None = None,
    ) -> None:
        self.front_end = FrontEnd(front_end, crop_size=crop_size, gray=gray, detector=detector)
        self.motion_config = motion or MotionConfig()
        self._motion: dict[str, FaceMotion] = {}

    def process(self, image: DecodedImage, stamp_s: float) -> MeasuredFrame:
        """Faces of this frame and their motion; faces the tracker lost are forgotten."""
        frame = self.front_end.process(image)
        for fid in frame.lost:
            self.forget(fid)
        t0 = time.perf_counter()
        samples = []
        for track in frame.faces:
            motion = self._motion.get(track.id)
            if motion is None:
                motion = self._motion[track.id] = FaceMotion(self.motion_config)
            samples.append(motion.update(image.gray, track.box, track.landmarks, stamp_s))
        frame.timings_ms["motion"] = (time.perf_counter() - t0) * 1e3
        return MeasuredFrame(frame, samples)

    def forget(self, face_id: str) -> None:
        """Drop a face's motion state (lost, or its temporal state restarts)."""
        self._motion.pop(face_id, None)

    def restart(self) -> None:
        """Restart every face's motion (a frame gap): the reference is re-taken."""
        self._motion.clear()

    def reset(self) -> list[str]:
        """Forget every face (time went backwards); returns the confirmed ids dropped."""
        self._motion.clear()
        return self.front_end.reset()
