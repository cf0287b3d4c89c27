"""The micro-expression model: configuration, network, checkpoints and ONNX export.

Importing this package does not import torch: ``ModelConfig``, the label sets and the step
tensors are torch-free so the TensorRT / ONNX Runtime path works on machines without torch.
The torch-based names (``MicroExpressionNet``, ``build_model``, ``save_checkpoint``,
``load_checkpoint``, ``export_onnx``, ``build_untrained_export``) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from me_perception.model.config import (
    LABEL_SETS,
    SPOT_CLASSES,
    STEP_INPUT_NAMES,
    STEP_OUTPUT_NAMES,
    ModelConfig,
)
from me_perception.model.step_io import StepInputs, StepOutputs

_LAZY = {
    "MicroExpressionNet": "me_perception.model.network",
    "build_model": "me_perception.model.network",
    "CheckpointError": "me_perception.model.checkpoint",
    "CheckpointMetadata": "me_perception.model.checkpoint",
    "save_checkpoint": "me_perception.model.checkpoint",
    "load_checkpoint": "me_perception.model.checkpoint",
    "read_checkpoint_metadata": "me_perception.model.checkpoint",
    "export_onnx": "me_perception.model.export",
    "check_onnx": "me_perception.model.export",
    "build_untrained_export": "me_perception.model.export",
    "read_onnx_metadata": "me_perception.model.export",
}

__all__ = [
    "LABEL_SETS",
    "SPOT_CLASSES",
    "STEP_INPUT_NAMES",
    "STEP_OUTPUT_NAMES",
    "ModelConfig",
    "StepInputs",
    "StepOutputs",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
