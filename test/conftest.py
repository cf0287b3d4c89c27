"""Test-wide set-up: keep ROS 2 discovery on this machine and in a domain of this run's own,
with the shipped Fast DDS profile for large images.

Every test process (and the child processes tests start, which inherit os.environ) uses
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and one ROS_DOMAIN_ID chosen per run, so parallel runs
on a shared machine do not see each other's topics.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_LOCALHOST_ONLY", None)  # deprecated, conflicts with the range above
if "ME_TEST_ROS_DOMAIN_ID" in os.environ:
    os.environ["ROS_DOMAIN_ID"] = os.environ["ME_TEST_ROS_DOMAIN_ID"]
else:
    # Valid domain ids for Fast DDS's default ports on Linux are 0..101 and 215..232.
    os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 101))
    os.environ["ME_TEST_ROS_DOMAIN_ID"] = os.environ["ROS_DOMAIN_ID"]

# Every participant of the tests (this process, the nodes and players it starts) loads the
# shipped Fast DDS profile for large images, as the launch file arranges on a robot. Tests of
# what happens without it start their camera process with the variable removed.
from me_perception.ros.fastdds import PROFILE_VARIABLES, large_image_profile_env

for _name in PROFILE_VARIABLES:
    os.environ.pop(_name, None)
os.environ.update(large_image_profile_env())


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained (seeded) model of the shipped architecture, exported once per run: tests of
    the node and the offline tools check the plumbing, not what the network learned."""
    from me_perception.model.export import build_untrained_export

    out = tmp_path_factory.mktemp("model")
    build_untrained_export(out)
    return out


@pytest.fixture(scope="session")
def broken_models(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model files that disagree with their own metadata, and one that gives NaN on faces
    (see model_support.py): {"crop": ..., "classes": ..., "nan_on_faces": ...}."""
    from model_support import nan_on_faces_model, relabelled_model

    out = tmp_path_factory.mktemp("broken_models")
    return {
        # graph takes 64x64 crops, metadata says 32 (what the front end would then produce)
        "crop": relabelled_model(model_dir, out / "crop", crop_size=32),
        # graph has 5 class outputs, metadata names the 3 MEGC classes
        "classes": relabelled_model(model_dir, out / "classes", label_set="megc_3"),
        "nan_on_faces": nan_on_faces_model(model_dir, out / "nan_on_faces"),
    }


@pytest.fixture
def peer() -> Iterator[Any]:
    """The test's own ROS participant (node_support.RosPeer), closed afterwards."""
    from node_support import RosPeer

    p = RosPeer()
    yield p
    p.close()
