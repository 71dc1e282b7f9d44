"""Fixtures shared by every test: the sandbox's TLS material, a clock, a state store per backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from connector.sandbox.core import SandboxClock, SandboxTLS
from connector.store import Store

POSTGRES_URL = os.environ.get("CONNECTOR_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def sandbox_tls(tmp_path_factory: pytest.TempPathFactory) -> SandboxTLS:
    """One generated CA + server certificate for all emulators in the test session."""
    return SandboxTLS(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))


def _postgres_server() -> str:
    """The test PostgreSQL's URL; skips the test with the reason when none is configured."""
    if not POSTGRES_URL:
        pytest.skip(
            "CONNECTOR_TEST_POSTGRES_URL is not set: PostgreSQL store tests need a server "
            "(`.ci/run` sets it to the local PostgreSQL)"
        )
    return POSTGRES_URL


def _postgres_store() -> Iterator[Store]:
    """A fresh schema on the test PostgreSQL per test, dropped afterwards."""
    from connector.store.scratch import scratch_postgres_store

    with scratch_postgres_store(_postgres_server()) as store:
        yield store


@pytest.fixture
def postgres_server_url() -> str:
    """The test PostgreSQL's URL (skipped with the reason when not configured)."""
    return _postgres_server()


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A state URL whose tables live in a fresh schema of the test PostgreSQL (``search_path`` set by the
    URL's connection options, so any process that opens the URL sees it), dropped afterwards."""
    base = _postgres_server().replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    """The state store on SQLite and on the real PostgreSQL (skipped with a reason when not configured)."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'state.db'}")
        yield store
        store.close()
    else:
        yield from _postgres_store()


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    s = Store(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()
