"""The per-account change marks a within-day cycle scores from (see ``connector.incremental``), on SQLite and
PostgreSQL: every write to a scoring input marks its accounts in its own transaction, a wholesale drop marks
every account, marks only grow (also after pruning), and the day facts commit with the engine states."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from connector.records import Account, IdentityKeys, Observation, Signal
from connector.scoring.day_facts import DAY_FACTS_META
from connector.store import Store
from connector.store.store import TaskLedgerEntry

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _account(account_id: str) -> Account:
    return Account(account_id, "salesforce", account_id, f"{account_id}.com", None, None, None, None, None, None, NOW)


def test_every_write_to_a_scoring_input_marks_its_accounts(any_store: Store) -> None:
    store = any_store
    assert store.change_mark() == 0 and store.changed_since(0) == set()
    store.upsert_accounts([_account("A"), _account("B")])
    assert store.changed_since(0) == {"A", "B"}
    store.upsert_observations([Observation("zendesk", "organization", "z1", IdentityKeys(domain="c.com"),
                                           {"tickets_open": 1.0}, NOW)])
    mark = store.change_mark()
    store.replace_signals([Signal("B", "nps", 9.0, NOW, "hubspot")])
    store.set_matches([("zendesk", "organization", "z1", "C", "exact")])
    store.upsert_tasks([TaskLedgerEntry("salesforce", "k1", "D", "renewal", 0, None, "open", None, NOW, NOW)])
    assert store.changed_since(mark) == {"B", "C", "D"}
    known = store.tasks("salesforce")["k1"]
    mark = store.change_mark()
    store.record_readback("salesforce", [known])  # read again, nothing new: no mark
    assert store.changed_since(mark) == set()
    store.record_readback("salesforce", [replace(known, remote_state="completed", remote_at=NOW)])
    assert store.changed_since(mark) == {"D"}
    store.delete_signals("hubspot", ["B"])
    assert store.changed_since(mark) == {"B", "D"}
    store.delete_signals("hubspot")  # every account's signals of a source: every account changed
    assert store.changed_since(mark) is None


def test_marks_only_grow_after_pruning(any_store: Store) -> None:
    store = any_store
    store.upsert_accounts([_account("A")])
    mark = store.change_mark()
    store.forget_changes(mark)
    assert store.changed_since(0) == set()
    store.upsert_accounts([_account("B")])
    assert store.change_mark() > mark and store.changed_since(mark) == {"B"}


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
