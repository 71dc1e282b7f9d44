"""Fixtures for the daemon tests: a state URL per backend that separate daemon processes can share."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemon_kit import FAKE_TABLES
from sqlalchemy import text


def _prepare(url: str) -> None:
    from connector.store import Store

    store = Store(url)  # runs the migrations once, before several daemons race to
    with store.engine.begin() as conn:
        for ddl in FAKE_TABLES:
            conn.execute(text(ddl))
    store.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    _prepare(url)
    return url


@pytest.fixture
def postgres_url(postgres_schema_url: str) -> str:
    """A fresh schema on the test PostgreSQL, reachable by URL (``options=-csearch_path``) from any process."""
    _prepare(postgres_schema_url)
    return postgres_schema_url
