"""A tiny held-out evaluation set for the tests: one 4 s recording at 30 fps (seed 1001 puts a
micro- and a macro-expression in 4 s) and one 4 s still, rendered with the default identity and
generator."""

from __future__ import annotations

from pathlib import Path

from me_perception.tools.eval_set import EvalSetConfig, make_eval_set

TINY = EvalSetConfig(count=1, fps=(30.0,), stills=1, seed=1001, seconds=4.0, still_seconds=4.0)


def make_tiny_set(out: Path) -> Path:
    """Write the tiny set into ``out``; returns ``out``."""
    make_eval_set(out, TINY)
    return out
