"""Data set loaders: CASME II, SAMM, CAS(ME)^2, SAMM Long Videos and our synthetic clips.

All loaders validate what they read and raise :class:`DatasetFormatError` naming the file and
row of a problem, and all return the same records (:class:`MESample` for trimmed samples,
:class:`LongVideo` for untrimmed videos), so training and evaluation have one code path.
See docs/data.md for the expected layouts and the label mappings.

``common`` (records, label mappings), ``sheets`` (coding sheets, validated rows), ``frames``
(frame files), one module per data set family, ``synthetic_io`` (our clips on disk).
"""

from .casme2 import load_casme2
from .common import (
    DatasetFormatError,
    Interval,
    LongVideo,
    MESample,
    to_label3,
    to_label5,
)
from .frames import load_frames
from .long_video import load_casme_sq, load_samm_lv
from .samm import load_samm
from .synthetic_io import load_synthetic, read_clip, write_clip

__all__ = [
    "DatasetFormatError",
    "Interval",
    "LongVideo",
    "MESample",
    "load_casme2",
    "load_casme_sq",
    "load_frames",
    "load_samm",
    "load_samm_lv",
    "load_synthetic",
    "read_clip",
    "to_label3",
    "to_label5",
    "write_clip",
]
