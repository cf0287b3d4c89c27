"""The node commands the README and docs/node.md show work as written: each one, started as
shown, subscribes to the camera topic it is meant for and answers frames published there (a
remapping of ``image`` does nothing for a node listening on ``image/compressed``)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from node_support import DT, NODE_EXE, T0, RosPeer, compressed_msg, face_frame, image_msg
from ros_support import child_process

pytest.importorskip("rclpy")

ROOT = Path(__file__).resolve().parent.parent


def node_commands(text: str) -> list[list[str]]:
    """The ``.venv/bin/me_perception_node ...`` commands of the fenced code blocks, as argv
    lists; a trailing comment ``# compressed: ARGS`` is a second command with ARGS added."""
    commands = []
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            if not line.strip().startswith(".venv/bin/me_perception_node"):
                continue
            command, _, comment = line.partition("#")
            argv = shlex.split(command)
            commands.append(argv)
            variant = re.match(r"\s*compressed:\s*(.*)", comment)
            if variant:
                commands.append(argv + shlex.split(variant.group(1)))
    return commands


def _documented() -> list[tuple[str, list[str]]]:
    found = []
    for doc in ("README.md", "docs/node.md"):
        for argv in node_commands((ROOT / doc).read_text(encoding="utf-8")):
            found.append((doc, argv))
    return found


def test_the_docs_show_a_raw_and_a_compressed_command() -> None:
    commands = [argv for _, argv in _documented()]
    assert any("image_transport:=compressed" in argv for argv in commands)
    assert any("image_transport:=compressed" not in argv for argv in commands)


@pytest.mark.parametrize(
    "doc,argv", _documented(), ids=lambda v: v if isinstance(v, str) else " ".join(v[2:])
)
def test_documented_node_command_receives_the_camera(doc: str, argv: list[str]) -> None:
    from sensor_msgs.msg import CompressedImage, Image

    from me_perception.msg import MicroExpressionArray

    compressed = "image_transport:=compressed" in argv
    topic = "/camera/image_raw/compressed" if compressed else "/camera/image_raw"
    peer = RosPeer("readme_checker")
    try:
        states = peer.collect(MicroExpressionArray, "/me_perception/state")
        pub: Any = peer.node.create_publisher(CompressedImage if compressed else Image, topic, 10)
        make = compressed_msg if compressed else image_msg
        with child_process([NODE_EXE, *argv[1:]]) as node:
            subscribed = peer.spin_until(
                lambda: pub.get_subscription_count() > 0 or node.poll() is not None, 60.0
            )
            assert node.poll() is None, node.stdout.read().decode()
            assert subscribed, f"{doc}: `{' '.join(argv)}` does not listen on {topic}"
            assert peer.wait_matched("/me_perception/state")
            # frames until three are answered (a command with a best-effort input may miss
            # the first frames while the two sides finish matching)
            for i in range(100):
                pub.publish(make(face_frame(), T0 + i * DT))
                if peer.spin_until(lambda: len(states) >= 3, 0.2):
                    break
            assert peer.spin_until(lambda: len(states) >= 3, 10.0), f"{len(states)} states"
    finally:
        peer.close()
