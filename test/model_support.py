"""Real ONNX step models that are wrong in one specific way, made from the untrained export.

Each is a genuine model file a user could have produced by mistake: exported for one
configuration and labelled with another (crop size, class count), or numerically broken on
real faces while fine on the zero input a configure-time check feeds it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def relabelled_model(src_dir: Path, dst_dir: Path, **config: Any) -> Path:
    """Copy ``src_dir/model.onnx`` with its metadata's model config changed by ``config``
    (the graph is untouched, so graph and metadata disagree)."""
    import onnx

    from me_perception.model.checkpoint import METADATA_KEY, CheckpointMetadata
    from me_perception.model.config import ModelConfig

    model = onnx.load(str(src_dir / "model.onnx"))
    props = {p.key: p for p in model.metadata_props}
    meta = CheckpointMetadata.from_json(props[METADATA_KEY].value)
    changed = ModelConfig.from_dict({**meta.config.to_dict(), "class_names": (), **config})
    props[METADATA_KEY].value = CheckpointMetadata(
        config=changed, model_id=meta.model_id, training_data=meta.training_data
    ).to_json()
    props["me_perception.class_names"].value = json.dumps(list(changed.classes))
    dst_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst_dir / "model.onnx"))
    return dst_dir


def nan_on_faces_model(src_dir: Path, dst_dir: Path, threshold: float = 0.05) -> Path:
    """Copy the model with its spotting output replaced by NaN for every face whose crop has
    a pixel brighter than ``threshold``: finite on an all-zero crop, NaN on any real face."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src_dir / "model.onnx"))
    graph = model.graph
    for node in graph.node:
        node.output[:] = ["spot_probs_raw" if o == "spot_probs" else o for o in node.output]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(threshold, np.float32), "nan_threshold"),
            numpy_helper.from_array(np.array(np.nan, np.float32), "nan_value"),
            numpy_helper.from_array(np.array([-1, 1], np.int64), "nan_shape"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("ReduceMax", ["crop"], ["crop_max"], axes=[1, 2, 3], keepdims=1),
            helper.make_node("Reshape", ["crop_max", "nan_shape"], ["crop_max_2d"]),
            helper.make_node("Greater", ["crop_max_2d", "nan_threshold"], ["is_face"]),
            helper.make_node("Where", ["is_face", "nan_value", "spot_probs_raw"], ["spot_probs"]),
        ]
    )
    del graph.value_info[:]
    assert any(o.name == "spot_probs" for o in graph.output)
    assert graph.output[1].type.tensor_type.elem_type == TensorProto.FLOAT
    dst_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst_dir / "model.onnx"))
    return dst_dir
