"""Connecting to the state store and bringing its schema up to date with Alembic.

SQLite is the zero-setup default (a file next to the config); PostgreSQL is for teams and for running
several daemons (they coordinate through it).  Both get the same migrations.  SQLite runs in WAL mode with
a busy timeout so a report can read while a sync writes.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; relative SQLite paths have their directory created."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    elif parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs["pool_pre_ping"] = True
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


#: SQLite page cache per connection, KiB (``PRAGMA cache_size`` takes a negative size as KiB): SQLite's
#: own default, said so that :func:`larger_page_cache` can return to it.
SQLITE_CACHE_KIB = 2000
#: The largest page cache of a connection appending a whole pass's points or states (:func:`larger_page_cache`).
SQLITE_WRITE_CACHE_KIB = 16 * 1024
#: The pass, in accounts, from which an appending connection gets the whole of that cache (less in
#: proportion below: SQLite's default up to 125,000 accounts).
FULL_CACHE_ACCOUNTS = 1_000_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cur.close()


@contextmanager
def larger_page_cache(conn: Connection, accounts: int) -> Iterator[None]:
    """A SQLite connection's page cache sized for a pass over ``accounts`` accounts while the block runs
    (in proportion, up to :data:`SQLITE_WRITE_CACHE_KIB` from :data:`FULL_CACHE_ACCOUNTS`), then
    back to the default, which frees what it held past that; other databases are left alone.

    Why: a million-account daily pass appends a million points and states in one transaction each; with
    SQLite's 2 MB cache their pages spill and are read again from the OS.  16 MiB took the 1M pass's
    persist from 80.8 to 62.7 s (docs/benchmarks.md, session 13).  On every connection it also cost the
    100k first sync 46 MB (pooled connections each keeping a full cache) past its 500 MB budget, and at
    100k the appends gained nothing measurable, so the cache grows with the pass: the default up to
    125,000 accounts, 16 MiB from a million."""
    kib = min(SQLITE_WRITE_CACHE_KIB, accounts * SQLITE_WRITE_CACHE_KIB // FULL_CACHE_ACCOUNTS)
    if conn.dialect.name != "sqlite" or kib <= SQLITE_CACHE_KIB:
        yield
        return
    conn.exec_driver_sql(f"PRAGMA cache_size=-{kib}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")


#: Alembic's ``context`` is a module-level proxy: two threads migrating at once corrupt each other's
#: environment (seen as ``KeyError: 'script'``).  One migration at a time per process...
_MIGRATION_LOCK = threading.Lock()
#: ...and at most once per engine.
_MIGRATED: weakref.WeakSet[Engine] = weakref.WeakSet()
#: ...and, on PostgreSQL, one at a time across processes (several daemons starting together).
_PG_MIGRATION_LOCK_KEY = 0x43534D47  # "CSMG"


def migrate(engine: Engine, revision: str = "head") -> None:
    """Apply Alembic migrations up to ``revision`` on ``engine`` (idempotent, thread- and process-safe)."""
    with _MIGRATION_LOCK:
        if engine in _MIGRATED and revision == "head":
            return
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        if revision == "head":
            _MIGRATED.add(engine)
