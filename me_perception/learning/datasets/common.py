"""Shared records and label mappings of the data set loaders.

Why one module: every loader (CASME II, SAMM, the long-video sets, our synthetic clips) returns
the same two record types, so training and evaluation have a single code path whatever the
source. Mappings from raw emotions to the label sets live here so that they are documented and
tested in one place; the label sets themselves are the model's (``model.config.LABEL_SETS``).

Label sets
----------
``casme2_5``: the CASME II 5-class set used by most papers: happiness, disgust, repression,
surprise, others. CASME II's rarer codes fear and sadness are folded into 'others' (as in the
CASME II baseline and MEGC practice). SAMM has no 'repression'; its anger, contempt, fear and
sadness are folded into 'others' (lossy: use the raw ``emotion`` field for SAMM-native sets).

``megc_3``: the MEGC 2019 composite set (See et al., "MEGC 2019 - The Second Facial
Micro-Expressions Grand Challenge", FG 2019): positive = happiness; negative = repression,
anger, contempt, disgust, fear, sadness (and SMIC 'negative'); surprise = surprise. Samples
labelled 'others'/'other' are *excluded* (label3 is None). For CASME II we derive the 3-class
label from the 5-class label, so CASME II fear/sadness (folded into 'others') are excluded too;
this reproduces the composite set, where CASME II contributes only disgust + repression as
negative. For SAMM, anger/contempt/disgust/fear/sadness map to negative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from me_perception.model.config import CASME2_TO_MEGC3

# Raw emotion (lower-case, as written in the coding sheets) -> 5-class label.
_RAW_TO_5: dict[str, str] = {
    "happiness": "happiness",
    "happy": "happiness",
    "disgust": "disgust",
    "repression": "repression",
    "surprise": "surprise",
    "others": "others",
    "other": "others",
    "fear": "others",
    "sadness": "others",
    "sad": "others",
    "anger": "others",
    "contempt": "others",
}
# Raw emotion -> 3-class label, for data sets whose raw labels are used directly (SAMM, SMIC,
# long videos that already use positive/negative/surprise/others).
_RAW_TO_3: dict[str, str | None] = {
    "happiness": "positive",
    "happy": "positive",
    "positive": "positive",
    "disgust": "negative",
    "repression": "negative",
    "anger": "negative",
    "contempt": "negative",
    "fear": "negative",
    "sadness": "negative",
    "sad": "negative",
    "negative": "negative",
    "surprise": "surprise",
    "others": None,
    "other": None,
}


class DatasetFormatError(ValueError):
    """A data set file does not look as expected; the message names the file and row."""


def normalise_emotion(raw: str) -> str:
    return re.sub(r"\s+", " ", str(raw).strip().lower())


def to_label5(raw: str) -> str | None:
    """Raw emotion -> CASME II 5-class label, or None if unknown."""
    return _RAW_TO_5.get(normalise_emotion(raw))


def to_label3(raw: str, via_5class: bool = False) -> str | None:
    """Raw emotion -> MEGC 3-class label; None for 'others' (excluded) and unknown labels.

    ``via_5class=True`` goes through the 5-class label first (CASME II convention: fear and
    sadness, folded into 'others', are then excluded).
    """
    e = normalise_emotion(raw)
    if via_5class:
        l5 = _RAW_TO_5.get(e)
        return CASME2_TO_MEGC3.get(l5) if l5 else None
    return _RAW_TO_3.get(e)


def is_known_emotion(raw: str) -> bool:
    e = normalise_emotion(raw)
    return e in _RAW_TO_5 or e in _RAW_TO_3


@dataclass
class MESample:
    """One trimmed micro-expression sample (onset..offset), as in CASME II / SAMM.

    ``frames`` are the image paths from onset to offset inclusive, in temporal order;
    ``onset``/``apex``/``offset`` are the data set's own frame numbers (as in the file names).
    ``apex_missing`` is True where the sheet had no apex (e.g. '/'); ``apex`` is then the
    middle frame, so downstream code always has an integer.
    """

    dataset: str
    subject: str
    clip: str
    frames: list[Path]
    onset: int
    apex: int
    offset: int
    emotion: str
    label5: str | None
    label3: str | None
    aus: str = ""
    fps: float = 200.0
    apex_missing: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def apex_index(self) -> int:
        """Index of the apex within ``frames``."""
        return self.apex - self.onset


@dataclass
class Interval:
    """One annotated expression in a long video (frame indices into ``LongVideo.frames``)."""

    onset: int
    apex: int | None
    offset: int
    kind: str  # "micro" | "macro" | "blink"
    emotion: str = ""
    label5: str | None = None
    label3: str | None = None
    aus: str = ""
    intensity: float | None = None


@dataclass
class LongVideo:
    """A long (untrimmed) video with annotated intervals, for spotting (and recognition)."""

    dataset: str
    subject: str
    video: str
    frames: list[Path]
    fps: float
    intervals: list[Interval]
    extra: dict = field(default_factory=dict)
