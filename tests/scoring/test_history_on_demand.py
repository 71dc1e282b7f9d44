"""The sync reads score history only for the accounts whose velocity needs it, and scores what reading
every account's history would.

An account's velocity comes from the trend its engine state carries once that trend spans
``min_history_span_days``; before that (a new account, the first weeks after an upgrade, a state lost)
it falls back to the slope of its daily score history.  So on a mature store the history window — the
load's largest query, a point per account per day — is read for nothing.  These tests build stores by
running the real daily cycle, then compare the sync's inputs (history on demand) with the same inputs
holding every account's history, scored: outputs and states must be identical, and the store must have
been asked only for the accounts that needed it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete

from connector.config import config_from_dict
from connector.sandbox.store_world import change, fill
from connector.scoring.days import day_number
from connector.scoring.engine import score
from connector.scoring.inputs import RowFinder, ScoringInputs, _history_from_columns
from connector.store import Store
from connector.store.schema import EngineStateRow
from connector.sync import SyncRunner, history_since

N = 150
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _runner(store: Store, now: datetime) -> SyncRunner:
    config = config_from_dict({"salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False}})
    return SyncRunner(config, store, sources=[], sinks=[], now=lambda: now)


def _daily_cycles(store: Store, days: int) -> datetime:
    """``days`` daily cycles with a third of the accounts' readings changed each night; the next day's 09:00."""
    fill(store, N, START - timedelta(minutes=10), seed=3)
    for day in range(days):
        now = START + timedelta(days=day)
        if day:
            change(store, N, 0.35, now - timedelta(minutes=30), seed=3, version=100 + day)
        _runner(store, now).run()
    now = START + timedelta(days=days)
    change(store, N, 0.35, now - timedelta(minutes=30), seed=3, version=200)
    return now


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str] | None]]:
    """The account ids of every score-history read (None: every account), as the store was asked."""
    asked: list[list[str] | None] = []
    inner = Store.history_columns

    def spy(self: Store, since: datetime, account_ids: Any = None, digests_since: Any = None) -> Any:
        asked.append(None if account_ids is None else sorted(account_ids))
        return inner(self, since, account_ids, digests_since)

    monkeypatch.setattr(Store, "history_columns", spy)
    yield asked


def _with_all_history(inputs: ScoringInputs, store: Store, now: datetime, runner: SyncRunner) -> ScoringInputs:
    """The same inputs holding every account's history window, read as the eager path read it."""
    ids = inputs.account_ids
    age, value = _history_from_columns(RowFinder(ids), inputs.n, store.history_columns(
        history_since(now, runner.model), ids.tolist()), day_number(now))
    assert np.isfinite(age).any(), "the store must hold history for the comparison to mean anything"
    return replace(inputs, history_age=age, history_value=value, history_rows=None)


def _scored_both_ways(store: Store, now: datetime, reads: list[list[str] | None]) -> tuple[Any, Any]:
    runner = _runner(store, now)
    eager = _with_all_history(runner.scoring_inputs(now), store, now, runner)
    reads.clear()
    lazy = runner.scoring_inputs(now)
    assert lazy.history_age.shape == (N, 0) and lazy.history_rows is not None
    assert reads == [], "building the inputs reads no history"
    return score(lazy, runner.model, now), score(eager, runner.model, now)


def _same(got: Any, want: Any) -> None:
    assert [o.fields for o in got.outputs()] == [o.fields for o in want.outputs()]
    assert list(got.states()) == list(want.states())
    assert [t.key for t in got.tasks()] == [t.key for t in want.tasks()]
    np.testing.assert_array_equal(got.vector.velocity, want.vector.velocity)


def test_a_mature_store_reads_history_only_for_accounts_without_a_trend(
        tmp_path: Path, reads: list[list[str] | None]) -> None:
    store = Store(f"sqlite:///{tmp_path / 'mature.db'}")
    now = _daily_cycles(store, 10)
    ids = sorted(a.account_id for a in store.accounts())
    forgotten = ids[::9]  # their engine state is lost: their velocity falls back to their score history
    with store.engine.begin() as conn:
        conn.execute(delete(EngineStateRow).where(EngineStateRow.account_id.in_(forgotten)))

    got, want = _scored_both_ways(store, now, reads)
    _same(got, want)
    assert reads == [forgotten], "one read, by id, of exactly the accounts without a trend"
    rows = [ids.index(a) for a in forgotten]
    assert np.isfinite(got.vector.velocity[rows]).all(), "their history gives them a velocity"
    store.close()


@pytest.mark.parametrize(("days", "asked"), [(10, []), (3, [None])], ids=["mature", "young"])
def test_history_is_read_for_the_accounts_that_need_it(
        tmp_path: Path, reads: list[list[str] | None], days: int, asked: list[None]) -> None:
    """Ten days in, every trend spans its minimum: nothing is read.  Three days in, none does: every
    account wants its history, read in one scan of the window."""
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    now = _daily_cycles(store, days)
    got, want = _scored_both_ways(store, now, reads)
    _same(got, want)
    assert reads == asked
    store.close()
