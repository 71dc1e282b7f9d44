"""SQLite's page cache is sized for the pass: the connection appending a pass's points or states, and every
connection checked out while a large pass runs (the default up to 125,000 accounts, 16 MiB from a million);
after it, each connection returns to SQLite's default."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from connector.store import Store
from connector.store.database import SQLITE_CACHE_KIB, SQLITE_WRITE_CACHE_KIB, larger_page_cache, pass_page_cache


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.close()


def _accounts_passed_to(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Spy on ``module.name(conn_or_engine, accounts)``: the accounts of every call, in order."""
    seen: list[int] = []
    real = getattr(module, name)

    def spy(target: Any, accounts: int) -> Any:
        seen.append(accounts)
        return real(target, accounts)

    monkeypatch.setattr(module, name, spy)
    return seen


def _size(conn: Any) -> int:
    return int(conn.execute(text("PRAGMA cache_size")).scalar() or 0)


def test_a_connection_has_the_larger_cache_only_inside_the_block(store: Store) -> None:
    with store.engine.connect() as conn, store.engine.connect() as other:
        assert _size(conn) == -SQLITE_CACHE_KIB
        for accounts, kib in ((1_000_000, SQLITE_WRITE_CACHE_KIB), (5_000_000, SQLITE_WRITE_CACHE_KIB),
                              (500_000, 8192), (100_000, SQLITE_CACHE_KIB), (0, SQLITE_CACHE_KIB)):
            with larger_page_cache(conn, accounts):
                assert _size(conn) == -kib, accounts
                assert _size(other) == -SQLITE_CACHE_KIB
            assert _size(conn) == -SQLITE_CACHE_KIB


def test_the_score_stage_appends_run_with_it(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Points and engine states are appended inside the larger cache (what the 1M pass was measured with)."""
    import connector.store.store as store_module

    seen = _accounts_passed_to(monkeypatch, store_module, "larger_page_cache")
    store.append_scores(iter([]), accounts=1_000_000)
    store.save_packed_states([], accounts=1_000_000)
    assert seen == [1_000_000, 1_000_000]


def test_every_connection_checked_out_during_a_large_pass_has_its_cache_then_the_default(store: Store) -> None:
    """A sink's diff reads and records a window at a time through whichever pooled connection is free: each
    gets the pass's cache at checkout, and the default again at its first checkout after the pass — below
    125,000 accounts nothing changes (the 100k first sync's memory budget)."""

    def sizes() -> list[int]:
        with store.engine.connect() as a, store.engine.connect() as b:
            return [_size(a), _size(b)]

    assert sizes() == [-SQLITE_CACHE_KIB] * 2
    with pass_page_cache(store.engine, 100_000):
        assert sizes() == [-SQLITE_CACHE_KIB] * 2
    with pass_page_cache(store.engine, 1_000_000):
        assert sizes() == [-SQLITE_WRITE_CACHE_KIB] * 2
        with store.engine.connect() as conn, larger_page_cache(conn, 500_000):
            # an append inside the pass returns to the pass's size, not below it
            assert _size(conn) == -8192
        assert sizes() == [-SQLITE_WRITE_CACHE_KIB] * 2
    assert sizes() == [-SQLITE_CACHE_KIB] * 2


def test_a_sync_scores_and_writes_inside_the_pass_cache(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync sizes the pass by the accounts it scores; the score stage and the sinks run inside it."""
    import connector.sync as sync_module
    from connector.config import config_from_dict
    from connector.sandbox.store_world import fill
    from connector.sync import SyncRunner

    seen = _accounts_passed_to(monkeypatch, sync_module, "pass_page_cache")
    now = datetime(2026, 11, 2, 9, tzinfo=UTC)
    fill(store, 30, now)
    config = config_from_dict({"salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False}})
    SyncRunner(config, store, sources=[], sinks=[], now=lambda: now).run(full=True)
    assert seen == [30]
