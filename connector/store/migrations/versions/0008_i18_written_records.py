"""written values: one row per remote record (a JSON object of its fields) instead of one per field

Revision ID: 0008_i18_written_records
Revises: 0007_i18_signal_packs
Create Date: 2026-12-01

A full pass diffs every record against its last confirmed values and records the changed ones.  With a row
per field that was twelve rows per record to read and up to twelve to upsert: at a million records most of
the diff's time.  The values move in Python, a batch of records at a time, so the upgrade needs no JSON
functions in the database (SQLite builds without JSON1 exist).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import groupby, islice
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008_i18_written_records"
down_revision = "0007_i18_signal_packs"
branch_labels = None
depends_on = None

_BATCH = 5000


def _records(conn: Any) -> Iterator[dict[str, Any]]:
    query = sa.text("SELECT system, object, record_id, field, value, written_at, run_id FROM written_values "
                    "ORDER BY system, object, record_id, field").columns(written_at=sa.DateTime(timezone=True))
    rows = conn.execute(query.execution_options(stream_results=True))  # server-side on PostgreSQL
    for (system, obj, record_id), group in groupby(rows, key=lambda r: (r[0], r[1], r[2])):
        fields = list(group)
        yield {"system": system, "object": obj, "record_id": record_id,
               "fields": json.dumps({f[3]: f[4] for f in fields}, ensure_ascii=False, separators=(",", ":")),
               "written_at": max(f[5] for f in fields), "run_id": max((f[6] for f in fields if f[6] is not None),
                                                                      default=None)}


def upgrade() -> None:
    records = _table("written_records", sa.Column("fields", sa.Text(), nullable=False))
    conn = op.get_bind()
    _insert(conn, records, _records(conn))
    op.drop_table("written_values")


def downgrade() -> None:
    values = _table("written_values", sa.Column("field", sa.String(128), primary_key=True),
                    sa.Column("value", sa.Text(), nullable=True))
    conn = op.get_bind()
    query = sa.text("SELECT system, object, record_id, fields, written_at, run_id FROM written_records"
                    ).columns(written_at=sa.DateTime(timezone=True))
    rows = conn.execute(query.execution_options(stream_results=True))
    _insert(conn, values, ({"system": system, "object": obj, "record_id": record_id, "field": field, "value": value,
                            "written_at": written_at, "run_id": run_id}
                           for system, obj, record_id, fields, written_at, run_id in rows
                           for field, value in json.loads(fields).items()))
    op.drop_table("written_records")


def _table(name: str, *columns: sa.Column[Any]) -> sa.Table:
    """A written-values table: keyed by system, object and record (and what ``columns`` add), stamped."""
    return op.create_table(
        name,
        sa.Column("system", sa.String(32), primary_key=True),
        sa.Column("object", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.String(255), primary_key=True),
        *columns,
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
    )


def _insert(conn: Any, table: sa.Table, rows: Iterable[dict[str, Any]]) -> None:
    """``rows`` into ``table``, ``_BATCH`` at a time (a large store's values are never all in memory)."""
    it = iter(rows)
    while batch := list(islice(it, _BATCH)):
        conn.execute(table.insert(), batch)
