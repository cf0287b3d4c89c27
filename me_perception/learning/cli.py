"""Command-line entry points of the learning tools (kept out of the library modules).

me_perception_train ...                       (train_main)
me_perception_evaluate ...                    (evaluate_main)
python -m me_perception.learning.cli synthetic --out DIR [...]   (synthetic_main)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from me_perception.learning.datasets.synthetic_io import write_dataset
from me_perception.learning.synthetic import ClipConfig


def synthetic_main(argv: Sequence[str] | None = None) -> int:
    """Write a synthetic micro-expression data set (frames + ground truth) to disk."""
    ap = argparse.ArgumentParser(
        prog="python -m me_perception.learning.cli synthetic", description=synthetic_main.__doc__
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--clips-per-subject", type=int, default=2)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--face-fraction", type=float, default=0.28)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jpg", action="store_true", help="JPEG instead of lossless PNG")
    a = ap.parse_args(argv)
    cfg = ClipConfig(
        fps=a.fps,
        duration_s=a.duration,
        width=a.width,
        height=a.height,
        face_fraction=a.face_fraction,
    )
    folders = write_dataset(
        a.out,
        range(1, a.subjects + 1),
        a.clips_per_subject,
        cfg,
        a.seed,
        ".jpg" if a.jpg else ".png",
    )
    print(f"wrote {len(folders)} clips under {a.out}")
    return 0


COMMANDS = {"synthetic": synthetic_main}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m me_perception.learning.cli COMMAND [args]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(f"usage: python -m me_perception.learning.cli {{{','.join(COMMANDS)}}} ...")
        return 2
    return COMMANDS[args[0]](args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
