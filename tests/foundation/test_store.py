"""The state store on SQLite and on the real PostgreSQL: every table's contract, upserts that converge."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from connector.records import Account, IdentityKeys, Observation, Quarantined, Signal
from connector.store import Replica, Store, TaskLedgerEntry

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_migrations_are_idempotent(any_store: Store) -> None:
    from connector.store.database import migrate

    migrate(any_store.engine)
    migrate(any_store.engine)


def test_the_migrations_build_the_schema_the_code_declares(any_store: Store) -> None:
    """Every table, column and index of ``connector/store/schema.py`` is what the migrations made (an index
    declared but never migrated would exist only in stores created after it, and the reverse)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from connector.store.schema import Base

    with any_store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_cursor_moves_with_replica_in_one_transaction(any_store: Store) -> None:
    rows = [Replica(str(i), f"org{i % 3}", {"id": i}, NOW) for i in range(10)]
    assert any_store.upsert_replica("zendesk", "tickets", rows, cursor="c-1") == 10
    assert any_store.get_cursor("zendesk", "tickets") == "c-1"
    assert any_store.dirty_groups("zendesk", "tickets") == {"org0", "org1", "org2"}
    any_store.clear_dirty("zendesk", "tickets", ["org0"])
    assert any_store.dirty_groups("zendesk", "tickets") == {"org1", "org2"}
    any_store.upsert_replica("zendesk", "tickets", [Replica("1", "org1", {"id": 1, "v": 2}, NOW)], cursor="c-2")
    payloads = {r.record_id: r.payload for r in any_store.replica("zendesk", "tickets", ["org1"])}
    assert payloads["1"] == {"id": 1, "v": 2} and len(payloads) == 3


def test_duplicate_ids_in_one_batch_converge(any_store: Store) -> None:
    rows = [Replica("1", "a", {"v": 1}, NOW), Replica("1", "a", {"v": 2}, NOW)]
    assert any_store.upsert_replica("s", "t", rows) == 1
    assert [r.payload for r in any_store.replica("s", "t")] == [{"v": 2}]


def test_accounts_signals_observations(any_store: Store) -> None:
    any_store.upsert_accounts(
        [
            Account(
                "001A",
                "salesforce",
                "Zürich <b>AG</b>",
                "zurich.ch",
                "ERP-1",
                "005X",
                "Enterprise",
                date(2025, 1, 1),
                date(2027, 1, 1),
                120000.0,
                NOW,
            )
        ]
    )
    any_store.upsert_accounts([Account("001A", "salesforce", "Zürich AG", "zurich.ch")])
    accounts = any_store.accounts()
    assert len(accounts) == 1 and accounts[0].name == "Zürich AG"
    obs = Observation("zendesk", "organization", "42", IdentityKeys(external_id="ERP-1"), {"tickets_open": 3.0}, NOW)
    any_store.upsert_observations([obs, obs])
    any_store.set_matches([("zendesk", "organization", "42", "001A", "matched")])
    assert any_store.matched_entities("zendesk", "organization") == {"001A": ["42"]}
    any_store.replace_signals(
        [
            Signal("001A", "tickets_open", 3.0, NOW, "zendesk"),
            Signal("001A", "subscription_status", "past_due", NOW, "stripe"),
        ]
    )
    values = {s.name: s.value for s in any_store.signals(["001A"])}
    assert values == {"tickets_open": 3.0, "subscription_status": "past_due"}
    any_store.delete_signals("zendesk")
    assert {s.name for s in any_store.signals()} == {"subscription_status"}


def test_score_history_and_state(any_store: Store) -> None:
    any_store.append_scores(
        [
            {
                "account_id": "A",
                "scored_at": NOW - timedelta(days=d),
                "magnitude": 50.0 + d,
                "outputs": {"success_vector": 50.0 + d},
            }
            for d in range(5)
        ]
    )
    history = any_store.score_history(NOW - timedelta(days=2))
    assert [m for _, m in history["A"]] == [52.0, 51.0, 50.0]
    assert any_store.latest_scores()[0].magnitude in {50.0, 54.0}
    any_store.save_states([("A", {"milestones": {"kickoff": "2026-01-01"}})])
    any_store.save_states([("A", {"milestones": {"kickoff": "2026-01-02"}})])
    assert any_store.load_states()["A"]["milestones"]["kickoff"] == "2026-01-02"


def test_written_values_are_canonical(any_store: Store) -> None:
    any_store.record_written(
        "salesforce",
        "Account",
        [("001A", "CS_Score__c", 71.0), ("001A", "CS_Due__c", date(2026, 12, 1)), ("001A", "CS_Text__c", None)],
    )
    written = any_store.written_values("salesforce", "Account")
    assert written[("001A", "CS_Score__c")] == "71"
    assert written[("001A", "CS_Due__c")] == "2026-12-01"
    assert written[("001A", "CS_Text__c")] is None


def test_task_ledger_upsert(any_store: Store) -> None:
    entry = TaskLedgerEntry("salesforce", "001A:renewal:0", "001A", "renewal", 0, None, "open", "f1", NOW, NOW)
    any_store.upsert_tasks([entry])
    any_store.upsert_tasks([TaskLedgerEntry(**{**entry.__dict__, "remote_id": "00T1", "fingerprint": "f2"})])
    tasks = any_store.tasks("salesforce")
    assert tasks["001A:renewal:0"].remote_id == "00T1" and tasks["001A:renewal:0"].fingerprint == "f2"


def test_runs_quarantine_and_sync_log(any_store: Store) -> None:
    run = any_store.start_run("sync")
    any_store.quarantine(run, [Quarantined("stripe", "customer", None, "missing id", {"raw": b"x".decode()})])
    any_store.log_records(run, [("salesforce", "Account", "001A", "update", "failed", "INVALID_FIELD: CS_X__c")])
    any_store.finish_run(run, "partial", {"scored": 3, "when": NOW})
    last = any_store.runs(1)[0]
    assert (last.status, last.stats["scored"]) == ("partial", 3)
    assert any_store.quarantined(run)[0].reason == "missing id"
    assert any_store.sync_log(run, status="failed")[0].message.startswith("INVALID_FIELD")
    assert any_store.prune(keep_days=1) == 0
    assert any_store.prune(keep_days=1, history_days=120, now=NOW + timedelta(days=400)) == 2  # sync log, quarantine


def test_replica_by_group_is_in_python_string_order(any_store: Store) -> None:
    """Callers merge two group-ordered streams in Python: the database must sort as Python compares."""
    groups = ["b", "B", "a-b", "ab", "a_b", "Ä", "10", "9", "domain:x.com", "org:1"]
    any_store.upsert_replica("s", "t", [Replica(str(i), g, {}, NOW) for i, g in enumerate(groups)])
    seen = [r.group_key for r in any_store.replica("s", "t", by_group=True)]
    assert seen == sorted(groups)
    subset = [r.group_key for r in any_store.replica("s", "t", ["ab", "B", "9"], by_group=True)]
    assert subset == sorted(["ab", "B", "9"])
