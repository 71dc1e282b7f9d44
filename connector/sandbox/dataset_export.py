"""Usage exports: the warehouse table a connector reads usage from, as CSV or as a SQL table.

The usage source of the connector reads a CSV file or a SQL table; these helpers write the world's usage
rows in exactly that shape so the demo and the tests use the real reading code path.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine
from sqlalchemy.engine import Engine

from connector.sandbox.world import UsageRow, World

USAGE_COLUMNS: tuple[str, ...] = (
    "account_key", "as_of", "active_users", "licensed_seats", "features_adopted", "key_features_total",
    "meaningful_events_30d",
)
SQL_CHUNK = 20_000


def _cells(row: UsageRow) -> tuple[str | datetime | int | None, ...]:
    return (row.account_key, row.as_of, row.active_users, row.licensed_seats, row.features_adopted,
            row.key_features_total, row.meaningful_events_30d)


def write_usage_csv(world: World, path: str | os.PathLike[str]) -> int:
    """Write ``world.usage`` as CSV (header = :data:`USAGE_COLUMNS`, ISO-8601 ``as_of``, "" for None).

    Returns the number of data rows written.
    """
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(USAGE_COLUMNS)
        for row in world.usage:
            w.writerow(["" if v is None else v.isoformat() if isinstance(v, datetime) else v
                        for v in _cells(row)])
    return len(world.usage)


def usage_table(metadata: MetaData, table: str = "usage_summary") -> Table:
    """The usage table's schema (account_key is the primary key: one row per account)."""
    return Table(
        table, metadata,
        Column("account_key", String(64), primary_key=True),
        Column("as_of", DateTime(timezone=True), nullable=False),
        *(Column(c, Integer, nullable=True) for c in USAGE_COLUMNS[2:]),
    )


def _chunks(world: World) -> Iterator[list[dict[str, Any]]]:
    buf: list[dict[str, Any]] = []
    for row in world.usage:
        buf.append(dict(zip(USAGE_COLUMNS, _cells(row), strict=True)))
        if len(buf) >= SQL_CHUNK:
            yield buf
            buf = []
    if buf:
        yield buf


def write_usage_sql(world: World, sqlalchemy_url: str | Engine, table: str = "usage_summary") -> int:
    """(Re)create ``table`` and bulk-insert ``world.usage``; works on SQLite and PostgreSQL.

    The table is dropped first so re-running a demo after :func:`evolve` gives the current snapshot, not
    a primary-key clash.  Inserts go in executemany chunks (SQLAlchemy 2 batches them into multi-row
    INSERTs).  Accepts a URL or an existing Engine (which is then not disposed).  Returns rows written.
    """
    engine = create_engine(sqlalchemy_url) if isinstance(sqlalchemy_url, str) else sqlalchemy_url
    try:
        t = usage_table(MetaData(), table)
        with engine.begin() as conn:
            t.drop(conn, checkfirst=True)
            t.create(conn)
            for chunk in _chunks(world):
                conn.execute(t.insert(), chunk)
    finally:
        if isinstance(sqlalchemy_url, str):
            engine.dispose()
    return len(world.usage)
