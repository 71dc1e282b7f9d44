"""``execute_many`` stores exactly what SQLAlchemy's own ``execute(stmt, rows)`` stores (SQLite and
PostgreSQL): timestamps, JSON (``None`` as JSON null, nested values, 1 vs 1.0 vs True), NaN, empty texts,
binary values, and statements that carry their own bound values (an upsert's ``SET … = NULL``)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from connector.store import Store
from connector.store.schema import ScoreRow, SignalPackRow
from connector.store.store import execute_many

NOW = datetime(2026, 11, 3, 9, 30, 15, 123456, tzinfo=UTC)


def _rows(run: int) -> list[dict[str, Any]]:
    outputs: list[Any] = [{"a": 1, "b": 1.0, "c": True, "d": None, "e": "", "f": ["x", {"g": "ü"}]}, None,
                          {"n": 1}, {"n": 1.0}, {"n": True}, {}]
    return [{"run_id": run, "account_id": f"a{i}", "scored_at": NOW + timedelta(seconds=i % 2),
             "magnitude": [1.0, 1, 0.1 + 0.2, -0.0, 55.5, 2.0][i], "velocity": [None, math.nan, 1.5, 0.0, 1, 2][i],
             "direction": ["Positive", None, "", "Negative", "Flat", "Positive"][i],
             "confidence": 0.5, "quadrant": None, "outputs": outputs[i]} for i in range(6)]


def _stored(store: Store, run: int) -> list[tuple[Any, ...]]:
    t = ScoreRow
    q = select(t.account_id, t.scored_at, t.magnitude, t.velocity, t.direction, t.confidence, t.quadrant,
               t.outputs).where(t.run_id == run).order_by(t.account_id)
    with store.engine.connect() as conn:
        return [tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in r) for r in conn.execute(q)]


def test_rows_stored_as_sqlalchemy_stores_them(any_store: Store) -> None:
    with any_store.engine.begin() as conn:
        conn.execute(insert(ScoreRow), _rows(1))
        execute_many(conn, insert(ScoreRow), _rows(2))
    assert _stored(any_store, 2) == _stored(any_store, 1)
    assert len(_stored(any_store, 2)) == 6


def test_statements_with_their_own_bound_values(any_store: Store) -> None:
    t = SignalPackRow
    with any_store.engine.begin() as conn:
        execute_many(conn, insert(t), [{"account_id": "a", "rev": 3, "layout": "k", "packed": b"\x00\x01",
                                        "texts": '["x"]'}])
    any_store.delete_signals("nowhere", ["a", "b"])  # an upsert whose SET carries NULLs and rev + 1
    with any_store.engine.connect() as conn:
        rows = sorted(tuple(r) for r in conn.execute(select(t.account_id, t.rev, t.layout, t.packed, t.texts)))
    assert rows == [("a", 4, None, None, None), ("b", 1, None, None, None)]
