"""Test-wide set-up: keep ROS 2 discovery on this machine and in a domain of this run's own.

Every test process (and the child processes tests start, which inherit os.environ) uses
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and one ROS_DOMAIN_ID chosen per run, so parallel runs
on a shared machine do not see each other's topics.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_LOCALHOST_ONLY", None)  # deprecated, conflicts with the range above
if "ME_TEST_ROS_DOMAIN_ID" in os.environ:
    os.environ["ROS_DOMAIN_ID"] = os.environ["ME_TEST_ROS_DOMAIN_ID"]
else:
    # Valid domain ids for Fast DDS's default ports on Linux are 0..101 and 215..232.
    os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 101))
    os.environ["ME_TEST_ROS_DOMAIN_ID"] = os.environ["ROS_DOMAIN_ID"]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained (seeded) model of the shipped architecture, exported once per run: tests of
    the node and the offline tools check the plumbing, not what the network learned."""
    from me_perception.model.export import build_untrained_export

    out = tmp_path_factory.mktemp("model")
    build_untrained_export(out)
    return out
