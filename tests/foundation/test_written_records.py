"""Written values kept one row per remote record: read and merged as the per-field table was, and moved by
the 0008 migration both ways without losing a value (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text

from connector.store import Store
from connector.store.database import MIGRATIONS

BEFORE = "0007_i18_signal_packs"


def _alembic(store: Store, conn: Any) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def test_values_merge_per_record_and_read_back(any_store: Store) -> None:
    first = [("001A", "Score", 71.0), ("001A", "Due", date(2026, 12, 1)), ("001B", "Text", ""), ("001A", "Score", 72)]
    assert any_store.record_written("salesforce", "Account", first, 3) == 4
    any_store.record_written("salesforce", "Account", [("001A", "Text", None)], 4)
    any_store.record_written("hubspot", "companies", [("001A", "Score", 1)], 4)  # another system: its own row
    assert any_store.written_records("salesforce", "Account") == {
        "001A": {"Score": "72", "Due": "2026-12-01", "Text": None}, "001B": {"Text": ""}}
    assert any_store.written_values("salesforce", "Account", ["001B", "nope"]) == {("001B", "Text"): ""}
    assert any_store.written_records("hubspot", "companies") == {"001A": {"Score": "1"}}


def test_the_migration_moves_every_value_both_ways(any_store: Store) -> None:
    any_store.record_written("salesforce", "Account", [("001A", "Score", 71), ("001A", "Note", "ü \"q\""),
                                                      ("001B", "Empty", None)], 7)
    any_store.record_written("zendesk", "tagged", [("9", "band", "P1")], None)
    before = {s: any_store.written_records(*s) for s in (("salesforce", "Account"), ("zendesk", "tagged"))}
    with any_store.engine.begin() as conn:
        command.downgrade(_alembic(any_store, conn), BEFORE)
        rows = sorted(tuple(r) for r in conn.execute(text(
            "SELECT system, object, record_id, field, value, run_id FROM written_values")))
    assert rows == [("salesforce", "Account", "001A", "Note", "ü \"q\"", 7),
                    ("salesforce", "Account", "001A", "Score", "71", 7),
                    ("salesforce", "Account", "001B", "Empty", None, 7),
                    ("zendesk", "tagged", "9", "band", "P1", None)]
    with any_store.engine.begin() as conn:
        command.upgrade(_alembic(any_store, conn), "head")
    assert {s: any_store.written_records(*s) for s in before} == before


def test_values_merge_into_the_bases_a_diff_read_as_into_the_rows(any_store: Store) -> None:
    any_store.record_written("salesforce", "Account", [("001A", "Score", 71), ("001A", "Old", "kept"),
                                                      ("001B", "Score", 5)], 1)
    read = any_store.written_records("salesforce", "Account")
    new = [("001A", "Score", 72), ("001B", "Note", None), ("001C", "Score", 1)]
    any_store.record_written("salesforce", "Account", new, 2, bases={"001A": read["001A"], "001B": read["001B"],
                                                                      "001C": {}})
    assert any_store.written_records("salesforce", "Account") == {
        "001A": {"Score": "72", "Old": "kept"}, "001B": {"Score": "5", "Note": None}, "001C": {"Score": "1"}}
