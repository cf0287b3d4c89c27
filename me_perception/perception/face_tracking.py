"""Multi-face tracker giving stable ROS4HRI-style face ids.

Why a tracker at all: the temporal feature buffer, memory state and event logic are kept per
face, so a face must keep its id from frame to frame, and the caller must be told when a face
appears (start a fresh buffer) or is lost (free it). It also lets detection run only every n-th
frame: between detections the tracks keep their last smoothed box.

Rules (documented in docs/front_end.md):

* Matching: cost ``1 - IoU``, gated by IoU >= ``iou_threshold`` *or* centre distance <=
  ``center_gate`` x box size (fast motion at low frame rates breaks IoU first). Optimal
  assignment with ``scipy.optimize.linear_sum_assignment`` when scipy is importable, greedy
  lowest-cost-first otherwise.
* A new track is tentative; it is *confirmed* (and reported in ``appeared``) after
  ``confirm_hits`` matched detector runs. Tentative tracks are dropped silently on their first
  miss, so one-frame false positives never reach the caller.
* A confirmed track is dropped after ``max_misses`` consecutive detector runs without a match
  (reported in ``lost``). ``update(None)`` means "the detector did not run on this frame" and
  counts no miss.
* Boxes and landmarks are smoothed with an adaptive exponential filter: small jitter gets
  ``smoothing_min`` (strong smoothing, so alignment does not inject fake motion), large
  displacement up to 1.0 (no lag when the head really moves).
* When a detection has only box-estimated landmarks but the track had measured ones, the
  measured ones are carried along with the box for up to ``carry_landmarks`` detector runs
  (``landmark_source`` stays as measured), so the aligned crop does not jump between two
  landmark geometries.
* Ids are ``id_length`` random lowercase letters from ``random.Random(seed)``: runs with the
  same input give the same ids (deterministic bag replay), ids never repeat within a run.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from me_perception.perception.detection.base import Box, FaceDetection, box_iou

try:  # scipy is optional: greedy matching is used without it.
    from scipy.optimize import linear_sum_assignment as _lsa
except ImportError:  # pragma: no cover - exercised by forcing use_hungarian=False
    _lsa = None

__all__ = ["FaceTracker", "Track", "TrackerConfig", "TrackerUpdate"]


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker rules; counts are in detector runs, not frames."""

    iou_threshold: float = 0.3
    center_gate: float = 0.5
    confirm_hits: int = 3
    max_misses: int = 5
    smoothing_min: float = 0.3
    smoothing_motion: float = 0.1
    seed: int = 0
    id_length: int = 5
    use_hungarian: bool = True
    carry_landmarks: int = 10


@dataclass
class Track:
    """One tracked face. ``box``/``landmarks`` are smoothed; ``raw_box`` is the last detection."""

    id: str
    box: Box
    landmarks: np.ndarray = field(repr=False)
    raw_box: Box
    score: float
    landmark_source: str = "box"
    hits: int = 1
    misses: int = 0
    confirmed: bool = False
    carried: int = 0


@dataclass(frozen=True)
class TrackerUpdate:
    """Result of one :meth:`FaceTracker.update`.

    ``tracks``: confirmed tracks, sorted by id (stable output order). ``appeared`` / ``lost``:
    ids confirmed / dropped by this update. ``assignments``: detection index -> track id for
    detections matched to any (also tentative) track.
    """

    tracks: list[Track]
    appeared: list[str]
    lost: list[str]
    assignments: dict[int, str]


def _center_dist(a: Box, b: Box) -> float:
    ax, ay = a[0] + a[2] / 2, a[1] + a[3] / 2
    bx, by = b[0] + b[2] / 2, b[1] + b[3] / 2
    return float(np.hypot(ax - bx, ay - by) / max(1e-6, 0.5 * (a[2] + a[3] + b[2] + b[3]) / 2))


class FaceTracker:
    """IoU/centre tracker with confirmation, miss counting and smoothing (see module doc)."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._rng = random.Random(self.config.seed)
        self._used: set[str] = set()
        self._tracks: list[Track] = []

    # -- ids ------------------------------------------------------------------------------
    def _new_id(self) -> str:
        while True:
            fid = "".join(
                self._rng.choice(string.ascii_lowercase) for _ in range(self.config.id_length)
            )
            if fid not in self._used:
                self._used.add(fid)
                return fid

    # -- matching -------------------------------------------------------------------------
    def _match(self, dets: Sequence[FaceDetection]) -> list[tuple[int, int]]:
        cfg = self.config
        nt, nd = len(self._tracks), len(dets)
        if nt == 0 or nd == 0:
            return []
        cost = np.full((nt, nd), 1e6)
        for i, t in enumerate(self._tracks):
            for j, d in enumerate(dets):
                iou = box_iou(t.box, d.box)
                cd = _center_dist(t.box, d.box)
                if iou >= cfg.iou_threshold or cd <= cfg.center_gate:
                    # IoU dominates; centre distance breaks ties between zero-IoU candidates.
                    cost[i, j] = (1.0 - iou) + 0.01 * cd
        pairs: list[tuple[int, int]] = []
        if cfg.use_hungarian and _lsa is not None:
            rows, cols = _lsa(cost)
            pairs = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < 1e6]
        else:
            order = np.argsort(cost, axis=None, kind="stable")
            used_t: set[int] = set()
            used_d: set[int] = set()
            for flat in order:
                r, c = divmod(int(flat), nd)
                if cost[r, c] >= 1e6:
                    break
                if r in used_t or c in used_d:
                    continue
                used_t.add(r)
                used_d.add(c)
                pairs.append((r, c))
        return pairs

    # -- smoothing ------------------------------------------------------------------------
    def _smooth(self, t: Track, d: FaceDetection) -> None:
        cfg = self.config
        size = max(1.0, 0.5 * (t.box[2] + t.box[3]))
        shift = _center_dist(t.box, d.box) * size
        alpha = float(np.clip(shift / (cfg.smoothing_motion * size), cfg.smoothing_min, 1.0))
        old = np.asarray(t.box, np.float64)
        new = np.asarray(d.box, np.float64)
        t.box = tuple(float(v) for v in (1 - alpha) * old + alpha * new)
        target = np.asarray(d.landmarks, np.float64)
        if d.landmark_source == "box" and t.landmark_source != "box":
            if t.carried < cfg.carry_landmarks:
                # The detector missed the eyes this time: move the last measured landmarks
                # with the box instead of switching to the box template, whose different
                # geometry would make the aligned crop jump (fake motion for the model).
                ob, nb = t.raw_box, d.box
                k = (nb[2] + nb[3]) / max(1e-6, ob[2] + ob[3])
                oc = np.array([ob[0] + ob[2] / 2, ob[1] + ob[3] / 2])
                nc = np.array([nb[0] + nb[2] / 2, nb[1] + nb[3] / 2])
                target = (t.landmarks - oc) * k + nc
                t.carried += 1
            else:
                t.landmark_source = "box"
        else:
            t.landmark_source = d.landmark_source
            t.carried = 0
        t.landmarks = ((1 - alpha) * t.landmarks + alpha * target).astype(np.float32)

    # -- public API -----------------------------------------------------------------------
    def update(self, detections: Sequence[FaceDetection] | None) -> TrackerUpdate:
        """Advance by one frame.

        ``detections=None``: the detector did not run (tracks coast, no misses counted);
        ``[]``: it ran and found nothing (every track gets a miss).
        """
        cfg = self.config
        appeared: list[str] = []
        lost: list[str] = []
        assignments: dict[int, str] = {}
        if detections is None:
            return TrackerUpdate(self.tracks, appeared, lost, assignments)

        pairs = self._match(detections)
        matched_t = {r for r, _ in pairs}
        matched_d = {c for _, c in pairs}
        for r, c in pairs:
            t, d = self._tracks[r], detections[c]
            self._smooth(t, d)
            t.raw_box = tuple(float(v) for v in d.box)
            t.score = d.score
            t.hits += 1
            t.misses = 0
            if not t.confirmed and t.hits >= cfg.confirm_hits:
                t.confirmed = True
                appeared.append(t.id)
            assignments[c] = t.id

        keep: list[Track] = []
        for i, t in enumerate(self._tracks):
            if i not in matched_t:
                t.misses += 1
                if not t.confirmed or t.misses > cfg.max_misses:
                    if t.confirmed:
                        lost.append(t.id)
                    continue
            keep.append(t)
        self._tracks = keep

        for j, d in enumerate(detections):
            if j in matched_d:
                continue
            t = Track(
                id=self._new_id(),
                box=tuple(float(v) for v in d.box),
                landmarks=np.asarray(d.landmarks, np.float32).copy(),
                raw_box=tuple(float(v) for v in d.box),
                score=d.score,
                landmark_source=d.landmark_source,
            )
            if cfg.confirm_hits <= 1:
                t.confirmed = True
                appeared.append(t.id)
            self._tracks.append(t)
            assignments[j] = t.id
        return TrackerUpdate(self.tracks, appeared, lost, assignments)

    @property
    def tracks(self) -> list[Track]:
        """Confirmed tracks sorted by id."""
        return sorted((t for t in self._tracks if t.confirmed), key=lambda t: t.id)

    @property
    def rois(self) -> list[Box]:
        """Boxes of all live tracks (tentative too), for ROI re-detection."""
        return [t.box for t in self._tracks]

    def reset(self) -> list[str]:
        """Drop every track (e.g. time went backwards); returns the confirmed ids dropped.

        The id generator is *not* reseeded, so ids stay unique within the run.
        """
        lost = sorted(t.id for t in self._tracks if t.confirmed)
        self._tracks = []
        return lost
