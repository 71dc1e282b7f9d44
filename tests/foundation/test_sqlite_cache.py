"""Every SQLite connection of a store gets the page cache the daily pass is measured with."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from connector.store import Store
from connector.store.database import SQLITE_CACHE_KIB


def test_each_connection_has_the_larger_page_cache(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with store.engine.connect() as one, store.engine.connect() as two:  # two pooled connections
            for conn in (one, two):
                assert conn.execute(text("PRAGMA cache_size")).scalar() == -SQLITE_CACHE_KIB
                assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        store.close()
