"""Fixtures shared by every test: the sandbox's TLS material, a clock, a state store per backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

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


def _postgres_store() -> Iterator[Store]:
    """A fresh schema on the test PostgreSQL per test, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip(
            "CONNECTOR_TEST_POSTGRES_URL is not set: PostgreSQL store tests need a server "
            "(`.ci/run` sets it to the local PostgreSQL)"
        )
    from connector.store.scratch import scratch_postgres_store

    with scratch_postgres_store(POSTGRES_URL) as store:
        yield store


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
