"""The package's layering, read from the source with ``ast`` (every import, also those inside
functions): which sub-package may import which, where ROS may be imported, and no cycles.

    model <- backends <- perception <- ros <- recording <- tools
                                   \\<- learning <------------/

perception, model and backends never import ros, recording, tools or learning; only ros/ and
recording/replay import rclpy or ROS message packages; the offline tool runs without ROS.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "me_perception"

#: sub-package -> the sub-packages it may import (besides itself)
ALLOWED = {
    "model": set(),
    "backends": {"model"},
    "perception": {"model", "backends"},
    "ros": {"perception", "model", "backends"},
    # ros.messages: the message fields, shared by the node and the bag writer (ROS-free)
    "recording": {"ros", "perception", "model", "backends"},
    "learning": {"perception", "model", "backends"},
    "tools": {"recording", "ros", "learning", "perception", "model", "backends"},
}
#: Python packages of a ROS installation (the client library and message packages)
ROS_PACKAGES = {
    "rclpy",
    "rosidl_runtime_py",
    "builtin_interfaces",
    "std_msgs",
    "sensor_msgs",
    "diagnostic_msgs",
    "rcl_interfaces",
    "lifecycle_msgs",
    "rosgraph_msgs",
    "geometry_msgs",
    "hri_msgs",
    "launch",
    "launch_ros",
}
ROS_ALLOWED = ("me_perception.ros", "me_perception.recording.replay")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


@cache
def imports_of(module: str) -> frozenset[str]:
    """Everything ``module`` imports, as dotted names (a submodule where one is named)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return frozenset(found)


def _subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else ""


def _is_ros(name: str) -> bool:
    return name.split(".")[0] in ROS_PACKAGES or name.startswith("me_perception.msg")


def internal_graph() -> dict[str, set[str]]:
    return {m: {i for i in imports_of(m) if i in MODULES and i != m} for m in MODULES}


def test_every_module_belongs_to_a_stage_package() -> None:
    loose = [m for m in MODULES if m != "me_perception" and not _subpackage(m)]
    assert not loose, f"modules outside the stage packages: {loose}"


def test_sub_packages_import_only_the_layers_below() -> None:
    wrong = []
    for module in MODULES:
        own = _subpackage(module)
        for target in imports_of(module):
            other = _subpackage(target) if target.startswith("me_perception.") else ""
            if other and other != own and other not in ALLOWED.get(own, set()):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_only_ros_and_replay_import_ros() -> None:
    wrong = [
        f"{module} imports {target}"
        for module in MODULES
        if not module.startswith(ROS_ALLOWED)
        for target in imports_of(module)
        if _is_ros(target)
    ]
    assert not wrong, "\n".join(wrong)


def test_offline_tool_and_learning_need_no_ros() -> None:
    """`pip install .` without ROS runs the offline tool (rosbags) and model building."""
    graph = internal_graph()
    roots = ["me_perception.tools.cli", *(m for m in MODULES if _subpackage(m) == "learning")]
    seen, stack = set(roots), list(roots)
    while stack:
        for target in graph[stack.pop()] - seen:
            seen.add(target)
            stack.append(target)
    ros = sorted(f"{m} imports {t}" for m in seen for t in imports_of(m) if _is_ros(t))
    # the replay player imports rclpy lazily, inside play(): only when a bag is played
    assert all(line.startswith("me_perception.recording.replay ") for line in ros), ros


def test_no_import_cycles() -> None:
    graph = internal_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checks_see_real_imports() -> None:
    """Guard against a checker that finds nothing: known edges are found."""
    assert "me_perception.perception.front_end" in imports_of("me_perception.perception.pipeline")
    assert "rclpy" in imports_of("me_perception.ros.node")
    assert "me_perception.perception.detection.base" in imports_of(
        "me_perception.perception.detection.haar"
    )
    assert _subpackage("me_perception.learning.datasets.casme2") == "learning"


def test_modules_stay_under_500_lines() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 500}
    assert not long, f"split these by concern: {long}"
