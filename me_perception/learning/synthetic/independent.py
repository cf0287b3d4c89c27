"""A second, independent renderer of synthetic micro-expression clips.

Why: a model trained on :mod:`.generator` clips can learn that renderer's quirks (Gaussian
displacement blobs, smoothstep envelopes, sinusoidal sway, its noise bank). Evaluation
recordings must come from a generator the model never saw. This module shares only the
identities (:mod:`.identities`), the data types (:mod:`.clips`) and the intensity definition
(:func:`.intensity.peak_motion`); everything that moves or colours a pixel is its own:

* deformation: piecewise-affine warps on a Delaunay triangulation of 30 control points (the
  landmarks plus derived lid, cheek, nasal, lip, jaw, temple and forehead points; a ring of
  fixed anchors), i.e. displacements are linear inside each triangle, not Gaussian;
* expressions: one template per CASME II class, with per-event random direction jitter
  (+-20 degrees), per-point gain and left/right asymmetry, micro peaks of 0.01-0.05 IOD and
  macro peaks of 0.06-0.15 IOD;
* timing: gamma-shaped activation (fast rise to the apex at 15-35 % of the event, slow decay);
* blinks: upper-lid points pulled down plus darkening of the eye opening;
* head: smoothed random-walk sway, and discrete movements as rigid motion plus a slight
  perspective (yaw / pitch) term, through one homography per frame;
* appearance: per-channel gains, gamma, blur, aspect stretch, mirror, a room-like background,
  slow exposure drift, a drifting light gradient, signal-dependent noise and per-frame JPEG.

Ground-truth semantics are those of :mod:`.generator` (inclusive frames, apex on a frame
stamp, intensity = peak blurred displacement / 0.15 IOD, labels via CASME2_TO_MEGC3).
It cannot represent what :mod:`.generator` cannot (texture change, occlusion, gaze, speech).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from me_perception.learning.synthetic.clips import ClipConfig, Event, SyntheticClip, config_dict
from me_perception.learning.synthetic.identities import Identity, get_identity, mirrored
from me_perception.learning.synthetic.independent_face import (
    BLINK_MOVES,
    TEMPLATES,
    control_points,
    dense_field,
    gamma_profile,
    template_displacements,
)
from me_perception.learning.synthetic.intensity import REF_DISPLACEMENT_IOD, peak_motion
from me_perception.model.config import CASME2_TO_MEGC3

__all__ = ["make_independent_clip"]


@dataclass(frozen=True)
class _Look:
    """This renderer's own subject variation (not SubjectStyle)."""

    mirror: bool
    gains: tuple[float, float, float]
    gamma: float
    blur_iod: float
    stretch: float
    scale: float
    amp_habit: float
    jpeg: int
    bg_seed: int

    @staticmethod
    def draw(subject_id: int, identity: str) -> _Look:
        rng = np.random.default_rng([int(subject_id), 0x1DE9, *identity.encode()])
        if subject_id == 0:
            return _Look(False, (1.0, 1.0, 1.0), 1.0, 0.0, 1.0, 1.0, 1.0, 85, 1)
        return _Look(
            mirror=bool(rng.random() < 0.5),
            gains=tuple(float(g) for g in rng.uniform(0.85, 1.15, 3)),  # type: ignore[arg-type]
            gamma=float(rng.uniform(0.85, 1.2)),
            blur_iod=float(rng.uniform(0.0, 0.02)),
            stretch=float(rng.uniform(0.94, 1.06)),
            scale=float(rng.uniform(0.85, 1.15)),
            amp_habit=float(rng.uniform(0.8, 1.2)),
            jpeg=int(rng.integers(60, 95)),
            bg_seed=int(rng.integers(2, 2**31 - 1)),
        )


def _schedule(cfg: ClipConfig, rng: np.random.Generator) -> list[dict]:
    """Events laid end to end with Dirichlet-split free time (never overlapping)."""
    n_blink = int(rng.poisson(cfg.blink_rate_hz * cfg.duration_s))
    kinds = ["micro"] * cfg.n_micro + ["macro"] * cfg.n_macro + ["blink"] * n_blink
    kinds += ["head"] * cfg.n_head
    rng.shuffle(kinds)
    durs = []
    for k in kinds:
        lo, hi = {
            "micro": cfg.micro_duration_s,
            "macro": cfg.macro_duration_s,
            "blink": (0.15, 0.4),
            "head": (0.4, 1.0),
        }[k]
        durs.append(float(rng.uniform(lo, hi)))
    while kinds:  # drop blinks first, then the last event, until everything fits
        free = cfg.duration_s - sum(durs) - (len(kinds) + 1) * cfg.min_gap_s
        if free > 0:
            break
        j = kinds.index("blink") if "blink" in kinds else len(kinds) - 1
        kinds.pop(j)
        durs.pop(j)
    if not kinds:
        return []
    parts = rng.dirichlet(np.ones(len(kinds) + 1)) * free
    t, specs = 0.0, []
    for k, d, p in zip(kinds, durs, parts, strict=False):
        on = t + cfg.min_gap_s + float(p)
        frac = float(rng.uniform(0.15, 0.35)) if k in ("micro", "macro") else 0.4
        specs.append({"kind": k, "on": on, "off": on + d, "frac": frac})
        t = on + d
    return specs


class _Clip:
    """Builds one clip: canvas, control points, events, per-frame homographies."""

    def __init__(self, cfg: ClipConfig, subject_id: int, seed: int, identity: str) -> None:
        self.cfg, self.look = cfg, _Look.draw(subject_id, identity)
        self.rng = np.random.default_rng([int(seed), int(subject_id), 0x1DE9, *identity.encode()])
        ident: Identity = get_identity(identity)
        ident = mirrored(ident) if self.look.mirror else ident
        w = int(cfg.width)
        side = max(
            32, round(cfg.face_fraction * self.look.scale * w * ident.side / ident.face_width)
        )
        s = side / ident.side
        self.side, self.ident = side, ident
        self.lm = ident.landmark_arrays(s)
        self.iod = float(np.linalg.norm(self.lm["eye_r"] - self.lm["eye_l"]))
        self.face_c = np.array(ident.face_box[:2]) * s
        self.face_side = ident.face_box[2] * s
        self.names, self.pts = control_points(self.lm, side)
        self.canvas = self._canvas(ident, s)
        self.bg = self._background()

    def _canvas(self, ident: Identity, s: float) -> np.ndarray:
        img = cv2.resize(ident.canvas, (self.side, self.side), interpolation=cv2.INTER_AREA)
        f = img.astype(np.float32) * np.array(self.look.gains, np.float32)
        f = 255.0 * (np.clip(f, 0, 255) / 255.0) ** np.float32(self.look.gamma)
        img = np.clip(f, 0, 255).astype(np.uint8)
        if self.look.blur_iod * self.iod > 0.3:
            img = cv2.GaussianBlur(img, (0, 0), self.look.blur_iod * self.iod)
        cx, cy, ax, ay = ident.head_ellipse
        alpha = np.zeros((self.side, self.side), np.uint8)
        cv2.ellipse(
            alpha,
            (round(cx * s), round(cy * s)),
            (round(ax * s), round(ay * s)),
            0,
            0,
            360,
            255,
            -1,
        )
        alpha = cv2.blur(alpha, (max(3, int(0.15 * self.iod)) | 1,) * 2)
        return np.dstack([img, alpha])

    def _background(self) -> np.ndarray:
        w, h = int(self.cfg.width), int(self.cfg.height)
        rng = np.random.default_rng(self.look.bg_seed)
        top, bottom = rng.uniform(60, 220, 3), rng.uniform(30, 180, 3)
        t = np.linspace(0, 1, h)[:, None, None]
        bg = np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).astype(np.float32).copy()
        for _ in range(int(rng.integers(3, 7))):  # furniture-like blocks
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            x1, y1 = (
                x0 + int(rng.integers(w // 10, w // 2)),
                y0 + int(rng.integers(h // 10, h // 2)),
            )
            bg[y0:y1, x0:x1] = rng.uniform(20, 235, 3)
        bg = cv2.GaussianBlur(bg, (0, 0), max(1.0, 0.01 * w))
        return np.clip(bg, 0, 255).astype(np.uint8)

    # -- events --------------------------------------------------------------------------
    def _expression(self, sp: dict) -> tuple[np.ndarray, Event | dict]:
        """Dense unit field scaled to the drawn peak, and the event's labels and intensity."""
        cfg, rng = self.cfg, self.rng
        if sp["kind"] == "blink":
            disp = np.zeros((len(self.names), 2))
            for name, (dx, dy) in BLINK_MOVES:
                disp[self.names.index(name)] = (dx * 0.18 * self.iod, dy * 0.18 * self.iod)
            fld = dense_field(self.pts, disp, self.side)
            inten = min(peak_motion(fld, self.iod) / (REF_DISPLACEMENT_IOD * self.iod), 1.0)
            return fld, {"label5": None, "aus": ("blink",), "intensity": inten}
        classes = [c for c in cfg.classes if c in TEMPLATES]
        label5 = classes[int(rng.integers(len(classes)))]
        aus, moves = TEMPLATES[label5]
        disp = template_displacements(self.names, moves, self.iod, rng)
        fld = dense_field(self.pts, disp, self.side)
        lo, hi = (0.01, 0.05) if sp["kind"] == "micro" else (0.06, 0.15)
        target = float(np.clip(rng.uniform(lo, hi) * self.look.amp_habit, 0.008, 0.15))
        fld *= target * self.iod / max(peak_motion(fld, self.iod), 1e-9)
        inten = target / REF_DISPLACEMENT_IOD
        return fld, {"label5": label5, "aus": aus, "intensity": inten}

    def _head_move(self, sp: dict, stamps: np.ndarray) -> tuple[np.ndarray, dict]:
        """(T, 5) offsets (tx, ty, rot, yaw, pitch) of one discrete move; its truth."""
        rng = self.rng
        move = ("turn", "nod", "shift")[int(rng.integers(3))]
        amp = float(rng.uniform(0.05, 0.15))
        sgn = 1.0 if rng.random() < 0.5 else -1.0
        x = np.clip((stamps - sp["on"]) / (sp["off"] - sp["on"]), 0.0, 1.0)
        if move == "shift":
            prof = 0.5 * (1 - np.cos(np.pi * x))
            ang = rng.uniform(0, 2 * np.pi)
            vec = (amp * np.cos(ang) * self.iod, amp * np.sin(ang) * self.iod, 0.0, 0.0, 0.0)
        else:
            prof = 0.5 * (1 - np.cos(2 * np.pi * x))
            persp = sgn * float(rng.uniform(0.02, 0.05))
            if move == "turn":
                vec = (sgn * amp * self.iod, 0.0, 0.0, persp, 0.0)
            else:
                vec = (0.0, amp * self.iod, 0.0, 0.0, abs(persp))
        inten = min(amp / REF_DISPLACEMENT_IOD, 1.0)
        return prof[:, None] * np.array(vec)[None, :], {
            "label5": None,
            "aus": (),
            "intensity": inten,
        }

    def _walk(self, stamps: np.ndarray, k: int) -> np.ndarray:
        """(T, k) smoothed random walks, unit std, sampled in seconds (fps-independent)."""
        grid = np.arange(0.0, self.cfg.duration_s + 0.02, 0.01)
        steps = self.rng.normal(0, 1, (len(grid), k))
        walk = cv2.GaussianBlur(np.cumsum(steps, 0).astype(np.float64), (1, 0), 0, sigmaY=60)
        walk -= walk.mean(0)
        walk /= np.maximum(walk.std(0), 1e-9)
        return np.stack([np.interp(stamps, grid, walk[:, j]) for j in range(k)], 1)

    def schedule(self, stamps: np.ndarray) -> tuple[list, np.ndarray, list[Event]]:
        """Active fields with activations, head offsets (T, 5) and the ground truth."""
        cfg, n = self.cfg, len(stamps)
        active, events = [], []
        head = np.zeros((n, 5))
        for sp in _schedule(cfg, self.rng):
            on, off = sp["on"], sp["off"]
            apex = round((on + sp["frac"] * (off - on)) * cfg.fps) / cfg.fps
            if not on < apex < off:
                apex = round(((on + off) / 2) * cfg.fps) / cfg.fps
                on, off = min(on, apex - 0.5 / cfg.fps), max(off, apex + 0.5 / cfg.fps)
            if sp["kind"] == "head":
                sp["on"], sp["off"] = on, off
                offs, truth = self._head_move(sp, stamps)
                head += offs
            else:
                fld, truth = self._expression(sp)
                act = gamma_profile(stamps, on, apex, off)
                if sp["kind"] == "blink":  # fast close, slower opening
                    act = np.where(stamps <= apex, 1.0, act) * (stamps > on) * (stamps < off)
                    act = np.minimum(act, gamma_profile(stamps, on, apex, off) ** 0.5)
                active.append((fld, act.astype(np.float32), sp["kind"] == "blink"))
            label5 = truth["label5"]
            events.append(
                Event(
                    kind=sp["kind"],
                    onset=math.floor(on * cfg.fps + 1e-9),
                    apex=round(apex * cfg.fps),
                    offset=min(math.ceil(off * cfg.fps - 1e-9), n - 1),
                    onset_s=float(on),
                    apex_s=float(apex),
                    offset_s=float(off),
                    label5=label5,
                    label3=CASME2_TO_MEGC3.get(label5) if label5 else None,
                    aus=tuple(truth["aus"]),
                    intensity=round(float(np.clip(truth["intensity"], 0, 1)), 6),
                )
            )
        return active, head, events

    # -- frames --------------------------------------------------------------------------
    def homography(self, centre: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """Canvas -> output: stretch, slight perspective, roll, then placement."""
        tx, ty, rot, yaw, pitch = pose
        half = self.face_side / 2.0
        to_c = np.array([[1, 0, -self.face_c[0]], [0, 1, -self.face_c[1]], [0, 0, 1.0]])
        stretch = np.diag([self.look.stretch, 1.0, 1.0])
        persp = np.array([[1, 0, 0], [0, 1, 0], [yaw / half, pitch / half, 1.0]])
        c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
        roll = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1.0]])
        place = np.array([[1, 0, centre[0] + tx], [0, 1, centre[1] + ty], [0, 0, 1.0]])
        return place @ roll @ persp @ stretch @ to_c

    def eye_mask(self) -> np.ndarray:
        m = np.zeros((self.side, self.side), np.float32)
        for k in ("eye_l", "eye_r"):
            c = tuple(round(v) for v in self.lm[k])
            axes = (max(1, round(0.28 * self.iod)), max(1, round(0.1 * self.iod)))
            cv2.ellipse(m, c, axes, 0, 0, 360, 1.0, -1)
        return cv2.GaussianBlur(m, (0, 0), max(1.0, 0.05 * self.iod))[..., None]


def make_independent_clip(
    cfg: ClipConfig, subject_id: int = 1, seed: int = 0, identity: str = "astronaut"
) -> SyntheticClip:
    """Render a clip with the independent motion model; deterministic per
    (cfg, subject_id, seed, identity). See the module docstring for what differs."""
    c = _Clip(cfg, subject_id, seed, identity)
    w, h = int(cfg.width), int(cfg.height)
    n = max(1, math.floor(cfg.duration_s * cfg.fps + 1e-9))
    stamps = np.arange(n, dtype=np.float64) / cfg.fps
    active, head, events = c.schedule(stamps)
    walk = c._walk(stamps, 6)
    pose = head + walk[:, :5] * [
        cfg.head_translation_px,
        cfg.head_translation_px,
        cfg.head_rotation_deg,
        0.01 * (cfg.head_rotation_deg > 0),
        0.0,
    ]
    exposure = 1.0 + 1.5 * cfg.flicker * walk[:, 5]
    centre = np.array([w * c.rng.uniform(0.42, 0.58), h * c.rng.uniform(0.4, 0.5)])
    light_dir = c.rng.uniform(0, 2 * np.pi) + 0.3 * stamps
    gx = (np.linspace(-1, 1, w, dtype=np.float32))[None, :]
    gy = (np.linspace(-1, 1, h, dtype=np.float32))[:, None]
    ys, xs = np.mgrid[0 : c.side, 0 : c.side].astype(np.float32)
    eye = c.eye_mask()
    names = tuple(c.ident.landmarks)
    lm_arr = np.array([c.lm[k] for k in names])
    frames = np.empty((n, h, w, 3), np.uint8)
    boxes, lms = np.zeros((n, 4)), np.zeros((n, len(names), 2))
    bg = c.bg.astype(np.float32)
    for i in range(n):
        face = c.canvas
        on = [(f, float(a[i]), b) for f, a, b in active if a[i] > 0]
        if on:
            mx, my = xs.copy(), ys.copy()
            for f, a, _ in on:
                mx -= a * f[0]
                my -= a * f[1]
            face = cv2.remap(face, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            dark = sum(a for _, a, b in on if b)
            if dark:
                rgb = face[..., :3].astype(np.float32) * (1.0 - 0.4 * dark * eye)
                face = np.dstack([np.clip(rgb, 0, 255).astype(np.uint8), face[..., 3]])
        hm = c.homography(centre, pose[i])
        wf = cv2.warpPerspective(face, hm, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
        al = wf[..., 3:] / 255.0
        out = wf[..., :3] * al + bg * (1.0 - al)
        ramp = math.cos(light_dir[i]) * gx + math.sin(light_dir[i]) * gy
        out *= (exposure[i] * (1.0 + 0.06 * ramp))[..., None]
        if cfg.noise_sigma > 0:
            sig = cfg.noise_sigma * np.sqrt(0.3 + 0.7 * out.mean(2, keepdims=True) / 128.0)
            out += sig * c.rng.standard_normal((h, w, 1), dtype=np.float32)
        _, buf = cv2.imencode(
            ".jpg", np.clip(out, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, c.look.jpeg]
        )
        frames[i] = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        p = np.c_[lm_arr, np.ones(len(lm_arr))] @ hm.T
        lms[i] = p[:, :2] / p[:, 2:]
        q = hm @ np.array([c.face_c[0], c.face_c[1], 1.0])
        fc = q[:2] / q[2]
        boxes[i] = (fc[0] - c.face_side / 2, fc[1] - c.face_side / 2, c.face_side, c.face_side)
    name = f"ind_{identity}{subject_id:02d}"
    return SyntheticClip(
        frames=frames,
        stamps=stamps,
        fps=float(cfg.fps),
        subject=name,
        clip_id=f"{name}_{seed:04d}",
        events=events,
        face_boxes=boxes,
        landmarks=lms,
        landmark_names=names,
        iod_px=c.iod,
        meta={
            "config": config_dict(cfg),
            "subject_id": subject_id,
            "seed": seed,
            "identity": identity,
            "generator": "independent",
            "intensity_definition": "peak |blur(D_onset->t)| / (0.15 * IOD), t<=apex",
        },
    )
