"""Which instance runs a job: PostgreSQL advisory locks across instances, a process-local lock otherwise.

Why advisory locks rather than a home-made lease table: PostgreSQL already solves "who holds this, and
what happens when the holder dies".  ``pg_try_advisory_lock`` taken on a *dedicated* connection is held
for as long as that session lives; when an instance is killed its connection closes and the server drops
its locks at once, so another instance takes the job over without timeouts to tune.  TCP keepalives on
the lock connection bound how long a silently vanished host (power loss, partition) can keep a lock.

Lock keys are 64-bit hashes of ``(schema, job name)``: two deployments sharing one database in different
schemas never block each other.  Several locks are always taken in sorted order, so two jobs needing
overlapping sets (a webhook refresh takes ``pull:stripe`` *and* ``score_and_write``) cannot deadlock.

With SQLite there is only ever one instance (one file, one host): :class:`LocalLocks` gives the same
mutual exclusion between the scheduler's jobs and webhook refreshes inside that process.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any, Protocol

import structlog
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

log = structlog.get_logger(__name__)

_POLL_SECONDS = 0.2
#: libpq keepalive settings for the lock connection: a dead peer is noticed within about a minute.
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


class Coordinator(Protocol):
    def hold(self, names: Sequence[str], wait_seconds: float, stop: threading.Event) -> AbstractContextManager[bool]:
        """Hold every lock in ``names`` for the ``with`` block; yields ``False`` if they could not all be
        taken within ``wait_seconds`` (or ``stop`` was set while waiting), holding none of them."""
        ...


class LocalLocks:
    """Mutual exclusion between the threads of one process (the SQLite, single-instance case)."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    @contextmanager
    def hold(self, names: Sequence[str], wait_seconds: float, stop: threading.Event) -> Iterator[bool]:
        deadline = time.monotonic() + wait_seconds
        taken: list[threading.Lock] = []
        try:
            for name in sorted(set(names)):
                lock = self._lock(name)
                while not lock.acquire(timeout=_POLL_SECONDS):
                    if stop.is_set() or time.monotonic() >= deadline:
                        yield False
                        return
                taken.append(lock)
            yield True
        finally:
            for lock in reversed(taken):
                lock.release()


def lock_key(namespace: str, name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock(bigint)``."""
    digest = hashlib.sha256(f"cs-connector:{namespace}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresLocks:
    """Session-level advisory locks on a fresh, dedicated connection per job execution.

    The connection is not pooled (``NullPool``): closing it really closes the session, so no lock can
    leak into a pooled connection that another job later borrows.
    """

    def __init__(self, url: URL):
        self._engine = create_engine(url, poolclass=NullPool, connect_args=_KEEPALIVES)

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def hold(self, names: Sequence[str], wait_seconds: float, stop: threading.Event) -> Iterator[bool]:
        deadline = time.monotonic() + wait_seconds
        conn = self._engine.connect()
        try:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            namespace = str(conn.execute(text("SELECT current_schema()")).scalar())
            keys = [lock_key(namespace, n) for n in sorted(set(names))]
            yield self._take_all(conn, keys, deadline, stop)
        finally:
            with suppress(Exception):  # the locks die with the session whichever way it ends
                conn.execute(text("SELECT pg_advisory_unlock_all()"))
            conn.close()

    @staticmethod
    def _take_all(conn: Connection, keys: list[int], deadline: float, stop: threading.Event) -> bool:
        for key in keys:
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                if stop.is_set() or time.monotonic() >= deadline:
                    conn.execute(text("SELECT pg_advisory_unlock_all()"))
                    return False
                time.sleep(_POLL_SECONDS)
        return True


def coordinator_for(store: Any) -> LocalLocks | PostgresLocks:
    """Advisory locks when the state store is PostgreSQL, a process-local lock for SQLite."""
    if store.dialect == "postgresql":
        log.info("daemon.coordination", mode="postgresql advisory locks")
        return PostgresLocks(store.engine.url)
    log.info("daemon.coordination", mode="process-local (SQLite: run a single instance)")
    return LocalLocks()
