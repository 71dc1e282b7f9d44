"""A state store in a throwaway PostgreSQL schema: created, migrated, and dropped with everything in it.

Why: the PostgreSQL tests and the store benchmarks each need a fresh, isolated store on a shared server
without touching its other schemas — one recipe, so both measure and check the same thing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text

from connector.store.database import make_engine
from connector.store.store import Store


@contextmanager
def scratch_postgres_store(url: str, prefix: str = "t") -> Iterator[Store]:
    """A :class:`Store` on ``url`` whose tables live in a new schema ``<prefix>_<random>``, dropped after."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _search_path(dbapi_conn: Any, _rec: Any) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute(f'SET search_path TO "{schema}"')
        dbapi_conn.commit()

    store = Store(url, engine=engine)
    try:
        yield store
    finally:
        store.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
