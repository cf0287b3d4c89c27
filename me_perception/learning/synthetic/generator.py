"""Synthetic micro-expression clips built on a real face photograph: the renderer.

Why this exists: the real data sets (CASME II, SAMM, CAS(ME)^2) are licensed and cannot be shipped
or used in CI, yet training, evaluation and the node need clips with exact ground truth. This
module animates a real photograph (an :mod:`.identities` entry: scikit-image's astronaut or
matplotlib's Grace Hopper) with
landmark-driven, smooth local displacement fields that imitate FACS action units (AUs), so that:

* micro-expressions are brief (1/25 .. 1/2 s) and low amplitude, macro-expressions longer and
  larger, blinks are fast eyelid closures;
* distractors exist that spotting must ignore or classify as macro: rigid head translation and
  in-plane rotation, lighting flicker and sensor noise;
* "subjects" are seeded, deterministic variations of a photograph (identity warp, skin
  tone/contrast, scale, background, expression amplitude habits, and the augmentation of
  :mod:`.augment`: mirror, side light, gamma, blur, JPEG); discrete head movements
  (``ClipConfig.n_head``, :mod:`.motion`) are events of kind "head";
* every clip comes with ground truth (events with onset/apex/offset frames and stamps, labels in
  both the CASME II 5-class and the MEGC 3-class sets, intensity, :mod:`.intensity`) at any
  frame rate.

What it cannot represent: texture changes that are not motion (wrinkles appearing, teeth being
shown, reddening), out-of-plane head rotation, occlusion, identity variation beyond the
photographs (subjects of one identity are warps of one person), eye gaze. See docs/data.md;
:mod:`.independent` is a second renderer with a different motion model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from me_perception.learning.synthetic.augment import jpeg_roundtrip, light_and_lens
from me_perception.learning.synthetic.clips import (
    ClipConfig,
    Event,
    SubjectStyle,
    SyntheticClip,
    config_dict,
)
from me_perception.learning.synthetic.face import (
    ASTRONAUT_LANDMARKS,
    EXPRESSIONS,
    au_field,
    iod_of,
)
from me_perception.learning.synthetic.identities import Identity, get_identity, mirrored
from me_perception.learning.synthetic.intensity import REF_DISPLACEMENT_IOD, peak_motion
from me_perception.learning.synthetic.motion import HeadMotion, draw_head_move, envelope
from me_perception.model.config import CASME2_TO_MEGC3

__all__ = ["GENERATORS", "SyntheticFaceGenerator", "envelope", "make_clip"]


@dataclass
class _Scene:
    """Everything one clip's frames are composed from."""

    face: np.ndarray  # BGRA canvas of the subject (alpha = head mask)
    grid_x: np.ndarray
    grid_y: np.ndarray
    background: np.ndarray
    side: int
    face_centre: np.ndarray  # in canvas pixels
    motion: HeadMotion
    expressions: list[tuple[np.ndarray, np.ndarray]]  # (unit field, per-frame amplitude)
    noise: np.ndarray | None
    noise_index: np.ndarray
    jpeg_quality: int = 0

    def placement(self, i: int) -> np.ndarray:
        """Canvas -> output affine matrix of frame ``i``: rotate about the face centre, place."""
        c = self.face_centre
        m = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), float(self.motion.rot[i]), 1.0)
        m[:, 2] += self.motion.centre + np.array([self.motion.tx[i], self.motion.ty[i]]) - c
        return m

    def expression_face(self, i: int) -> np.ndarray:
        """The canvas with the expressions active at frame ``i`` applied (one remap)."""
        mx, my = None, None
        for fld, env in self.expressions:
            a = float(env[i])
            if a > 0:
                if mx is None:
                    mx, my = self.grid_x.copy(), self.grid_y.copy()
                mx -= a * fld[0]
                my -= a * fld[1]
        if mx is None:
            return self.face
        return cv2.remap(self.face, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def frame(self, i: int, m: np.ndarray) -> np.ndarray:
        """Frame ``i``: the moved face blended onto the background, flicker, sensor noise."""
        h, w = self.background.shape[:2]
        side = self.side
        # Bounding box of the canvas in the output; warp only that region.
        corners = np.array([[0, 0, 1], [side, 0, 1], [0, side, 1], [side, side, 1]], float)
        pc = corners @ m.T
        x0 = max(int(np.floor(pc[:, 0].min())), 0)
        y0 = max(int(np.floor(pc[:, 1].min())), 0)
        x1 = min(int(np.ceil(pc[:, 0].max())), w)
        y1 = min(int(np.ceil(pc[:, 1].max())), h)
        out = self.background.copy()
        if x1 > x0 and y1 > y0:
            mr = m.copy()
            mr[:, 2] -= (x0, y0)
            size = (x1 - x0, y1 - y0)
            w4 = cv2.warpAffine(
                self.expression_face(i),
                mr,
                size,
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
            )
            wgt = w4[..., 3].astype(np.float32) * np.float32(1 / 255.0)
            out[y0:y1, x0:x1] = cv2.blendLinear(
                cv2.cvtColor(w4, cv2.COLOR_BGRA2BGR), out[y0:y1, x0:x1], wgt, 1.0 - wgt
            )
        gain = self.motion.gain[i]
        if gain != 1.0:
            out = cv2.convertScaleAbs(out, alpha=float(gain))
        if self.noise is not None:
            out = cv2.add(out, self.noise[self.noise_index[i]], dtype=cv2.CV_8U)
        if self.jpeg_quality:
            out = jpeg_roundtrip(out, self.jpeg_quality)
        return out


class SyntheticFaceGenerator:
    """Renders seeded synthetic clips. Per-subject canvases and AU fields are cached, so
    rendering cost per frame is one small remap (only while an event is active), one
    affine warp of the head region, a blend, and the noise/flicker pass."""

    def __init__(self) -> None:
        self._subject_cache: dict[tuple, tuple] = {}
        self._field_cache: dict[tuple, tuple[np.ndarray, float]] = {}
        self._bg_cache: dict[tuple, np.ndarray] = {}
        self._noise_cache: dict[tuple, np.ndarray] = {}

    # -- cached pieces -------------------------------------------------------------------
    def _subject(self, style: SubjectStyle, side: int) -> tuple:
        key = (style, side)
        if key in self._subject_cache:
            return self._subject_cache[key]
        ident = _identity(style)
        img = cv2.resize(ident.canvas, (side, side), interpolation=cv2.INTER_AREA)
        s = side / ident.side
        lm = {k: v * s for k, v in ident.landmark_arrays().items()}
        iod = iod_of(lm)
        if style.identity_warp_iod > 0:
            rng = np.random.default_rng([style.subject_id, 0x1D, *style.seed_parts])
            coarse = rng.normal(0, 1, size=(2, 4, 4)).astype(np.float32)
            fx = cv2.resize(coarse[0], (side, side), interpolation=cv2.INTER_CUBIC)
            fy = cv2.resize(coarse[1], (side, side), interpolation=cv2.INTER_CUBIC)
            amp = style.identity_warp_iod * iod / max(float(np.abs(coarse).max()), 1e-6)
            fx *= amp
            fy *= amp
            ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
            img = cv2.remap(img, xs - fx, ys - fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            for k, p in lm.items():
                xi = int(np.clip(round(p[0]), 0, side - 1))
                yi = int(np.clip(round(p[1]), 0, side - 1))
                lm[k] = p + np.array([fx[yi, xi], fy[yi, xi]])
            iod = iod_of(lm)
        f = img.astype(np.float32)
        f = f * np.array(style.channel_gain, np.float32)
        f = (f - 128.0) * style.contrast + 128.0 + style.brightness
        img = light_and_lens(np.clip(f, 0, 255).astype(np.uint8), style, iod)
        cx, cy, ax, ay = ident.head_ellipse
        alpha = np.zeros((side, side), np.float32)
        cv2.ellipse(
            alpha,
            (int(cx * s), int(cy * s)),
            (int(ax * s), int(ay * s)),
            0,
            0,
            360,
            1.0,
            -1,
        )
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(2.0, 0.08 * iod))
        ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
        # BGRA: the head mask travels with the face through one remap and one warp per frame.
        img4 = np.dstack([img, np.round(alpha * 255).astype(np.uint8)])
        out = (img4, lm, iod, alpha, xs, ys)
        self._subject_cache[key] = out
        return out

    def _au(self, style: SubjectStyle, side: int, aus: tuple[str, ...]) -> tuple[np.ndarray, float]:
        key = (style, side, aus)
        if key not in self._field_cache:
            _, lm, iod, *_ = self._subject(style, side)
            fld = au_field(aus, lm, side)
            self._field_cache[key] = (fld, peak_motion(fld, iod))
        return self._field_cache[key]

    def _background(self, style: SubjectStyle, w: int, h: int) -> np.ndarray:
        key = (style.background_seed, w, h)
        if key not in self._bg_cache:
            rng = np.random.default_rng(style.background_seed)
            if style.background_seed == 0:
                c0 = c1 = np.array([205, 200, 198], np.float32)
            else:
                c0 = rng.uniform(40, 230, 3).astype(np.float32)
                c1 = rng.uniform(40, 230, 3).astype(np.float32)
            t = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
            bg = c0 * (1 - t) + c1 * t
            bg = np.broadcast_to(bg, (h, w, 3)).copy()
            tex = rng.normal(0, 1, size=(6, 8)).astype(np.float32)
            tex = cv2.resize(tex, (w, h), interpolation=cv2.INTER_CUBIC)
            bg += 12.0 * tex[..., None] * (style.background_seed != 0)
            self._bg_cache[key] = np.clip(bg, 0, 255).astype(np.uint8)
        return self._bg_cache[key]

    def _noise(self, seed: int, w: int, h: int, sigma: float) -> np.ndarray:
        key = (seed, w, h, sigma)
        if key not in self._noise_cache:
            rng = np.random.default_rng([seed, 0x0153])
            bank = rng.normal(0, sigma, size=(8, h, w, 3))
            self._noise_cache = {key: np.clip(np.round(bank), -127, 127).astype(np.int16)}
        return self._noise_cache[key]

    # -- schedule ------------------------------------------------------------------------
    def schedule(self, cfg: ClipConfig, style: SubjectStyle, seed: int) -> list[dict]:
        """Event specs (in seconds) placed without overlap; apex snapped to a frame stamp."""
        rng = np.random.default_rng([seed, style.subject_id, 0xE7])
        # Placement in seconds only (not frames), so every frame rate gets the same events.
        t_end = float(cfg.duration_s)
        n_blink = int(rng.poisson(cfg.blink_rate_hz * style.blink_habit * cfg.duration_s))
        kinds = ["micro"] * cfg.n_micro + ["macro"] * cfg.n_macro + ["blink"] * n_blink
        kinds += ["head"] * cfg.n_head  # none by default: old seeds give the same draws
        rng.shuffle(kinds)
        # Long events first: they are the hardest to fit without overlap.
        kinds.sort(key=lambda k: {"macro": 0, "head": 1, "micro": 2, "blink": 3}[k])
        exprs = [e for e in EXPRESSIONS if e[0] in cfg.classes]
        placed: list[tuple[float, float]] = []
        specs: list[dict] = []
        for kind in kinds:
            if kind == "micro":
                dur = float(rng.uniform(*cfg.micro_duration_s))
            elif kind == "macro":
                dur = float(rng.uniform(*cfg.macro_duration_s))
            elif kind == "head":
                dur = float(rng.uniform(0.4, 1.0))
            else:
                dur = float(rng.uniform(0.1, 0.3))
            hi = t_end - dur - cfg.min_gap_s
            if hi <= cfg.min_gap_s:
                continue  # clip too short for this event
            for _ in range(50):
                on = float(rng.uniform(cfg.min_gap_s, hi))
                off = on + dur
                if off > t_end - 1e-9 or on < 0:
                    continue
                if all(off + cfg.min_gap_s <= a or on >= b + cfg.min_gap_s for a, b in placed):
                    break
            else:
                continue  # clip too short / too busy: drop the event rather than overlap
            # Apex position within the event: expressions rise faster than they fall.
            frac = float(rng.uniform(0.3, 0.5)) if kind != "blink" else 0.5
            apex = round((on + frac * dur) * cfg.fps) / cfg.fps
            if not on < apex < off:
                apex = round(((on + off) / 2) * cfg.fps) / cfg.fps
                on, off = min(on, apex - 0.5 / cfg.fps), max(off, apex + 0.5 / cfg.fps)
            placed.append((on, off))
            head = None
            if kind == "blink":
                label5, aus, inten = None, ("blink",), None
            elif kind == "head":
                head = draw_head_move(rng)
                label5, aus = None, ()
                inten = float(min(head["amp_iod"] / REF_DISPLACEMENT_IOD, 1.0))
            else:
                label5, aus = exprs[int(rng.integers(len(exprs)))]
                lo, hi = cfg.micro_intensity if kind == "micro" else cfg.macro_intensity
                inten = float(np.clip(rng.uniform(lo, hi) * style.amplitude_habit, 0.05, 1.0))
            specs.append(
                {
                    "kind": kind,
                    "on": on,
                    "apex": apex,
                    "off": off,
                    "label5": label5,
                    "aus": aus,
                    "intensity": inten,
                    "head": head,
                }
            )
        specs.sort(key=lambda s: s["on"])
        return specs

    # -- render --------------------------------------------------------------------------
    def _expressions(
        self, cfg: ClipConfig, style: SubjectStyle, seed: int, side: int, stamps: np.ndarray
    ) -> tuple[list[tuple], list[Event]]:
        """The scheduled events as (unit field, per-frame amplitude) pairs (head movements as
        (None, spec)) plus ground truth."""
        _, _, iod, *_ = self._subject(style, side)
        n = len(stamps)
        active = []
        events: list[Event] = []
        for sp in self.schedule(cfg, style, seed):
            if sp["kind"] == "head":  # rigid motion: applied to the placement, not the canvas
                active.append((None, sp))
                inten = sp["intensity"]
            else:
                fld, peak = self._au(style, side, sp["aus"])
                if sp["intensity"] is None:  # blink: fixed lid travel, intensity by definition
                    amp = 1.0
                    inten = float(np.clip(peak / (REF_DISPLACEMENT_IOD * iod), 0, 1))
                else:
                    inten = sp["intensity"]
                    amp = inten * REF_DISPLACEMENT_IOD * iod / max(peak, 1e-9)
                env = envelope(stamps, sp["on"], sp["apex"], sp["off"]).astype(np.float32)
                active.append((fld, env * amp))
            events.append(
                Event(
                    kind=sp["kind"],
                    onset=math.floor(sp["on"] * cfg.fps + 1e-9),
                    apex=round(sp["apex"] * cfg.fps),
                    offset=min(math.ceil(sp["off"] * cfg.fps - 1e-9), n - 1),
                    onset_s=float(sp["on"]),
                    apex_s=float(sp["apex"]),
                    offset_s=float(sp["off"]),
                    label5=sp["label5"],
                    label3=CASME2_TO_MEGC3.get(sp["label5"]) if sp["label5"] else None,
                    aus=tuple(sp["aus"]),
                    intensity=round(inten, 6),
                )
            )
        return active, events

    def render(
        self,
        cfg: ClipConfig,
        subject_id: int = 1,
        seed: int = 0,
        clip_id: str | None = None,
        identity: str = "astronaut",
    ) -> SyntheticClip:
        """Render one clip. Same (cfg, subject_id, seed, identity) -> bit-identical frames and
        truth."""
        style = SubjectStyle.from_id(subject_id, identity)
        ident = _identity(style)
        w, h = int(cfg.width), int(cfg.height)
        n = max(1, math.floor(cfg.duration_s * cfg.fps + 1e-9))
        stamps = np.arange(n, dtype=np.float64) / cfg.fps
        side = max(32, round(cfg.face_fraction * style.scale * w * ident.side / ident.face_width))
        img, lm, iod, _, gx, gy = self._subject(style, side)
        bg = self._background(style, w, h)
        motion = HeadMotion.draw(cfg, stamps, np.random.default_rng([seed, subject_id, 0xC1]))
        fb_cx, fb_cy, fb_side = ident.face_box
        s = side / ident.side
        face_c = np.array([fb_cx * s, fb_cy * s])
        # Sensor noise: a cached bank of noise images drawn in a seeded random order (not
        # cyclically, so no periodic pattern a network could lock on to).
        noise_idx = np.random.default_rng([seed, subject_id, 0x401]).integers(0, 8, n)
        active, events = self._expressions(cfg, style, seed, side, stamps)
        for _, sp in (a for a in active if a[0] is None):
            motion = motion.with_move(stamps, sp, iod)
        active = [a for a in active if a[0] is not None]
        noise = self._noise(seed, w, h, cfg.noise_sigma) if cfg.noise_sigma > 0 else None
        scene = _Scene(
            img, gx, gy, bg, side, face_c, motion, active, noise, noise_idx, style.jpeg_quality
        )
        frames = np.empty((n, h, w, 3), np.uint8)
        boxes = np.zeros((n, 4), np.float64)
        names = tuple(ASTRONAUT_LANDMARKS)
        lms = np.zeros((n, len(names), 2), np.float64)
        lm_arr = np.array([lm[k] for k in names])
        fs = fb_side * s
        for i in range(n):
            m = scene.placement(i)
            frames[i] = scene.frame(i, m)
            lms[i] = np.c_[lm_arr, np.ones(len(lm_arr))] @ m.T
            fc = m @ np.array([face_c[0], face_c[1], 1.0])
            boxes[i] = (fc[0] - fs / 2, fc[1] - fs / 2, fs, fs)
        return SyntheticClip(
            frames=frames,
            stamps=stamps,
            fps=float(cfg.fps),
            subject=_subject_name(identity, subject_id),
            clip_id=clip_id or f"{_subject_name(identity, subject_id)}_{seed:04d}",
            events=events,
            face_boxes=boxes,
            landmarks=lms,
            landmark_names=names,
            iod_px=float(iod),
            meta={
                "config": config_dict(cfg),
                "subject_id": subject_id,
                "seed": seed,
                "identity": identity,
                "generator": "ours",
                "style": _style_dict(style),
                "intensity_definition": "peak |blur(D_onset->t)| / (0.15 * IOD), t<=apex",
            },
        )


def _identity(style: SubjectStyle) -> Identity:
    ident = get_identity(style.identity)
    return mirrored(ident) if style.mirror else ident


def _subject_name(identity: str, subject_id: int) -> str:
    """``syn03`` for the astronaut (names of older clips kept), ``grace_hopper03`` else."""
    return f"syn{subject_id:02d}" if identity == "astronaut" else f"{identity}{subject_id:02d}"


def _style_dict(style: SubjectStyle) -> dict:
    d = dict(style.__dict__)
    d["channel_gain"] = list(style.channel_gain)
    return d


_DEFAULT = SyntheticFaceGenerator()


GENERATORS = ("ours", "independent")


def make_clip(
    cfg: ClipConfig | None = None,
    subject_id: int = 1,
    seed: int = 0,
    identity: str = "astronaut",
    generator: str = "ours",
) -> SyntheticClip:
    """The one entry point: render a clip with our generator (module-level cache of subject
    canvases and fields) or the independent one (:mod:`.independent`, a different motion
    model for testing against a renderer the model was not trained on)."""
    cfg = cfg or ClipConfig()
    if generator == "ours":
        return _DEFAULT.render(cfg, subject_id=subject_id, seed=seed, identity=identity)
    if generator == "independent":
        # Imported here: the independent renderer must not be a dependency of ours.
        from me_perception.learning.synthetic.independent import make_independent_clip

        return make_independent_clip(cfg, subject_id=subject_id, seed=seed, identity=identity)
    raise ValueError(f"unknown generator {generator!r}; known: {GENERATORS}")
