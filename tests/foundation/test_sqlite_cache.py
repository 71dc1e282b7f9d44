"""The score stage's appends get a SQLite page cache sized for the pass while they run (the default up to
125,000 accounts, 16 MiB from a million); every other connection keeps SQLite's default, and the appending
one returns to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from connector.store import Store, database
from connector.store.database import SQLITE_CACHE_KIB, SQLITE_WRITE_CACHE_KIB, larger_page_cache


def test_a_connection_has_the_larger_cache_only_inside_the_block(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with store.engine.connect() as conn, store.engine.connect() as other:
            assert conn.execute(text("PRAGMA cache_size")).scalar() == -SQLITE_CACHE_KIB
            for accounts, kib in ((1_000_000, SQLITE_WRITE_CACHE_KIB), (5_000_000, SQLITE_WRITE_CACHE_KIB),
                                  (500_000, 8192), (100_000, SQLITE_CACHE_KIB), (0, SQLITE_CACHE_KIB)):
                with larger_page_cache(conn, accounts):
                    assert conn.execute(text("PRAGMA cache_size")).scalar() == -kib, accounts
                    assert other.execute(text("PRAGMA cache_size")).scalar() == -SQLITE_CACHE_KIB
                assert conn.execute(text("PRAGMA cache_size")).scalar() == -SQLITE_CACHE_KIB
    finally:
        store.close()


def test_the_score_stage_appends_run_with_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Points and engine states are appended inside the larger cache (what the 1M pass was measured with)."""
    import connector.store.store as store_module

    seen: list[int] = []
    real = database.larger_page_cache

    def spy(conn: Any, accounts: int) -> Any:
        seen.append(accounts)
        return real(conn, accounts)

    monkeypatch.setattr(store_module, "larger_page_cache", spy)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        store.append_scores(iter([]), accounts=1_000_000)
        store.save_packed_states([], accounts=1_000_000)
    finally:
        store.close()
    assert seen == [1_000_000, 1_000_000]


def test_every_connection_checked_out_during_a_large_pass_has_its_cache_then_the_default(tmp_path: Path) -> None:
    """A sink's diff reads and records a window at a time through whichever pooled connection is free: each
    gets the pass's cache at checkout, and the default again at its first checkout after the pass — below
    125,000 accounts nothing changes (the 100k first sync's memory budget)."""
    from connector.store.database import pass_page_cache

    store = Store(f"sqlite:///{tmp_path / 'state.db'}")

    def sizes() -> list[int]:
        with store.engine.connect() as a, store.engine.connect() as b:
            return [int(c.execute(text("PRAGMA cache_size")).scalar() or 0) for c in (a, b)]

    try:
        assert sizes() == [-SQLITE_CACHE_KIB] * 2
        with pass_page_cache(store.engine, 100_000):
            assert sizes() == [-SQLITE_CACHE_KIB] * 2
        with pass_page_cache(store.engine, 1_000_000):
            assert sizes() == [-SQLITE_WRITE_CACHE_KIB] * 2
            with store.engine.connect() as conn, larger_page_cache(conn, 500_000):
                # an append inside the pass returns to the pass's size, not below it
                assert conn.execute(text("PRAGMA cache_size")).scalar() == -8192
            assert sizes() == [-SQLITE_WRITE_CACHE_KIB] * 2
        assert sizes() == [-SQLITE_CACHE_KIB] * 2
    finally:
        store.close()


def test_a_sync_scores_and_writes_inside_the_pass_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync sizes the pass by the accounts it scores; the score stage and the sinks run inside it."""
    import connector.sync as sync_module

    seen: list[int] = []
    real = sync_module.pass_page_cache

    def spy(engine: Any, accounts: int) -> Any:
        seen.append(accounts)
        return real(engine, accounts)

    monkeypatch.setattr(sync_module, "pass_page_cache", spy)
    from datetime import UTC, datetime

    from connector.config import config_from_dict
    from connector.sandbox.store_world import fill
    from connector.sync import SyncRunner

    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        fill(store, 30, datetime(2026, 11, 2, 9, tzinfo=UTC))
        config = config_from_dict({"salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False}})
        SyncRunner(config, store, sources=[], sinks=[], now=lambda: datetime(2026, 11, 2, 9, tzinfo=UTC)).run(full=True)
    finally:
        store.close()
    assert seen == [30]
