"""Synthetic micro-expression clips built on a real face photograph.

``identities`` (the real photographs: scikit-image's astronaut and matplotlib's Grace Hopper,
their landmarks, mirroring), ``face`` (action units as displacement fields), ``clips`` (clip
settings, subject styles with identity augmentation, ground-truth events), ``intensity`` (the
intensity definition, also measured on real data by optical flow), ``generator`` with
``motion`` and ``augment`` (our seeded renderer), ``independent`` with ``independent_face`` (a
second renderer with its own motion model, for evaluation). One entry point:
``render_clip(cfg, subject_id=, seed=, identity=, generator="ours"|"independent")`` (the same
function as ``make_clip``). On-disk clips are read and written by
:mod:`me_perception.learning.datasets.synthetic_io`.
"""

from me_perception.learning.synthetic.clips import (
    ClipConfig,
    Event,
    SubjectStyle,
    SyntheticClip,
    sample_config,
)
from me_perception.learning.synthetic.face import (
    ASTRONAUT_LANDMARKS,
    AU_COMPONENTS,
    EXPRESSIONS,
    au_field,
)
from me_perception.learning.synthetic.generator import (
    GENERATORS,
    SyntheticFaceGenerator,
    envelope,
    make_clip,
)
from me_perception.learning.synthetic.identities import (
    IDENTITIES,
    Identity,
    get_identity,
    identity_names,
    mirrored,
)
from me_perception.learning.synthetic.intensity import (
    INTENSITY_BLUR_IOD,
    REF_DISPLACEMENT_IOD,
    motion_intensity,
    peak_motion,
)

render_clip = make_clip
"""The one entry point: ``render_clip(cfg, subject_id=3, seed=1, identity="grace_hopper",
generator="independent")``."""

__all__ = [
    "ASTRONAUT_LANDMARKS",
    "AU_COMPONENTS",
    "EXPRESSIONS",
    "GENERATORS",
    "IDENTITIES",
    "INTENSITY_BLUR_IOD",
    "REF_DISPLACEMENT_IOD",
    "ClipConfig",
    "Event",
    "Identity",
    "SubjectStyle",
    "SyntheticClip",
    "SyntheticFaceGenerator",
    "au_field",
    "envelope",
    "get_identity",
    "identity_names",
    "make_clip",
    "mirrored",
    "motion_intensity",
    "peak_motion",
    "render_clip",
    "sample_config",
]
