"""The face front end: decoded image -> faces to process -> aligned crops in the network layout.

One front end serves the live node, the offline tools (both through
:class:`~me_perception.perception.pipeline.Pipeline`) and training
(:mod:`me_perception.learning.preparation`), so the network is trained on crops made exactly as
it will see them: the same detector schedule, tracker smoothing, face choice and alignment.

Per frame: scheduled detection (full passes spread over frames, ROI passes for tracked faces,
:class:`~me_perception.perception.detection.schedule.IntervalDetector`) -> tracking (stable ids,
:class:`~me_perception.perception.face_tracking.FaceTracker`) -> face choice -> similarity
alignment to the model's canonical crop -> ``(N, C, S, S)`` float32 in [0, 1].

Face choice: when more faces are tracked than ``max_faces``, a processed face keeps its slot for
as long as it is tracked (its temporal state would otherwise be thrown away and rebuilt), and a
free slot goes to the unprocessed face with the largest ``box area x detection score`` (the
nearest, most certain face), ties broken by id. Output order is by face id, stable over time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from me_perception.perception.detection import (
    Box,
    FaceDetector,
    HaarDetectorConfig,
    HaarFaceDetector,
    IntervalDetector,
)
from me_perception.perception.face_alignment import AlignmentConfig, align_faces, to_nchw
from me_perception.perception.face_tracking import FaceTracker, Track, TrackerConfig
from me_perception.perception.image_decoding import DecodedImage

__all__ = ["FrontEnd", "FrontEndConfig", "FrontEndFrame", "clip_box"]

PixelBox = tuple[int, int, int, int]  # x, y, width, height in whole pixels inside the image


@dataclass(frozen=True)
class FrontEndConfig:
    """How faces are found, followed, chosen and cut out.

    A full-image detection pass runs every ``detect_full_every`` frames, spread over
    ``detect_slices`` frames so no single frame pays for all of it; tracked faces are
    re-detected in their ROI every frame (docs/front_end.md). ``alignment_zoom`` < 1 keeps more
    brow and chin in the crop.
    """

    max_faces: int = 8
    detect_full_every: int = 12
    detect_slices: int = 5
    detector: HaarDetectorConfig = field(default_factory=HaarDetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    alignment_zoom: float = 0.9

    def __post_init__(self) -> None:
        if not 1 <= self.max_faces <= 64:
            raise ValueError("max_faces must be in [1, 64]")
        if not 1 <= self.detect_slices <= self.detect_full_every:
            raise ValueError("need 1 <= detect_slices <= detect_full_every")


@dataclass
class FrontEndFrame:
    """The front end's output for one frame.

    ``faces`` are the processed tracks in output order (by id), ``boxes`` their boxes clipped
    to the image, ``crops`` their aligned crops ``(N, C, S, S)`` float32 in [0, 1] (row i is
    ``faces[i]``). ``lost`` lists the ids the tracker dropped on this frame; ``tracked`` counts
    the confirmed tracks, processed or not.
    """

    faces: list[Track]
    boxes: list[PixelBox]
    crops: np.ndarray
    lost: list[str]
    tracked: int
    width: int
    height: int
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def face_ids(self) -> list[str]:
        return [t.id for t in self.faces]


def clip_box(box: Box, width: int, height: int) -> PixelBox:
    """A float (x, y, w, h) box rounded to whole pixels and clipped to the image."""
    x0 = round(min(max(box[0], 0.0), width))
    y0 = round(min(max(box[1], 0.0), height))
    x1 = round(min(max(box[0] + box[2], 0.0), width))
    y1 = round(min(max(box[1] + box[3], 0.0), height))
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


class FrontEnd:
    """Detection schedule + tracker + face choice + alignment for one camera stream.

    ``crop_size`` and ``gray`` are the model's input contract (``ModelConfig.crop_size``,
    ``in_channels == 1``). ``detector`` replaces the default Haar + O-Net schedule (e.g. faces
    from an upstream node, or a fake detector in tests). Not thread-safe.
    """

    def __init__(
        self,
        config: FrontEndConfig | None = None,
        *,
        crop_size: int = 64,
        gray: bool = True,
        detector: FaceDetector | None = None,
    ) -> None:
        self.config = cfg = config or FrontEndConfig()
        self.detector = detector or IntervalDetector(
            HaarFaceDetector(cfg.detector),
            full_every=cfg.detect_full_every,
            slices=cfg.detect_slices,
        )
        self.alignment = AlignmentConfig(size=crop_size, gray=gray, zoom=cfg.alignment_zoom)
        self.tracker = FaceTracker(cfg.tracker)
        self._slots: list[str] = []

    def reset(self) -> list[str]:
        """Drop every track and restart the detection schedule (time went backwards); returns
        the confirmed ids dropped. Ids stay unique: a face seen again gets a new id."""
        self._slots = []
        self.detector.reset()
        return self.tracker.reset()

    def crops(
        self, image: DecodedImage, faces: list[tuple[Box | None, np.ndarray | None]]
    ) -> np.ndarray:
        """Aligned crops ``(N, C, S, S)`` of ``(box, landmarks)`` faces in ``image``."""
        src = image.gray if self.alignment.gray else image.bgr
        batch, _ = align_faces(src, faces, self.alignment)
        return to_nchw(batch)

    def process(self, image: DecodedImage) -> FrontEndFrame:
        """Find, follow, choose and cut out the faces of one frame."""
        gray = image.gray
        h, w = gray.shape[:2]
        t0 = time.perf_counter()
        update = self.tracker.update(self.detector.detect(gray, self.tracker.rois))
        faces = self._choose(update.tracks)
        t1 = time.perf_counter()
        crops = self.crops(image, [(t.box, t.landmarks) for t in faces])
        timings = {"detect_track": (t1 - t0) * 1e3, "align": (time.perf_counter() - t1) * 1e3}
        return FrontEndFrame(
            faces=faces,
            boxes=[clip_box(t.box, w, h) for t in faces],
            crops=crops,
            lost=list(update.lost),
            tracked=len(update.tracks),
            width=w,
            height=h,
            timings_ms=timings,
        )

    def _choose(self, tracks: list[Track]) -> list[Track]:
        """The tracks to process (see the module docstring), in the tracker's id order."""
        live = {t.id for t in tracks}
        self._slots = [fid for fid in self._slots if fid in live]
        free = self.config.max_faces - len(self._slots)
        if free > 0:
            waiting = [t for t in tracks if t.id not in self._slots]
            waiting.sort(key=lambda t: (-t.box[2] * t.box[3] * t.score, t.id))
            self._slots += [t.id for t in waiting[:free]]
        chosen = set(self._slots)
        return [t for t in tracks if t.id in chosen]
