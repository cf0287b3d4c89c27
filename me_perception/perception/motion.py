"""Facial motion of one tracked face, measured so that it does not depend on who the face is.

Why motion: a network or a threshold that sees appearance learns the faces it was shown. What
a micro-expression *is* is a brief local displacement of facial skin, which looks alike on
every face once measured in face units. So per frame and face this module measures:

* an aligned grey crop (``crop_px`` square; at 128 px a 2 % IOD micro-expression is about
  0.7 px of motion, measurable by dense flow; at 64 px it would be well under a pixel);
* dense optical flow (Farneback) from a **neutral reference crop** of the same face to the
  current crop: the displacement from neutral, D_b;
* head motion removed twice: the crop is aligned from the face's landmarks (roll, scale,
  position), and what alignment leaves (landmark jitter, small pose changes) is removed by a
  robust similarity fitted to the flow over the whole face (the MEGC "nose-region
  subtraction", done over the face with outliers down-weighted);
* per facial region (:mod:`.face_regions`) a robust magnitude (mean of the top quarter of the
  vectors, in IOD) and its mean vector (direction, for action-unit labels), and their
  **causal** z-scores against robust running statistics of this face's own motion (no
  whole-video normalisation: the same numbers live and offline);
* a small motion map for the network: D_b and D_k (displacement over the last ``k_s``
  seconds), pooled to ``map_px`` square, in IOD (4 channels).

The neutral reference **trails** the face by ``ref_lag_s`` (0.5 s) while nothing happens: each
frame, if no region has been loud (z >= ``loud_z``) for ``ref_lag_s``, the crop from
``ref_lag_s`` ago becomes the reference. Slow changes (pose sway, out-of-plane drift, light)
therefore never accumulate into a standing displacement, while an expression freezes the
reference at a frame from before its onset until the face has been calm again for
``ref_lag_s``. A micro-expression rises within 0.05-0.25 s, well inside the lag. After a head
movement (``head_hold_s`` of stillness) the reference is re-taken at once; a face that is
never calm for ``hard_hold_s`` is re-anchored anyway. All times are frame stamps in seconds,
so 30 and 200 fps recordings give the same quantities.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import cv2
import numpy as np

from me_perception.perception.face_alignment import AlignmentConfig, align_face, template_points
from me_perception.perception.face_regions import REGIONS, FaceGrid

__all__ = ["FaceMotion", "MotionConfig", "MotionSample", "fit_similarity"]


@dataclass(frozen=True)
class MotionConfig:
    """Motion measurement settings: sizes in pixels of the aligned crop, the rest in seconds
    and IOD (face-relative)."""

    crop_px: int = 128
    zoom: float = 0.9
    map_px: int = 32
    k_s: float = 0.1
    """D_k spans this many seconds (the contrast a network reads besides D_b)."""
    farneback: tuple[float, int, int, int, int, float] = (0.5, 2, 7, 1, 5, 1.1)
    """pyr_scale, levels, winsize, iterations, poly_n, poly_sigma (OpenCV)."""
    top_fraction: float = 0.25
    stats_tau_s: float = 3.0
    """Time constant of the running baseline and spread of each region's magnitude."""
    warmup_s: float = 0.5
    spread_floor_iod: float = 0.002
    head_speed_limit: float = 0.35
    """Head speed (IOD/s, position + size + roll) above which the head counts as moving."""
    head_window_s: float = 0.3
    head_hold_s: float = 0.3
    ref_lag_s: float = 0.5
    loud_z: float = 3.0
    """A region this far above its noise is "loud": the reference stops trailing."""
    calm_z: float = 1.5
    """Only a crop whose regions all stayed under this z-score can become the reference."""
    hard_hold_s: float = 4.0

    @property
    def alignment(self) -> AlignmentConfig:
        return AlignmentConfig(size=self.crop_px, gray=True, zoom=self.zoom)


@dataclass(frozen=True)
class MotionSample:
    """What one frame shows of one face's motion (arrays per region in ``REGIONS`` order)."""

    stamp_s: float
    region_mag: np.ndarray  # (R,) robust displacement from neutral, IOD
    region_z: np.ndarray  # (R,) causal z-score of region_mag
    region_vec: np.ndarray  # (R, 2) mean displacement (x right, y down), IOD
    upper_centroid: float  # IOD from the eye line of the upper-face motion (nan if none)
    head_speed: float  # IOD/s
    head_moving: bool
    warming: bool  # no reference or statistics yet: nothing can be spotted
    motion_map: np.ndarray  # (4, map_px, map_px) float32: D_b x, y and D_k x, y in IOD
    reanchored: bool = False


def fit_similarity(flow: np.ndarray, mask: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Robust least-squares similarity flow (u = a x - b y + tx, v = b x + a y + ty) over the
    masked pixels; returns the fitted field. Re-weighting makes local (expression) motion an
    outlier that the fit, meant to capture the rigid rest, does not absorb."""
    h, w = flow.shape[:2]
    ys, xs = np.nonzero(mask[::3, ::3])
    ys, xs = ys * 3, xs * 3
    if len(xs) < 8:
        return np.zeros_like(flow)
    cx, cy = xs.mean(), ys.mean()
    x, y = xs - cx, ys - cy
    u, v = flow[ys, xs, 0].astype(np.float64), flow[ys, xs, 1].astype(np.float64)
    one, zero = np.ones_like(x), np.zeros_like(x)
    a_mat = np.concatenate(
        [np.stack([x, -y, one, zero], 1), np.stack([y, x, zero, one], 1)], axis=0
    )
    rhs = np.concatenate([u, v])
    weights = np.ones_like(rhs)
    params = np.zeros(4)
    for _ in range(iterations):
        sw = np.sqrt(weights)
        params = np.linalg.lstsq(a_mat * sw[:, None], rhs * sw, rcond=None)[0]
        resid = np.abs(rhs - a_mat @ params)
        scale = max(1.5 * float(np.median(resid)), 0.05)
        weights = 1.0 / (1.0 + (resid / scale) ** 2)
    a, b, tx, ty = params
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
    gx, gy = gx - cx, gy - cy
    return np.stack([a * gx - b * gy + tx, b * gx + a * gy + ty], axis=-1).astype(np.float32)


class _RunningStats:
    """Running level and spread per region, in stream time, robust to the events themselves.

    Every frame updates them, each value first clipped to ``clip`` spreads around the current
    level (a running M-estimate): a brief expression moves them by a bounded amount, slow
    changes are followed, and the spread is not biased low the way it is when only "quiet"
    frames are counted (which then makes ordinary noise look loud)."""

    def __init__(self, n: int, tau_s: float, floor: float, clip: float = 3.0) -> None:
        self.mean = np.zeros(n)
        self.spread = np.full(n, floor)
        self.tau_s, self.floor, self.clip = tau_s, floor, clip
        self.count = 0

    def z(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / np.maximum(self.spread, self.floor)

    def update(self, x: np.ndarray, dt: float) -> None:
        if self.count == 0:
            self.mean = x.astype(np.float64).copy()
            self.count = 1
            return
        alpha = min(1.0, max(dt, 1e-3) / self.tau_s)
        if self.count < 20:  # the first frames set the level quickly
            alpha = max(alpha, 1.0 / (self.count + 1))
        limit = self.clip * np.maximum(self.spread, self.floor)
        dev = np.clip(x - self.mean, -limit, limit)
        self.mean += alpha * dev
        self.spread += alpha * (np.maximum(np.abs(dev), self.floor) - self.spread)
        self.count += 1


class _HeadTracker:
    """Head speed from the landmarks in the image: eye-midpoint travel, IOD change and roll
    over ``window_s``, in IOD per second."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.history: collections.deque = collections.deque()

    def speed(self, stamp_s: float, landmarks: np.ndarray) -> float:
        eyes = landmarks[:2]
        centre = eyes.mean(axis=0)
        delta = eyes[1] - eyes[0]
        iod = float(max(np.hypot(*delta), 1.0))
        angle = float(np.arctan2(delta[1], delta[0]))
        self.history.append((stamp_s, centre, iod, angle))
        while len(self.history) > 2 and stamp_s - self.history[1][0] >= self.window_s:
            self.history.popleft()
        t0, c0, iod0, a0 = self.history[0]
        dt = stamp_s - t0
        if dt < 0.75 * self.window_s:  # a new track: its smoothed landmarks are still settling
            return 0.0
        travel = float(np.hypot(*(centre - c0))) / iod + abs(iod - iod0) / iod + abs(angle - a0)
        return travel / dt


class FaceMotion:
    """Motion state of one tracked face (see the module docstring). Not thread-safe."""

    def __init__(self, config: MotionConfig | None = None) -> None:
        self.config = config or MotionConfig()
        self._stats = _RunningStats(
            len(REGIONS), self.config.stats_tau_s, self.config.spread_floor_iod
        )
        self._head = _HeadTracker(self.config.head_window_s)
        self._maps: collections.deque = collections.deque()
        self._ref: np.ndarray | None = None
        self._grid: FaceGrid | None = None
        self._ref_stamp = 0.0
        self._start = None
        self._last_stamp: float | None = None
        self._still_since: float | None = None
        self._settling = False  # a head movement ended less than head_hold_s ago
        self._last_loud = -np.inf
        self._crops: collections.deque = collections.deque()

    def update(
        self, gray: np.ndarray, box: tuple | None, landmarks: np.ndarray | None, stamp_s: float
    ) -> MotionSample:
        """Measure one frame: ``gray`` is the whole image, ``landmarks`` the face's five points
        in image pixels (None: box-only alignment)."""
        cfg = self.config
        aligned = align_face(gray, box, landmarks, cfg.alignment)
        crop = np.clip(aligned.crop * 255.0 + 0.5, 0, 255).astype(np.uint8)
        lm_img = None if landmarks is None else np.asarray(landmarks, np.float64).reshape(5, 2)
        speed = 0.0 if lm_img is None else self._head.speed(stamp_s, lm_img)
        dt = 0.0 if self._last_stamp is None else stamp_s - self._last_stamp
        self._last_stamp = stamp_s
        if self._start is None:
            self._start = stamp_s
        moving = self._head_moving(speed, stamp_s)
        if self._ref is None:  # a head movement (still settling) also cleared the reference
            if not moving:
                self._anchor(crop, aligned.matrix, lm_img, stamp_s)
            return self._empty(stamp_s, speed, moving, reanchored=not moving)
        return self._measure(crop, stamp_s, dt, speed)

    def _head_moving(self, speed: float, stamp_s: float) -> bool:
        """Moving while fast, and until the head has been still for ``head_hold_s``."""
        if speed > self.config.head_speed_limit:
            self._still_since = None
            self._ref = None  # the neutral reference is re-taken once the head has settled
            self._settling = True
            return True
        if self._still_since is None:
            self._still_since = stamp_s
        self._settling = self._settling and stamp_s - self._still_since < self.config.head_hold_s
        return self._settling

    def _anchor(self, crop, matrix, lm_img, stamp_s: float) -> None:
        """Take this crop as the neutral reference and place the regions on it."""
        if lm_img is not None:
            lm = lm_img @ matrix[:, :2].T.astype(np.float64) + matrix[:, 2].astype(np.float64)
        else:  # box only: the canonical template stands in for the face's landmarks
            lm = template_points(self.config.alignment)
        self._grid = FaceGrid(self.config.crop_px, lm)
        self._set_reference(crop, stamp_s)

    def _set_reference(self, crop: np.ndarray, stamp_s: float) -> None:
        """A new reference, not a trailing step: displacement history starts again."""
        self._ref, self._ref_stamp = crop, stamp_s
        self._maps.clear()
        self._crops.clear()
        self._last_loud = stamp_s

    def _measure(self, crop: np.ndarray, stamp_s: float, dt: float, speed: float) -> MotionSample:
        cfg, grid = self.config, self._grid
        assert grid is not None and self._ref is not None
        flow = cv2.calcOpticalFlowFarneback(self._ref, crop, None, *cfg.farneback, 0)
        resid = (flow - fit_similarity(flow, grid.face)) / grid.iod_px
        mag = np.hypot(resid[..., 0], resid[..., 1])
        region_mag, region_vec = self._regions(mag, resid, grid)
        z = self._stats.z(region_mag)
        warming = stamp_s - self._start < cfg.warmup_s or self._stats.count < 3
        self._stats.update(region_mag, dt)
        motion_map = self._motion_map(resid, stamp_s)
        # while the statistics settle nothing counts as calm: a blink in the first half second
        # must not become the neutral reference
        reanchored = self._trail(crop, stamp_s, np.inf if warming else float(z.max()))
        return MotionSample(
            stamp_s=stamp_s,
            region_mag=region_mag,
            region_z=np.zeros_like(z) if warming else z,
            region_vec=region_vec,
            upper_centroid=grid.upper_centroid_iod(mag),
            head_speed=speed,
            head_moving=False,
            warming=warming,
            motion_map=motion_map,
            reanchored=reanchored,
        )

    def _regions(self, mag: np.ndarray, resid: np.ndarray, grid: FaceGrid):
        """Robust magnitude (mean of the top fraction) and mean vector of each region."""
        n = len(REGIONS)
        out_mag, out_vec = np.zeros(n), np.zeros((n, 2))
        for i, mask in enumerate(grid.masks):
            m = mag[mask]
            if m.size == 0:
                continue
            k = max(1, int(m.size * self.config.top_fraction))
            top = np.argpartition(m, m.size - k)[m.size - k :]
            out_mag[i] = float(m[top].mean())
            out_vec[i] = resid[mask][top].mean(axis=0)
        return out_mag, out_vec

    def _motion_map(self, resid: np.ndarray, stamp_s: float) -> np.ndarray:
        """D_b and D_k pooled to ``map_px`` (channels first)."""
        px = self.config.map_px
        d_b = cv2.resize(resid, (px, px), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)
        self._maps.append((stamp_s, d_b))
        while len(self._maps) > 1 and stamp_s - self._maps[1][0] >= self.config.k_s:
            self._maps.popleft()
        d_k = d_b - self._maps[0][1]
        return np.concatenate([d_b, d_k]).astype(np.float32)

    def _trail(self, crop: np.ndarray, stamp_s: float, z_max: float) -> bool:
        """Move the reference to the newest *calm* crop (max z < ``calm_z``) at least
        ``ref_lag_s`` old, when no region was loud since; re-anchor to this crop when the
        reference is ``hard_hold_s`` old and the face is loud. A candidate from the tail of an
        expression is never taken (it would make the neutral face that follows look like a
        second expression). True on a re-anchoring jump."""
        cfg = self.config
        self._crops.append((stamp_s, crop, z_max < cfg.calm_z))
        if z_max >= cfg.loud_z:
            self._last_loud = stamp_s
        if stamp_s - self._ref_stamp >= cfg.hard_hold_s and stamp_s - self._last_loud < 1e-9:
            self._set_reference(crop, stamp_s)
            return True
        candidate = None
        while self._crops and stamp_s - self._crops[0][0] >= cfg.ref_lag_s:
            entry = self._crops.popleft()
            if entry[2]:
                candidate = entry
        if candidate is not None and stamp_s - self._last_loud >= cfg.ref_lag_s:
            self._ref_stamp, self._ref = candidate[0], candidate[1]
        elif candidate is not None:
            self._crops.appendleft(candidate)  # the newest calm crop waits for calm to return
        return False

    def _empty(self, stamp_s: float, speed: float, moving: bool, reanchored: bool) -> MotionSample:
        n, px = len(REGIONS), self.config.map_px
        return MotionSample(
            stamp_s=stamp_s,
            region_mag=np.zeros(n),
            region_z=np.zeros(n),
            region_vec=np.zeros((n, 2)),
            upper_centroid=float("nan"),
            head_speed=speed,
            head_moving=moving,
            warming=True,
            motion_map=np.zeros((4, px, px), np.float32),
            reanchored=reanchored,
        )
