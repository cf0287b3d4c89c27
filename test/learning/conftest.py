"""Prepared synthetic videos shared by the preparation and training tests (made once)."""

from __future__ import annotations

import pytest
from learning_support import DATA, TINY

from me_perception.learning.preparation import PreparedVideo
from me_perception.learning.synthetic_data import make_synthetic_videos


@pytest.fixture(scope="session")
def videos() -> list[PreparedVideo]:
    return make_synthetic_videos(DATA, TINY)


@pytest.fixture(scope="session")
def hopper_videos() -> list[PreparedVideo]:
    """Two short subjects of the second identity (for leave-one-identity-out)."""
    from dataclasses import replace

    data = replace(DATA, subjects=(1, 2), identity="grace_hopper")
    return make_synthetic_videos(data, TINY)
