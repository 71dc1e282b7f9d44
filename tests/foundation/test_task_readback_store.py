"""The task ledger's read-back columns: what people did is evidence until the connector writes again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from connector.store import Store, TaskLedgerEntry

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _entry(key: str, **kw: object) -> TaskLedgerEntry:
    base = TaskLedgerEntry("salesforce", key, "001A", "renewal", 0, "00T1", "open", "fp", NOW, NOW)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_read_back_is_evidence_until_the_next_write_and_closes_keep_their_reason(any_store: Store) -> None:
    any_store.upsert_tasks([_entry("001A:plan:0"), _entry("001A:plan:1", status="closed", close_reason="cleared")])
    assert any_store.task_evidence("salesforce") == []
    any_store.record_readback("salesforce", [_entry("001A:plan:0", remote_state="completed", remote_at=NOW,
                                                    remote_owner="005JANE", remote_due=date(2026, 11, 9))])
    [evidence] = any_store.task_evidence("salesforce")
    assert (evidence.key, evidence.state, evidence.owner, evidence.due) == (
        "001A:plan:0", "completed", "005JANE", date(2026, 11, 9))
    ledger = any_store.tasks("salesforce")
    assert ledger["001A:plan:0"].fingerprint == "fp"  # the connector's own columns are kept
    assert ledger["001A:plan:1"].close_reason == "cleared"
    any_store.upsert_tasks([_entry("001A:plan:0", fingerprint="fp2")])  # our write supersedes the read-back
    assert any_store.task_evidence("salesforce") == []


def test_an_untouched_open_task_is_no_evidence_and_a_lost_key_is_adopted(any_store: Store) -> None:
    any_store.record_readback("salesforce", [_entry("001B:plan:0", account_id="001B", remote_state="open"),
                                             _entry("001C:plan:0", account_id="001C", remote_state="dismissed")])
    assert set(any_store.tasks("salesforce")) == {"001B:plan:0", "001C:plan:0"}
    assert [e.key for e in any_store.task_evidence("salesforce")] == ["001C:plan:0"]


def test_migrations_have_one_head() -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parents[2] / "connector" / "store"
                                               / "migrations"))
    assert len(ScriptDirectory.from_config(cfg).get_heads()) == 1
