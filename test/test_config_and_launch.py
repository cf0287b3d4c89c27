"""The shipped parameter file and launch file agree with the parameters the node declares.

`launch`/`launch_ros` are not on PyPI, so the launch file cannot run here (it does with a ROS 2
distro); it is checked statically: it parses, declares the documented arguments, and sets only
parameters the node declares.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from me_perception.backends import BACKEND_NAMES
from me_perception.ros.parameters import (
    PARAMETERS,
    SPECS,
    pipeline_config,
    validate,
    validate_detailed,
)

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


def _launch_tree() -> ast.Module:
    return ast.parse((ROOT / "launch" / "me_perception.launch.py").read_text())


def _arguments(tree: ast.Module) -> dict[str, tuple[str, ...] | None]:
    """{argument: allowed values or None} from the launch file's ARGUMENTS table."""
    names: dict[str, ast.expr] = {}
    table: list[ast.expr] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            names[node.targets[0].id] = node.value
            if node.targets[0].id == "ARGUMENTS":
                table = node.value.elts  # type: ignore[attr-defined]

    def values(expr: ast.expr) -> tuple[str, ...] | None:
        if isinstance(expr, ast.Name) and expr.id == "BACKEND_NAMES":
            return BACKEND_NAMES
        if isinstance(expr, ast.Name):
            return values(names[expr.id])
        return ast.literal_eval(expr)

    return {entry.elts[0].value: values(entry.elts[3]) for entry in table}  # type: ignore


def test_launch_file_declares_the_documented_arguments() -> None:
    arguments = _arguments(_launch_tree())
    assert {
        "camera_topic",
        "image_transport",
        "params_file",
        "backend",
        "namespace",
        "use_sim_time",
        "model_path",
        "autostart",
        "publish_ros4hri",
        "log_level",
        "fastdds_profile",
    } <= set(arguments)
    node_params = {
        key.value
        for node in ast.walk(_launch_tree())
        if isinstance(node, ast.Dict)
        for key in node.keys
        if isinstance(key, ast.Constant)
    }
    assert node_params - {"use_sim_time"} <= set(SPECS), node_params - set(SPECS)


def test_launch_file_has_one_node_and_choices_for_enumerated_arguments() -> None:
    tree = _launch_tree()
    nodes = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "LifecycleNode"
    ]
    assert len(nodes) == 1, f"{len(nodes)} LifecycleNode actions (one node, no conditions)"
    assert not any(k.arg == "condition" for k in nodes[0].keywords)
    # autostart is an argument (a lifecycle manager can take over), not a constant
    autostart = [
        v
        for n in ast.walk(nodes[0])
        if isinstance(n, ast.Dict)
        for k, v in zip(n.keys, n.values, strict=True)
        if isinstance(k, ast.Constant) and k.value == "autostart"
    ]
    assert autostart and "LaunchConfiguration('autostart')" in ast.unparse(autostart[0])
    arguments = _arguments(tree)
    enumerated = {
        "image_transport": SPECS["image_transport"].choices,
        "backend": SPECS["backend"].choices,
        "use_sim_time": ("true", "false"),
        "autostart": ("true", "false"),
        "publish_ros4hri": ("true", "false"),
    }
    for name, allowed in enumerated.items():
        assert arguments[name] is not None, f"{name} has no choices="
        assert set(arguments[name]) == set(allowed), (name, arguments[name])
    assert arguments["log_level"] is not None


def test_numbers_are_checked_as_users_type_them() -> None:
    assert validate({"nominal_fps": 25}) == []  # an integer literal for a double
    assert validate({"events.on_threshold": 1}) == []
    assert validate({"nominal_fps": True})  # a bool is not a number here
    assert validate({"nominal_fps": float("nan")})
    assert validate({"nominal_fps": "25"})
    assert validate({"max_faces": 2.0})  # no silent truncation for integers
    reasons = validate_detailed({"events.on_threshold": 0.3, "events.off_threshold": 0.4})
    assert [set(names) for names, _ in reasons] == [{"events.on_threshold", "events.off_threshold"}]
