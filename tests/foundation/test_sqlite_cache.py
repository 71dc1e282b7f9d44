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
