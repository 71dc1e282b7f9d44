"""A cycle that scores only the accounts changed today lands exactly what scoring every account would.

Property test over random change sets (seeded): a store is scored at 09:00 (the day's first cycle, every
account), then several times later the same day a random mix of changes lands — new source readings for
some accounts, CRM edits (owner, ARR, segment, renewal date), CSMs completing or deleting the connector's
tasks — and the store is copied.  The original runs a normal cycle (only the changed accounts); the copy
runs ``sync --full`` (every account).  What each lands must be identical: every account's fields in the
CRM, the task ledger (tasks created, updated, closed, with their dates), the engine states, and the day's
facts (noise, tasks given per owner, backlog).  Owners hold 120 accounts each so the per-owner daily cap
binds and the backlog is never empty: the cap is the cross-account part most likely to go wrong.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from connector.config import config_from_dict
from connector.records import AccountOutput, TaskSpec
from connector.sandbox.store_world import change, fill
from connector.scoring import default_model_path
from connector.scoring.day_facts import DAY_FACTS_META
from connector.scoring.packed_state import HEAD_COLUMNS
from connector.sinks.base import VOLATILE_OUTPUTS, SinkContext, SinkReport
from connector.store import Store
from connector.store.store import TaskLedgerEntry
from connector.sync import SyncResult, SyncRunner

N = 360
PER_OWNER = 120
DAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class LedgerSink:
    """The primary CRM without HTTP: fields land in ``crm`` (as a CRM would hold them) and tasks in the
    store's task ledger, as the real task sink records confirmed writes."""

    name = "salesforce"

    def __init__(self, crm: dict[str, dict[str, Any]]):
        self.crm = crm
        self.tasks: list[TaskSpec] = []

    def write(self, ctx: SinkContext, outputs: Iterable[AccountOutput], tasks: Sequence[TaskSpec]) -> SinkReport:
        report = SinkReport(self.name)
        for o in outputs:  # as the real sinks diff: a volatile field (the update time) rides along a change
            fields = dict(o.fields)
            if _stable(self.crm.get(o.account_id)) != _stable(fields):
                self.crm[o.account_id] = fields
                report.records_updated += 1
        self.tasks = sorted(tasks, key=lambda t: t.key)
        known = ctx.store.tasks(self.name)
        ctx.store.upsert_tasks(
            TaskLedgerEntry(self.name, t.key, t.account_id, t.play, t.step, f"T-{t.key}", t.status, None,
                            known[t.key].created_at if t.key in known else ctx.now, ctx.now,
                            close_reason=t.close_reason) for t in self.tasks)
        return report


def _stable(fields: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if fields is None else {k: v for k, v in fields.items() if k not in VOLATILE_OUTPUTS}


def _model(directory: Path) -> Path:
    """The default model with a per-owner cap of 4 new tasks a day, so the cap binds every day."""
    text = default_model_path().read_text()
    assert "max_new_tasks_per_owner_per_day = 20" in text
    path = directory / "success_model.toml"
    path.write_text(text.replace("max_new_tasks_per_owner_per_day = 20", "max_new_tasks_per_owner_per_day = 4"))
    return path


def _runner(store: Store, crm: dict[str, dict[str, Any]], now: datetime) -> tuple[SyncRunner, LedgerSink]:
    model = _model(Path(str(store.engine.url.database)).parent)
    config = config_from_dict({"connector": {"success_model": str(model)},
                               "salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False}})
    sink = LedgerSink(crm)
    return SyncRunner(config, store, sources=[], sinks=[sink], now=lambda: now), sink


def _changes(store: Store, rng: random.Random, now: datetime, version: int) -> None:
    """A random mix of what happens between two cycles."""
    share = rng.choice([0.0, 0.01, 0.03, 0.08])
    if share:
        change(store, N, share, now - timedelta(minutes=5), seed=rng.randrange(1000), version=version)
    edits = []
    for a in rng.sample(store.accounts(), rng.randrange(0, 6)):
        what = rng.choice(["owner", "arr", "segment", "renewal"])
        edits.append(replace(
            a, owner_id=f"005{rng.randrange(N // PER_OWNER):05d}" if what == "owner" else a.owner_id,
            arr=round(a.arr * rng.uniform(0.5, 1.5), 2) if what == "arr" and a.arr else a.arr,
            segment=rng.choice(["Enterprise", "SMB"]) if what == "segment" else a.segment,
            renewal_date=a.renewal_date + timedelta(days=rng.randrange(-40, 40))
            if what == "renewal" and a.renewal_date else a.renewal_date))
    store.upsert_accounts(edits)
    open_tasks = sorted((e for e in store.tasks("salesforce").values() if e.status == "open"), key=lambda e: e.key)
    done = rng.sample(open_tasks, min(len(open_tasks), rng.randrange(0, 5)))
    store.record_readback("salesforce", [
        replace(e, remote_state=rng.choice(["completed", "completed", "dismissed"]),
                remote_at=now - timedelta(minutes=3), touched=False) for e in done])


def _landed(store: Store, crm: dict[str, dict[str, Any]]) -> dict[str, Any]:
    tasks = {k: (e.account_id, e.play, e.step, e.status, e.close_reason, e.created_at, e.updated_at)
             for k, e in store.tasks("salesforce").items()}
    # A state's ``trend_day`` says when the account was last scored: an unchanged account keeps the time of
    # the cycle that last had news for it.  The model reads only its UTC day (baseline, trend fold).
    assert store.load_states() == {}  # every state is packed
    day = HEAD_COLUMNS.index("trend_day")
    states = {}
    for batch in store.packed_state_rows():
        for account, layout, data, plan in batch:
            row = np.frombuffer(data, np.float64).copy()
            row[day] = np.floor(row[day])
            states[account] = (layout, row.tobytes(), plan)
    assert len(states) == N
    return {"crm": crm, "tasks": tasks, "states": states, "facts": store.meta(DAY_FACTS_META)}


def _history(store: Store, seed: int) -> dict[str, dict[str, Any]]:
    """Ten days of daily cycles, a third of the accounts with new readings each day: the scores move, so the
    noise band is measured from real day-over-day changes and directions come out of the hold period."""
    crm: dict[str, dict[str, Any]] = {}
    start = DAY - timedelta(days=10)
    fill(store, N, start - timedelta(minutes=10), seed=seed, per_owner=PER_OWNER)
    for day in range(10):
        if day:
            change(store, N, 0.35, start + timedelta(days=day, minutes=-30), seed=seed, version=100 + day)
        _runner(store, crm, start + timedelta(days=day))[0].run()
    change(store, N, 0.7, DAY - timedelta(minutes=30), seed=seed, version=200)  # a busy night: new reasons
    return crm


@pytest.mark.parametrize("seed", [1, 2, 4, 5])
def test_scoring_only_what_changed_lands_what_scoring_everything_would(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "a.db"
    store = Store(f"sqlite:///{path}")
    crm = _history(store, seed)
    runner, _ = _runner(store, crm, DAY)
    first = runner.run()
    assert first.incremental is None and first.scored == N
    deferred = first.tasks_deferred
    now, subsets = DAY, 0
    for version in range(1, 7):
        now += timedelta(minutes=rng.randrange(20, 120))
        _changes(store, rng, now, version)
        store.close()
        copy = tmp_path / f"b{version}.db"
        shutil.copy(path, copy)
        store = Store(f"sqlite:///{path}")
        full_store = Store(f"sqlite:///{copy}")
        full_crm = {k: dict(v) for k, v in crm.items()}

        runner, sink = _runner(store, crm, now)
        incremental: SyncResult = runner.run()
        full_runner, full_sink = _runner(full_store, full_crm, now)
        everything: SyncResult = full_runner.run(full=True)

        assert everything.incremental is None and everything.scored == store.account_count()
        if incremental.incremental is not None:
            subsets += 1
            assert incremental.scored == incremental.incremental["changed"] < N
        got, want = _landed(store, crm), _landed(full_store, full_crm)
        assert _differences(got["crm"], want["crm"]) == [], f"round {version}"
        assert got == want, f"round {version}"
        assert [t.key for t in sink.tasks] == [t.key for t in full_sink.tasks]
        assert (incremental.tasks_deferred, incremental.task_backlog) == (everything.tasks_deferred,
                                                                          everything.task_backlog)
        deferred += everything.tasks_deferred
        full_store.close()
    store.close()
    assert subsets >= 3, "most rounds must have scored only what changed"
    assert deferred > 0, "the cap must bind for this test to mean anything"


def _settle(store: Store, crm: dict[str, dict[str, Any]], at: datetime) -> SyncResult:
    """Cycles a few minutes apart until one finds nothing to do (the tasks a cycle wrote come back once)."""
    for minutes in range(0, 20, 5):
        result = _runner(store, crm, at + timedelta(minutes=minutes))[0].run()
        if result.settled is not None:
            return result
    raise AssertionError("four quiet cycles and none settled")


def test_a_failed_cycle_makes_the_next_one_score_everything_and_an_edit_scores_one(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    fill(store, N, DAY - timedelta(minutes=10), per_owner=PER_OWNER)
    crm: dict[str, dict[str, Any]] = {}
    _runner(store, crm, DAY)[0].run()
    _settle(store, crm, DAY + timedelta(minutes=5))
    later = DAY + timedelta(hours=1)
    change(store, N, 0.02, later - timedelta(minutes=5), version=1)
    runner, sink = _runner(store, crm, later)
    sink.write = _failing  # type: ignore[method-assign]
    failed = runner.run()
    assert failed.incremental is not None and failed.scored == failed.incremental["changed"] and failed.sink_errors
    after = _runner(store, crm, later + timedelta(minutes=10))[0].run()
    assert after.incremental is None and after.scored == N  # a failed write may sit on any account
    again = _settle(store, crm, later + timedelta(minutes=20))
    store.upsert_accounts([replace(store.accounts()[0], arr=123456.0)])  # a CRM edit of one account
    edited = _runner(store, crm, later + timedelta(minutes=40))[0].run()
    assert edited.incremental == {"changed": 1, "accounts": N, "since_run": again.settled["run_id"]}  # type: ignore[index]
    assert edited.scored == 1 and edited.sinks["salesforce"]["records_updated"] <= 1
    tomorrow = _runner(store, crm, DAY + timedelta(days=1))[0].run()
    assert tomorrow.incremental is None and tomorrow.scored == N  # the day's first cycle scores every account
    store.close()


def _failing(ctx: SinkContext, outputs: Iterable[AccountOutput], tasks: Sequence[TaskSpec]) -> SinkReport:
    raise RuntimeError("the CRM is down")


def _differences(got: dict[str, dict[str, Any]], want: dict[str, dict[str, Any]]) -> list[tuple[str, str, Any, Any]]:
    """The first few (account, field, got, want) that differ: a readable failure."""
    out = [(a, f, got.get(a, {}).get(f), want[a].get(f)) for a in sorted(want) for f in sorted(want[a])
           if got.get(a, {}).get(f) != want[a].get(f)]
    return out[:8]


def test_a_refresh_of_some_accounts_keeps_cycles_incremental_and_never_measures_the_day(tmp_path: Path) -> None:
    """What the daemon's webhook refresh does (``only_accounts``): it scores those accounts with the day's
    facts, leaves the next cycle incremental, and before the day's first cycle it makes no facts of its own
    (they are measured over every account)."""
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    fill(store, N, DAY - timedelta(minutes=10), per_owner=PER_OWNER)
    crm: dict[str, dict[str, Any]] = {}
    _runner(store, crm, DAY)[0].run()
    _settle(store, crm, DAY + timedelta(minutes=5))
    facts = store.meta(DAY_FACTS_META)
    changed = change(store, N, 0.005, DAY + timedelta(hours=1), version=1)
    refresh = _runner(store, crm, DAY + timedelta(hours=1))[0].run(only_accounts=changed)
    assert refresh.scored == len(changed) and refresh.incremental is None
    cycle = _runner(store, crm, DAY + timedelta(hours=1, minutes=5))[0].run()
    assert cycle.incremental is not None and cycle.incremental["changed"] == len(changed)
    assert cycle.sinks["salesforce"]["records_updated"] == 0  # the refresh already wrote what a cycle would
    tomorrow = DAY + timedelta(days=1)
    facts = store.meta(DAY_FACTS_META)
    _runner(store, crm, tomorrow)[0].run(only_accounts=changed[:1])
    assert store.meta(DAY_FACTS_META) == facts  # still the day before's: tomorrow's first cycle measures
    assert '"day":"2026-11-02"' in (facts or "")
    store.close()
