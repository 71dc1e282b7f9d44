"""The per-account change marks a within-day cycle scores from (see ``connector.incremental``), on SQLite and
PostgreSQL: every write to a scoring input marks its accounts in its own transaction, a wholesale drop marks
every account, a cycle forgets only the marks it read, and the day facts commit with the engine states."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert

from connector.records import Account, IdentityKeys, Observation, Signal
from connector.scoring.day_facts import DAY_FACTS_META
from connector.store import Store
from connector.store.schema import AccountChangeRow
from connector.store.store import TaskLedgerEntry

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _account(account_id: str) -> Account:
    return Account(account_id, "salesforce", account_id, f"{account_id}.com", None, None, None, None, None, None, NOW)


def _changed(store: Store) -> set[str] | None:
    return store.pending_changes().accounts


def _scored(store: Store) -> None:
    """What a complete cycle does with the marks it read."""
    store.forget_changes(store.pending_changes(accounts=False).runs)


def test_every_write_to_a_scoring_input_marks_its_accounts(any_store: Store) -> None:
    store = any_store
    assert _changed(store) == set() and store.pending_changes().runs == ()
    store.upsert_accounts([_account("A"), _account("B")])
    assert _changed(store) == {"A", "B"}
    store.upsert_observations([Observation("zendesk", "organization", "z1", IdentityKeys(domain="c.com"),
                                           {"tickets_open": 1.0}, NOW)])
    _scored(store)
    store.replace_signals([Signal("B", "nps", 9.0, NOW, "hubspot")])
    store.set_matches([("zendesk", "organization", "z1", "C", "exact")])
    store.upsert_tasks([TaskLedgerEntry("salesforce", "k1", "D", "renewal", 0, None, "open", None, NOW, NOW)])
    assert _changed(store) == {"B", "C", "D"}
    known = store.tasks("salesforce")["k1"]
    _scored(store)
    store.record_readback("salesforce", [known])  # read again, nothing new: no mark
    assert _changed(store) == set()
    store.record_readback("salesforce", [replace(known, remote_state="completed", remote_at=NOW)])
    assert _changed(store) == {"D"}
    store.delete_signals("hubspot", ["B"])
    assert _changed(store) == {"B", "D"}
    store.delete_signals("hubspot")  # every account's signals of a source: every account changed
    assert _changed(store) is None


def test_only_the_marks_a_cycle_read_are_forgotten(any_store: Store) -> None:
    """A mark numbered below the ones a cycle read but committed after it (PostgreSQL numbers at insert,
    not at commit) is kept for the next cycle; numbers only grow, also after every mark was forgotten."""
    store = any_store
    store.upsert_accounts([_account("A"), _account("B"), _account("C")])
    read = store.pending_changes()
    seqs = [seq for lo, hi in read.runs for seq in range(lo, hi + 1)]
    late = seqs[1]
    store.forget_changes([(late, late)])  # as if the mark numbered `late` had not committed yet …
    ahead = store.pending_changes()
    store.upsert_accounts([_account("D")])
    with store.engine.begin() as conn:  # … and commits now, after a cycle read the others
        conn.execute(insert(AccountChangeRow).values(seq=late, account_id="LATE"))
    store.forget_changes(ahead.runs)
    assert _changed(store) == {"D", "LATE"}
    _scored(store)
    assert _changed(store) == set()
    store.upsert_accounts([_account("E")])
    assert min(lo for lo, _ in store.pending_changes().runs) > max(seqs)


def test_day_facts_commit_with_the_states(any_store: Store) -> None:
    store = any_store
    store.save_states([("A", {"v": 1})], {DAY_FACTS_META: '{"day":"2026-11-02"}'})
    assert store.meta(DAY_FACTS_META) == '{"day":"2026-11-02"}'

    def broken() -> Iterator[tuple[str, dict[str, Any]]]:
        yield ("A", {"v": 2})
        raise RuntimeError("scoring broke half-way")

    with pytest.raises(RuntimeError):
        store.save_states(broken(), {DAY_FACTS_META: '{"day":"2026-11-03"}'})
    assert store.load_states() == {"A": {"v": 1}} and store.meta(DAY_FACTS_META) == '{"day":"2026-11-02"}'
