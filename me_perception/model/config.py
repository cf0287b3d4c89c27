"""Model configuration and label sets, importable without torch.

The face front end, the feature buffer and the TensorRT/ONNX Runtime backends all need to know
the crop size, the feature-map shape and the class names, but must not pull in torch (a Jetson
running TensorRT has no torch build). So the configuration lives here, apart from the network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

#: Named label sets. CASME II's 5 classes as used in most CASME II recognition papers, and the
#: MEGC 2019 composite-data-set 3 classes.
LABEL_SETS: dict[str, tuple[str, ...]] = {
    "casme2_5": ("happiness", "disgust", "repression", "surprise", "others"),
    "megc_3": ("positive", "negative", "surprise"),
}

#: MEGC 3-class label of each CASME II 5-class label; 'others' is excluded from the 3-class set.
CASME2_TO_MEGC3: dict[str, str | None] = {
    "happiness": "positive",
    "disgust": "negative",
    "repression": "negative",
    "surprise": "surprise",
    "others": None,
}

#: Input channels of a motion model: D_b x, y and D_k x, y (``perception.motion``).
MOTION_CHANNELS = 4

#: Order of the spotting head's outputs.
SPOT_CLASSES: tuple[str, ...] = ("neutral", "micro", "macro")

#: Names of the tensors of the exported streaming step, in order (ONNX graph input/output names).
STEP_INPUT_NAMES: tuple[str, ...] = ("crop", "past_feature", "baseline", "hidden", "primed")
STEP_OUTPUT_NAMES: tuple[str, ...] = (
    "feature",
    "spot_probs",
    "class_probs",
    "intensity",
    "hidden_out",
)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and temporal assumptions of one model.

    Temporal parameters are in *seconds* so the same model serves 30 fps and 200 fps cameras;
    the feature buffer converts them to frames with the measured frame rate.

    Attributes:
        crop_size: side of the square network input (pixels): the aligned face crop of an
            appearance model, or the motion map of a motion model (32 = ``MotionConfig.map_px``).
        in_channels: what the network reads (:data:`MOTION_CHANNELS` = a motion model, the
            shipped kind). 4 = the motion map of ``perception.motion``: D_b x, y (displacement
            from the face's neutral reference) and D_k x, y (displacement over the last 0.1 s),
            in inter-ocular-distance units, head motion removed; it is the same for every face,
            so a motion model cannot learn who its training faces were. 1 = grayscale crop,
            3 = RGB crop (appearance models, still loadable; they learn the faces they see).
            NCHW float32 (crops in [0, 1]).
        norm_mean, norm_std: normalisation applied *inside* the network, ``(x - mean) / std``,
            so every backend sees the same raw input. Crops: 0.5 / 0.25; motion maps: 0.0 /
            0.02 (micro-expressions move the skin 0.01-0.05 IOD, flow noise is ~0.003).
        stem_channels: channels of the first two conv stages.
        feature_channels: channels C of the spatial feature map F_t.
        hidden_size: GRU memory size.
        embed_size: size of the vector fed to the GRU each frame.
        label_set: key in ``LABEL_SETS`` or ``"custom"`` (then ``class_names`` must be given).
        class_names: explicit class names; empty means "take them from ``label_set``".
        k_seconds: short-range contrast lag, F_t - F_{t-k}.
        n_seconds: length of the per-face feature ring (>= k).
        baseline_tau_s: time constant of the slow neutral baseline (exponential moving average).
    """

    crop_size: int = 64
    in_channels: int = 1
    norm_mean: float = 0.5
    norm_std: float = 0.25
    stem_channels: int = 16
    feature_channels: int = 32
    hidden_size: int = 96
    embed_size: int = 128
    label_set: str = "casme2_5"
    class_names: tuple[str, ...] = field(default_factory=tuple)
    k_seconds: float = 0.1
    n_seconds: float = 0.5
    baseline_tau_s: float = 2.0

    def __post_init__(self) -> None:
        if self.crop_size % 8 != 0 or self.crop_size < 32:
            raise ValueError(f"crop_size must be a multiple of 8 and >= 32, got {self.crop_size}")
        if self.in_channels not in (1, 3, MOTION_CHANNELS):
            raise ValueError(
                f"in_channels must be 1, 3 (crops) or {MOTION_CHANNELS} (motion), "
                f"got {self.in_channels}"
            )
        if self.norm_std <= 0:
            raise ValueError("norm_std must be > 0")
        if not self.class_names and self.label_set not in LABEL_SETS:
            raise ValueError(
                f"unknown label_set {self.label_set!r} (known: {sorted(LABEL_SETS)}); "
                "pass class_names for a custom set"
            )
        if len(self.classes) < 2:
            raise ValueError("need at least two classes")
        if self.k_seconds <= 0 or self.n_seconds < self.k_seconds or self.baseline_tau_s <= 0:
            raise ValueError("need 0 < k_seconds <= n_seconds and baseline_tau_s > 0")

    @property
    def reads_motion(self) -> bool:
        """True for a motion model (input = the motion map, not a face crop)."""
        return self.in_channels == MOTION_CHANNELS

    @classmethod
    def motion(cls, **kw: Any) -> ModelConfig:
        """A motion model's configuration: 4 x 32 x 32 motion maps, normalised 0 / 0.02, and
        a slimmer stem and memory than the crop model (a smooth flow field needs fewer
        filters than a face picture, and training runs on two CPU cores)."""
        base = {"crop_size": 32, "in_channels": MOTION_CHANNELS, "norm_mean": 0.0}
        base.update(norm_std=0.02, stem_channels=8, hidden_size=64, embed_size=64)
        return cls(**{**base, **kw})

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, in the order of the class head's outputs."""
        return tuple(self.class_names) if self.class_names else LABEL_SETS[self.label_set]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def feature_size(self) -> int:
        """Spatial side of F_t: three stride-2 stages, so crop_size / 8."""
        return self.crop_size // 8

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of one face's feature map F_t."""
        return (self.feature_channels, self.feature_size, self.feature_size)

    @property
    def crop_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one face crop."""
        return (self.in_channels, self.crop_size, self.crop_size)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["class_names"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Build from a dict, rejecting unknown keys (a sign of a newer, incompatible file)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        kw = dict(d)
        if "class_names" in kw:
            kw["class_names"] = tuple(kw["class_names"])
        return cls(**kw)
