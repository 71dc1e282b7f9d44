"""The queries a cycle runs per changed account are index lookups on SQLite, whatever the table's size.

SQLite keeps no statistics unless ANALYZE runs, so it picks an index by the shape of the query alone; a
plan that scans every row of a source once per chunk of ids is invisible at 1k accounts and took 43 s of a
1 % cycle at 1M.  These tests read SQLite's plan for the statement the store really sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from connector.records import IdentityKeys, Observation
from connector.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'state.db'}")
    when = datetime(2026, 11, 2, tzinfo=UTC)
    s.upsert_observations([Observation(src, "org", f"{src}-{i}", IdentityKeys(crm_id=f"a{i:04d}"), {"x": i}, when)
                           for src in ("zendesk", "stripe") for i in range(300)])
    s.set_matches([(src, "org", f"{src}-{i}", f"a{i:04d}", "matched") for src in ("zendesk", "stripe")
                   for i in range(300)])
    yield s
    s.close()


def _plans(store: Store, run: Any) -> list[str]:
    """SQLite's query plan of every SELECT ``run`` sends, with its parameters."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    plans = []
    raw = store.engine.raw_connection()
    try:
        for statement, parameters in sent:
            rows = raw.cursor().execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
            plans.append("\n".join(str(r[-1]) for r in rows))
    finally:
        raw.close()
    return plans


def test_matched_readings_of_some_accounts_are_index_lookups(store: Store) -> None:
    ids = [f"a{i:04d}" for i in range(0, 300, 7)]
    got: list[Any] = []
    plans = _plans(store, lambda: got.extend(store.matched_readings("zendesk", ids)))
    assert [a for a, _ in got] == ids  # in account order, each with its readings
    assert plans and all("ix_observations_source_account (source=? AND account_id=?)" in p for p in plans), plans
    assert not any("TEMP B-TREE" in p for p in plans), plans  # rows come in the order read: no sort


def test_matched_readings_of_every_account_need_no_sort(store: Store) -> None:
    got: list[Any] = []
    plans = _plans(store, lambda: got.extend(store.matched_readings("stripe")))
    assert len(got) == 300
    assert plans and not any("TEMP B-TREE" in p for p in plans), plans
