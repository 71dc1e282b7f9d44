"""Fixtures for the daemon tests: a state URL per backend that separate daemon processes can share."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_kit import FAKE_TABLES
from sqlalchemy import create_engine, text

POSTGRES_URL = os.environ.get("CONNECTOR_TEST_POSTGRES_URL")


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
def postgres_url() -> Iterator[str]:
    """A fresh schema on the test PostgreSQL, reachable by URL (``options=-csearch_path``) from any process."""
    if not POSTGRES_URL:
        pytest.skip("CONNECTOR_TEST_POSTGRES_URL is not set: multi-instance tests need a real PostgreSQL "
                    "(e.g. postgresql://postgres@127.0.0.1:5432/test)")
    schema = f"d_{uuid.uuid4().hex[:12]}"
    base = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    _prepare(url)
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
