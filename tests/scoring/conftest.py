"""Fixtures for the scoring tests (plain helpers live in ``scoring_helpers``)."""

from __future__ import annotations

import pytest
from scoring_helpers import DEFAULT_MODEL

from connector.scoring import SuccessModel


@pytest.fixture
def model() -> SuccessModel:
    return DEFAULT_MODEL
