"""Synthetic micro-expression clips built on a real face photograph.

``face`` (the photograph, its landmarks, action units as displacement fields), ``clips`` (clip
settings, subject styles, ground-truth events), ``intensity`` (the intensity definition, also
measured on real data by optical flow), ``generator`` (the seeded renderer). On-disk clips are
read and written by :mod:`me_perception.learning.datasets.synthetic_io`.
"""

from me_perception.learning.synthetic.clips import ClipConfig, Event, SubjectStyle, SyntheticClip
from me_perception.learning.synthetic.face import (
    ASTRONAUT_LANDMARKS,
    AU_COMPONENTS,
    EXPRESSIONS,
    au_field,
)
from me_perception.learning.synthetic.generator import SyntheticFaceGenerator, envelope, make_clip
from me_perception.learning.synthetic.intensity import (
    INTENSITY_BLUR_IOD,
    REF_DISPLACEMENT_IOD,
    motion_intensity,
    peak_motion,
)

__all__ = [
    "ASTRONAUT_LANDMARKS",
    "AU_COMPONENTS",
    "EXPRESSIONS",
    "INTENSITY_BLUR_IOD",
    "REF_DISPLACEMENT_IOD",
    "ClipConfig",
    "Event",
    "SubjectStyle",
    "SyntheticClip",
    "SyntheticFaceGenerator",
    "au_field",
    "envelope",
    "make_clip",
    "motion_intensity",
    "peak_motion",
]
