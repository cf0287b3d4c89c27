"""A picture per spotted event: what the face did between onset, apex and offset.

Each PNG shows the face at the onset, apex and offset frames side by side, after a reference
frame shortly *before* the onset (:data:`BEFORE_S`: the spotter reacts to motion against the
recent past, so the onset frame may already be moving, and a score that jumps straight to its
peak has its apex on the onset frame). Below them the motion is made visible: the
apex-minus-before difference (magnified; blue darker, red brighter) and the dense optical flow
(Farneback) before -> apex, onset -> apex and apex -> offset as heat maps with arrows. The crops
are cut from one square region around the face and registered onto the reference crop (ECC,
rotation + translation), so head motion is removed and what remains is the facial movement the
network reacted to. Title: face, kind, label, confidence, peak score, intensity and the times.

The crops are collected in one pass over the recording (only the frames events need are
decoded), so memory stays small whatever the recording's length.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from me_perception.recording.sources import FrameSource

CROP_SIZE = 160
MARGIN = 0.25  # extra border around the face box, each side, as a fraction of its size
PHASES = ("before", "onset", "apex", "offset")
EVENT_PHASES = PHASES[1:]
BEFORE_S = 0.1  # the reference frame, this long before the onset (at least one frame)

Box = tuple[int, int, int, int]


@dataclass
class EventCrops:
    """The face crops of one event, filled in while the recording is read."""

    number: int
    event: dict[str, Any]
    region: Box
    frames: dict[str, int]  # phase -> frame index
    crops: dict[str, np.ndarray] = field(default_factory=dict)  # phase -> BGR crop


def picture_name(number: int, event: Mapping[str, Any]) -> str:
    """File name of an event's picture (events/ folder), stable and readable."""
    label = "".join(c if c.isalnum() else "-" for c in (event.get("label") or "none"))
    return f"event_{number:03d}_{event['kind']}_{label}_face-{event['face_id']}.png"


def _region(box: Box, width: int, height: int) -> Box:
    """A square around the face box, with a margin, inside the image."""
    x, y, w, h = box
    if w <= 0 or h <= 0:
        side = min(width, height)
        return (width - side) // 2, (height - side) // 2, side, side
    side = round(max(w, h) * (1 + 2 * MARGIN))
    side = max(8, min(side, width, height))
    cx, cy = x + w / 2, y + h / 2
    x0 = round(min(max(cx - side / 2, 0), width - side))
    y0 = round(min(max(cy - side / 2, 0), height - side))
    return x0, y0, side, side


def _box_of(rows: Mapping[tuple[int, str], Box], face: str, frames: Iterable[int]) -> Box:
    for index in frames:
        box = rows.get((index, face))
        if box is not None and box[2] > 0:
            return box
    return (0, 0, 0, 0)


def plan_crops(
    events: Sequence[dict[str, Any]],
    frame_rows: Sequence[dict[str, Any]],
    size: tuple[int, int],
    fps: float,
) -> list[EventCrops]:
    """Which frames and which image region each event's picture needs."""
    back = max(1, round(BEFORE_S * fps))
    boxes = {
        (int(r["frame"]), str(r["face_id"])): (
            int(r["x"]),
            int(r["y"]),
            int(r["width"]),
            int(r["height"]),
        )
        for r in frame_rows
    }
    plans = []
    for number, event in enumerate(events, start=1):
        onset, offset = int(event["onset_frame"]), int(event["offset_frame"])
        if onset < 0 or offset < onset:
            continue
        apex = int(event["apex_frame"])
        if not onset <= apex <= offset:
            apex = (onset + offset) // 2
        frames = {"before": max(0, onset - back), "onset": onset, "apex": apex, "offset": offset}
        box = _box_of(boxes, str(event["face_id"]), (apex, onset, offset))
        plans.append(EventCrops(number, event, _region(box, *size), frames))
    return plans


def collect_crops(source: FrameSource, plans: Sequence[EventCrops]) -> None:
    """Read the frames the plans need (once each) and cut their crops."""
    wanted: dict[int, list[tuple[EventCrops, str]]] = {}
    for plan in plans:
        for phase, index in plan.frames.items():
            wanted.setdefault(index, []).append((plan, phase))
    if not wanted:
        return
    for frame in source.frames(wanted):
        if frame.image is None:
            continue
        bgr = frame.image.bgr
        for plan, phase in wanted.get(frame.index, []):
            x, y, w, h = plan.region
            crop = bgr[y : y + h, x : x + w]
            size = (CROP_SIZE, CROP_SIZE)
            plan.crops[phase] = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)


def _register(reference: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """``moving`` warped onto ``reference`` (rotation + translation, ECC); unchanged if ECC
    does not converge (then the head did not move much, or the crop holds no face)."""
    ref = cv2.cvtColor(reference, cv2.COLOR_BGR2GRAY).astype(np.float32)
    mov = cv2.cvtColor(moving, cv2.COLOR_BGR2GRAY).astype(np.float32)
    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
    try:
        _, warp = cv2.findTransformECC(ref, mov, warp, cv2.MOTION_EUCLIDEAN, criteria, None, 5)
    except cv2.error:
        return moving
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(moving, warp, (CROP_SIZE, CROP_SIZE), flags=flags, borderMode=1)


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ga, gb = (cv2.cvtColor(x, cv2.COLOR_BGR2GRAY) for x in (a, b))
    return cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def _when(event: Mapping[str, Any], phase: str, name: str) -> str:
    """A crop's caption: its time (event phases) and where to find the frame."""
    seconds = event.get(f"{phase}_s")
    return f"{seconds:.3f} s · {name}" if seconds is not None else name


def _title(event: Mapping[str, Any]) -> str:
    label = event.get("label") or "(no label)"
    times = " / ".join(
        f"{p} {event[f'{p}_s']:.3f} s" if event.get(f"{p}_s") is not None else f"{p} -"
        for p in EVENT_PHASES
    )
    flags = ", truncated" if event.get("truncated") else ""
    return (
        f"face {event['face_id']} · {event['kind']} · {label} (confidence "
        f"{event['confidence']:.2f}) · peak score {event['peak_score']:.2f} · intensity "
        f"{event['intensity']:.2f}\n{times} · {event['duration_ms']:.0f} ms{flags}"
    )


def render_picture(plan: EventCrops, path: Path, frame_names: Mapping[str, str]) -> bool:
    """Write the event's PNG; False when a crop is missing (its frame could not be decoded)."""
    if any(p not in plan.crops for p in PHASES):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    before = plan.crops["before"]
    onset, apex, offset = (_register(before, plan.crops[p]) for p in EVENT_PHASES)
    gray = {n: cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for n, c in (("before", before), ("apex", apex))}
    diff = gray["apex"].astype(np.float32) - gray["before"].astype(np.float32)
    diff -= float(np.median(diff))  # a global brightness change is not facial motion
    limit = max(float(np.percentile(np.abs(diff), 99.5)), 1.0)
    flows = {
        "before → apex": _flow(before, apex),
        "onset → apex": _flow(onset, apex),
        "apex → offset": _flow(apex, offset),
    }
    vmax = max(float(np.linalg.norm(f, axis=2).max()) for f in flows.values()) or 1.0

    fig, axes = plt.subplots(2, 4, figsize=(12.0, 6.6))
    for ax, phase, img in zip(axes[0], PHASES, (before, onset, apex, offset), strict=True):
        ax.imshow(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        ax.set_title(f"{phase}: {frame_names.get(phase, '')}", fontsize=8)
    im = axes[1, 0].imshow(diff, cmap="seismic", vmin=-limit, vmax=limit)
    axes[1, 0].set_title(f"apex − before (×{128 / limit:.0f} contrast)", fontsize=8)
    fig.colorbar(im, ax=axes[1, 0], fraction=0.046, pad=0.02)
    step = CROP_SIZE // 16
    ys, xs = np.mgrid[step // 2 : CROP_SIZE : step, step // 2 : CROP_SIZE : step]
    for ax, (name, flow) in zip(axes[1, 1:], flows.items(), strict=True):
        magnitude = np.linalg.norm(flow, axis=2)
        ax.imshow(gray["before"], cmap="gray")
        im = ax.imshow(magnitude, cmap="inferno", alpha=0.6, vmin=0, vmax=vmax)
        ax.quiver(xs, ys, flow[ys, xs, 0], -flow[ys, xs, 1], color="cyan", scale=vmax * 12)
        ax.set_title(f"flow {name} (max {magnitude.max():.1f} px)", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="px")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(_title(plan.event), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def write_event_pictures(
    folder: Path,
    source: FrameSource,
    events: Sequence[dict[str, Any]],
    frame_rows: Sequence[dict[str, Any]],
    size: tuple[int, int],
    fps: float,
) -> dict[int, str]:
    """One PNG per event into ``folder``; returns event number (1-based, events.csv order) ->
    file name, for the events whose frames could all be read."""
    plans = plan_crops(events, frame_rows, size, fps)
    collect_crops(source, plans)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for plan in plans:
        names = {p: _when(plan.event, p, source.frame_name(i)) for p, i in plan.frames.items()}
        name = picture_name(plan.number, plan.event)
        if render_picture(plan, folder / name, names):
            written[plan.number] = name
    return written
