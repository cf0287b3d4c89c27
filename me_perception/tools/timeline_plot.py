"""Timeline plot of one processed recording: spotting score per face over time, the spotted
intervals with their labels, and the ground truth when it is known."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt


@dataclass(frozen=True)
class Interval:
    """A spotted or ground-truth interval in seconds from the start of the recording."""

    start_s: float
    end_s: float
    kind: str  # micro | macro | blink
    label: str = ""
    face_id: str = ""


_COLOURS = {"micro": "tab:red", "macro": "tab:orange", "blink": "tab:gray"}


def plot_timeline(
    path: str | Path,
    series: dict[str, tuple[Sequence[float], Sequence[float], Sequence[float]]],
    predicted: Sequence[Interval],
    ground_truth: Sequence[Interval] = (),
    on_threshold: float | None = None,
    title: str = "",
) -> Path:
    """Write the PNG. ``series`` maps face id -> (times s, spotting score, macro score)."""
    faces = sorted(series) or [""]
    fig, axes = plt.subplots(
        len(faces), 1, figsize=(12, 2.6 * len(faces) + 0.8), sharex=True, squeeze=False
    )
    for ax, fid in zip(axes[:, 0], faces, strict=True):
        if fid in series:
            t, spot, macro = series[fid]
            ax.plot(t, spot, color="tab:red", lw=1.2, label="micro-expression score")
            ax.plot(t, macro, color="tab:orange", lw=0.9, ls="--", label="macro/movement score")
        if on_threshold is not None:
            ax.axhline(on_threshold, color="k", lw=0.6, ls=":", label="onset threshold")
        for iv in predicted:
            if iv.face_id in ("", fid):
                ax.axvspan(iv.start_s, iv.end_s, color=_COLOURS.get(iv.kind, "tab:red"), alpha=0.2)
                ax.text(
                    iv.start_s,
                    1.02,
                    iv.label or iv.kind,
                    fontsize=7,
                    color=_COLOURS.get(iv.kind, "k"),
                    va="bottom",
                )
        for iv in ground_truth:
            ax.plot(
                [iv.start_s, iv.end_s],
                [-0.08, -0.08],
                color=_COLOURS.get(iv.kind, "k"),
                lw=5,
                solid_capstyle="butt",
            )
            ax.text(iv.start_s, -0.2, f"GT {iv.label or iv.kind}", fontsize=6, va="top")
        ax.set_ylim(-0.3, 1.15)
        ax.set_ylabel(f"face {fid}" if fid else "no face")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("time since first frame (s)")
    fig.suptitle(
        title or "micro-expression spotting (shaded: spotted; bars: ground truth)", fontsize=10
    )
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
