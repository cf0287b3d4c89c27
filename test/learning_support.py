"""A tiny motion model and a tiny synthetic data set for the learning tests (CI-sized)."""

from __future__ import annotations

from me_perception.learning.synthetic import ClipConfig
from me_perception.learning.synthetic_data import SyntheticDataConfig
from me_perception.model.config import ModelConfig

TINY = ModelConfig.motion(
    stem_channels=8, feature_channels=16, hidden_size=16, embed_size=32, label_set="megc_3"
)
DATA = SyntheticDataConfig(
    subjects=(1, 2, 3),
    clips_per_subject=1,
    clip=ClipConfig(fps=30.0, duration_s=3.0, width=160, height=160, face_fraction=0.5,
                    classes=("happiness", "disgust", "surprise")),
)  # fmt: skip
