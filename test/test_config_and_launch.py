"""The shipped parameter file and launch file agree with the parameters the node declares.

`launch`/`launch_ros` are not on PyPI, so the launch file cannot run here (it does with a ROS 2
distro); it is checked statically: it parses, declares the documented arguments, and sets only
parameters the node declares.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from me_perception.ros.parameters import PARAMETERS, SPECS, pipeline_config, validate

ROOT = Path(__file__).resolve().parent.parent


def test_config_yaml_has_every_parameter_with_a_valid_default() -> None:
    data = yaml.safe_load((ROOT / "config" / "me_perception.yaml").read_text())
    values = data["/**"]["ros__parameters"]
    assert set(values) == {s.name for s in PARAMETERS} - {"autostart"}
    assert validate(values) == []
    for name, value in values.items():
        assert value == SPECS[name].default, name
    pipeline_config(values)  # builds


def test_validation_refuses_out_of_range_and_unknown_choices() -> None:
    assert validate({"events.on_threshold": 1.5})
    assert validate({"backend": "magic"})
    assert validate({"max_faces": 0})
    assert validate({"num_threads": 2.5})
    assert validate({"events.on_threshold": 0.5, "events.off_threshold": 0.6})
    assert validate({"events.on_threshold": 0.5, "events.off_threshold": 0.4}) == []


def test_launch_file_declares_the_documented_arguments() -> None:
    source = (ROOT / "launch" / "me_perception.launch.py").read_text()
    tree = ast.parse(source)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ARGUMENTS":
            names = {elt.elts[0].value for elt in node.value.elts}
    assert {
        "camera_topic",
        "compressed",
        "params_file",
        "backend",
        "namespace",
        "use_sim_time",
        "model_path",
    } <= names
    node_params = {
        key.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for key in node.keys
        if isinstance(key, ast.Constant)
    }
    assert node_params - {"use_sim_time"} <= set(SPECS), node_params - set(SPECS)
