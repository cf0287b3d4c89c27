"""The shipped Fast DDS profile for large images, and how a process adopts it (no ROS import).

Raw VGA frames do not fit Fast DDS's default shared-memory segment; best-effort delivery of
them then loses most frames (see ``resources/fastdds/large_images.xml`` for the numbers). The
profile fixes that when *both* participants load it. Fast DDS reads the file named by an
environment variable when a participant is created, i.e. at ``rclpy.init()``, so a process
must set it before that: the player and the stand-in camera do, the launch file sets it for
the node, and the tests set it for every process they start.
"""

from __future__ import annotations

import os
from pathlib import Path

LARGE_IMAGE_PROFILE = (
    Path(__file__).resolve().parent.parent / "resources" / "fastdds" / "large_images.xml"
)

#: Fast DDS 3 (Kilted and newer) reads the first, Fast DDS 2 (Humble, Jazzy) the second.
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
_FAST_DDS_2_DISTROS = ("humble", "iron", "jazzy")


def profile_variable(distro: str | None = None) -> str:
    """The environment variable this ROS 2 distro's Fast DDS reads the profile file from."""
    distro = (distro if distro is not None else os.environ.get("ROS_DISTRO", "")).lower()
    return PROFILE_VARIABLES[1] if distro in _FAST_DDS_2_DISTROS else PROFILE_VARIABLES[0]


def large_image_profile_env(distro: str | None = None) -> dict[str, str]:
    """Environment entries that make a process started with them use the shipped profile."""
    return {profile_variable(distro): str(LARGE_IMAGE_PROFILE)}


def apply_large_image_profile() -> str | None:
    """Use the shipped profile in this process unless a profile is already configured.

    Call before ``rclpy.init()``. Returns the profile file now in effect (the user's own one
    if either variable was already set: theirs wins).
    """
    for name in PROFILE_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    os.environ.update(large_image_profile_env())
    return str(LARGE_IMAGE_PROFILE)
