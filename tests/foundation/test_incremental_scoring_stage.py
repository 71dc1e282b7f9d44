"""A cycle costs what changed: incremental identity resolution and columnar scoring inputs (issue 18).

Both are pinned against what the connector always computed:

* the columnar inputs (``ScoringInputs.from_columns`` over ``Store.*_columns``) equal the record path
  (``from_records`` over ``accounts()``, ``signals()``, ``score_history_stream()``) field by field, and
  the scores made from them are the same — on random stores, on SQLite and PostgreSQL;
* after any random change set (new records, new readings, moved keys, unchanged re-reads, account keys
  changed), the incremental resolution leaves exactly the matches and signals a full resolution makes;
* an unchanged re-read leaves records clean, so the next resolution resolves nothing.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import fields as dataclass_fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from connector.config import config_from_dict
from connector.records import Account, IdentityKeys, Observation, Signal
from connector.scoring.conditions import Categorical
from connector.scoring.engine import score
from connector.scoring.inputs import ScoringInputs
from connector.scoring.touches import csm_task_signals
from connector.store import Store, TaskLedgerEntry
from connector.store import store as store_module
from connector.store.schema import ObservationRow, SignalRow
from connector.sync import HISTORY_WINDOW, SyncResult, SyncRunner, history_since

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
SOURCES = ("hubspot", "stripe", "zendesk")
NAMES = ("tickets_open", "mrr", "nps", "active_users", "licensed_seats", "subscription_status", "arr", "mixed")


def _runner(store: Store) -> SyncRunner:
    config = config_from_dict({"salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False}})
    return SyncRunner(config, store, sources=[], sinks=[])


def _accounts(rng: random.Random, n: int) -> list[Account]:
    segments = ["Enterprise", "SMB", "Mid-Market", None, "smb"]
    out = []
    for i in range(n):
        out.append(Account(
            f"001{rng.choice('AbZ')}{i:05d}", "salesforce", f"Account {i}",
            rng.choice([f"a{i % 7}.example.com", f"https://www.A{i}.example.com/x", None]),
            rng.choice([f"ext-{i % 5}", None]), rng.choice(["005A", "005B", None]), rng.choice(segments),
            rng.choice([date(2025, 1, 1) + timedelta(days=rng.randrange(600)), None]),
            rng.choice([date(2026, 11, 2) + timedelta(days=rng.randrange(-20, 400)), None]),
            rng.choice([None, round(rng.uniform(1000, 90000), 2)])))
    return out


def _value(rng: random.Random, name: str) -> float | str | None:
    if name == "subscription_status" or (name == "mixed" and rng.random() < 0.5):
        return rng.choice(["active", "past_due", "trialing", "canceled"])
    return rng.choice([None, float(rng.randrange(50)), round(rng.uniform(0, 100), 3)])


def _observation(rng: random.Random, source: str, entity_id: str, accounts: list[Account], when: datetime
                 ) -> Observation:
    a = rng.choice(accounts)
    keys = rng.choice([IdentityKeys(crm_id=a.account_id), IdentityKeys(domain=a.domain),
                       IdentityKeys(external_id=a.external_id), IdentityKeys(domain="nobody.example.org"),
                       IdentityKeys(email_domain="gmail.com", external_id=a.external_id)])
    signals = {name: _value(rng, name) for name in rng.sample(NAMES, rng.randrange(1, 5))}
    return Observation(source, "entity", entity_id, keys, signals, when)


def _snapshot(store: Store) -> tuple[list[Any], list[Any]]:
    with store.engine.connect() as conn:
        obs = conn.execute(select(ObservationRow.source, ObservationRow.entity_id, ObservationRow.account_id,
                                  ObservationRow.match).order_by(ObservationRow.source, ObservationRow.entity_id))
        sig = conn.execute(select(SignalRow.account_id, SignalRow.name, SignalRow.value_num, SignalRow.value_text,
                                  SignalRow.as_of, SignalRow.source).order_by(SignalRow.account_id, SignalRow.name))
        return [tuple(r) for r in obs], [tuple(r) for r in sig]


@pytest.mark.parametrize("seed", range(6))
def test_incremental_resolution_equals_a_full_one_on_random_change_sets(any_store: Store, seed: int) -> None:
    rng = random.Random(seed)
    accounts = _accounts(rng, 25)
    any_store.upsert_accounts(accounts)
    runner = _runner(any_store)
    records: dict[tuple[str, str], Observation] = {}
    when = NOW - timedelta(days=3)
    for step in range(6):
        when += timedelta(hours=rng.randrange(1, 9))
        batch: list[Observation] = []
        for _ in range(rng.randrange(1, 12)):
            kind = rng.random()
            if kind < 0.3 or not records:  # a new record
                o = _observation(rng, rng.choice(SOURCES), f"e{len(records)}-{step}", accounts, when)
            else:
                old = records[rng.choice(sorted(records))]
                if kind < 0.5:  # an unchanged re-read
                    o = old
                elif kind < 0.7:  # new readings
                    o = Observation(old.source, old.entity, old.entity_id, old.keys,
                                    {k: _value(rng, k) for k in old.signals}, when)
                elif kind < 0.8:  # same readings, later
                    o = Observation(old.source, old.entity, old.entity_id, old.keys, old.signals, when)
                else:  # moved: other keys
                    o = _observation(rng, old.source, old.entity_id, accounts, when)
            batch.append(o)
            records[(o.source, o.entity_id)] = o
        any_store.upsert_observations(batch)
        if rng.random() < 0.25:  # the CRM changed an account's domain: every record is resolved again
            i = rng.randrange(len(accounts))
            a = accounts[i]
            accounts[i] = Account(a.account_id, a.system, a.name, f"moved{step}.example.com", a.external_id,
                                  a.owner_id, a.segment, a.contract_start, a.renewal_date, a.arr)
            any_store.upsert_accounts([accounts[i]])
        runner.resolve(SyncResult(run_id=0))
        incremental = _snapshot(any_store)
        assert not list(any_store.observation_keys(SOURCES[0], dirty_only=True))
        any_store.set_meta("identity.fingerprint", "forget")  # the next resolution is a full one
        runner.resolve(SyncResult(run_id=0))
        assert _snapshot(any_store) == incremental, f"step {step}"


def test_an_unchanged_reread_is_not_resolved_again(store: Store) -> None:
    store.upsert_accounts([Account("001A", "salesforce", "A", "a.example.com")])
    seen = Observation("hubspot", "company", "1", IdentityKeys(domain="a.example.com"), {"nps": 9.0}, NOW)
    store.upsert_observations([seen])
    runner = _runner(store)
    result = SyncResult(run_id=0)
    runner.resolve(result)
    assert result.identity["rates"]["hubspot"]["matched"] == 1
    store.upsert_observations([seen])  # the same record read again
    assert not list(store.observation_keys("hubspot", dirty_only=True))
    store.upsert_observations([Observation("hubspot", "company", "1", IdentityKeys(domain="a.example.com"),
                                           {"nps": 3.0}, NOW)])
    assert [r[1] for r in store.observation_keys("hubspot", dirty_only=True)] == ["1"]
    runner.resolve(result)
    assert [(s.account_id, s.value) for s in store.signals()] == [("001A", 3.0)]
    assert result.identity["rates"]["hubspot"]["matched"] == 1


def _fill_scoring_store(store: Store, rng: random.Random) -> None:
    accounts = _accounts(rng, 40)
    store.upsert_accounts(accounts)
    ids = [a.account_id for a in accounts] + ["001-not-an-account"]
    signals = []
    for account_id in ids:
        for name in rng.sample(NAMES, rng.randrange(0, len(NAMES))):
            at = NOW - timedelta(days=rng.uniform(0, 40), microseconds=rng.randrange(10**6))
            signals.append(Signal(account_id, name, _value(rng, name), at, rng.choice(SOURCES)))
    store.replace_signals(signals)
    rows = []
    for account_id in ids:
        for _ in range(rng.randrange(0, 90)):
            at = NOW - timedelta(days=rng.choice([0, 0.01, 1, 2, 2.5, 3]) + rng.uniform(0, 100),
                                 microseconds=rng.randrange(10**6))
            rows.append({"run_id": 1, "account_id": account_id, "scored_at": at,
                         "magnitude": float(rng.randrange(0, 100)) if rng.random() < 0.5 else rng.uniform(0, 100)})
        if rng.random() < 0.3:  # several points on the same instant and today
            rows += [{"run_id": 2, "account_id": account_id, "scored_at": NOW - timedelta(hours=1),
                      "magnitude": float(m)} for m in (40, 41)]
            rows += [{"run_id": 2, "account_id": account_id, "scored_at": NOW - timedelta(days=1, hours=1),
                      "magnitude": float(m)} for m in (43, 42)]
    store.append_scores(rows)
    store.upsert_tasks(  # CSM time (``csm_tasks_90d``) is derived from the task ledger and joins the signals
        TaskLedgerEntry("salesforce", f"k{i}", rng.choice(ids), "renewal", 0, None, "open", None,
                        NOW - timedelta(days=rng.uniform(1, 60)), NOW) for i in range(30))


def _assert_same_inputs(got: ScoringInputs, want: ScoringInputs) -> None:
    for f in dataclass_fields(ScoringInputs):
        a, b = getattr(got, f.name), getattr(want, f.name)
        if f.name in ("numeric", "ages", "text"):
            assert sorted(a) == sorted(b), f.name
            for name in b:
                _assert_same_column(a[name], b[name], f"{f.name}.{name}")
        elif f.name == "previous":
            assert a.magnitude.tobytes() == b.magnitude.tobytes()
        elif f.name in ("index", "evidence", "now", "day_facts"):
            assert a == b, f.name
        elif f.name in ("history_age", "history_value", "history_rows"):
            continue  # the sync reads history on demand: compared through history_of below
        else:
            _assert_same_column(a, b, f.name)
    assert got.history_rows is not None, "the sync path reads score history on demand"
    rng = np.random.default_rng(got.n)
    for share in (1.0, 0.7, 0.2):  # one scan of the window above half the rows, by id below it
        rows = np.sort(rng.choice(got.n, size=int(got.n * share), replace=False))
        for a, b, label in zip(got.history_of(rows), want.history_of(rows), ("age", "value"), strict=True):
            _assert_same_history(a, b, f"history_{label} of {rows.shape[0]} rows")
    for rows in (np.array([got.n - 1]), np.array([], np.intp)):
        for a, b in zip(got.history_of(rows), want.history_of(rows), strict=True):
            _assert_same_history(a, b, f"history of {rows.tolist()}")


def _assert_same_history(a: np.ndarray, b: np.ndarray, label: str) -> None:
    """Equal points, where a narrower array is the wider one without its all-NaN columns (an eager read
    is as wide as the longest series among all accounts, one of some accounts as its own longest)."""
    assert a.shape[0] == b.shape[0], label
    width = max(a.shape[1], b.shape[1])
    pad = [np.pad(x, ((0, 0), (0, width - x.shape[1])), constant_values=np.nan) for x in (a, b)]
    np.testing.assert_array_equal(pad[0], pad[1], err_msg=label)


def _assert_same_column(a: Any, b: Any, label: str) -> None:
    if isinstance(b, Categorical):
        assert isinstance(a, Categorical), label
        assert a.categories == b.categories, label
        assert a.codes.tolist() == b.codes.tolist(), label
        return
    assert a.dtype == b.dtype and a.shape == b.shape, label
    if a.dtype == object:
        assert a.tolist() == b.tolist(), label
    else:
        np.testing.assert_array_equal(a, b, err_msg=label)  # NaN equals NaN, values bit for bit


@pytest.mark.parametrize("seed", range(4))
def test_columnar_inputs_equal_the_record_path_and_score_the_same(any_store: Store, seed: int,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    if seed >= 2:  # rows read in many small batches: a winner or a day's last point may span two
        monkeypatch.setattr(store_module, "_READ_BATCH", 7)
    _fill_scoring_store(any_store, rng)
    only = None if seed % 2 == 0 else sorted(a.account_id for a in any_store.accounts())[::3]
    wanted = set(only) if only is not None else None
    accounts = [a for a in any_store.accounts() if wanted is None or a.account_id in wanted]
    signals = itertools.chain(any_store.signals(only), csm_task_signals(any_store, "salesforce", NOW))
    runner = _runner(any_store)
    want = ScoringInputs.from_records(accounts, signals,
                                      any_store.score_history_stream(history_since(NOW, runner.model), only),
                                      any_store.states_stream(only), NOW)
    got = runner.scoring_inputs(NOW, only)
    assert "csm_tasks_90d" in got.numeric
    _assert_same_inputs(got, want)
    a, b = score(got, runner.model, NOW), score(want, runner.model, NOW)
    assert [o.fields for o in a.outputs()] == [o.fields for o in b.outputs()]
    assert list(a.states()) == list(b.states())


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("window", [7, 30, 60, 64, 90])
def test_the_velocity_window_reads_less_history_and_scores_the_same(store: Store, seed: int, window: int) -> None:
    """History older than the velocity window is never used: reading from the window's first midnight
    gives the outputs and states that reading 120 days gave (points up to ~103 days old, any time of day)."""
    _fill_scoring_store(store, random.Random(seed))
    runner = _runner(store)
    model = runner.model.model_copy(update={"vector": runner.model.vector.model_copy(
        update={"velocity_window_days": window})})
    since = history_since(NOW, model)
    assert since > NOW - HISTORY_WINDOW and since.time().isoformat() == "00:00:00"
    accounts = store.accounts()

    def scored(start: datetime) -> Any:
        signals = itertools.chain(store.signals(), csm_task_signals(store, "salesforce", NOW))
        inputs = ScoringInputs.from_records(accounts, signals, store.score_history_stream(start),
                                            store.states_stream(), NOW)
        return inputs, score(inputs, model, NOW)

    (full_inputs, full), (window_inputs, trimmed) = scored(NOW - HISTORY_WINDOW), scored(since)
    assert np.isfinite(full_inputs.history_age).sum() > np.isfinite(window_inputs.history_age).sum()
    assert [o.fields for o in trimmed.outputs()] == [o.fields for o in full.outputs()]
    assert list(trimmed.states()) == list(full.states())


def test_a_velocity_window_of_120_days_or_more_reads_what_it_always_read(store: Store) -> None:
    model = _runner(store).model
    long = model.model_copy(update={"vector": model.vector.model_copy(update={"velocity_window_days": 150})})
    assert history_since(NOW, long) == NOW - HISTORY_WINDOW


def test_the_history_load_reads_one_point_per_account_and_day(any_store: Store) -> None:
    """A 15-minute daemon appends 96 points a day per account; the load must not grow with the cycles."""
    start = datetime(2026, 10, 30, 0, 0, tzinfo=UTC)
    any_store.append_scores({"run_id": k, "account_id": a, "scored_at": start + timedelta(minutes=15 * k),
                             "magnitude": float(k % 7)} for k in range(96 * 3) for a in ("001A", "001B"))
    points = [(str(a), float(d), float(m)) for batch in any_store.history_columns(start)
              for a, d, m in zip(batch.account_id, batch.scored_at, batch.magnitude, strict=True)]
    assert len(points) == 6  # 2 accounts × 3 days
    last = start + timedelta(days=1, minutes=15 * 95)  # each day's last cycle
    assert ("001A", (last.timestamp()) / 86400.0, float((96 + 95) % 7)) in points
