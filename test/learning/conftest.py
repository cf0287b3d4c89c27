"""Prepared synthetic videos shared by the preparation and training tests (made once)."""

from __future__ import annotations

import pytest
from learning_support import DATA, TINY

from me_perception.learning.preparation import PreparedVideo, make_synthetic_videos


@pytest.fixture(scope="session")
def videos() -> list[PreparedVideo]:
    return make_synthetic_videos(DATA, TINY)
