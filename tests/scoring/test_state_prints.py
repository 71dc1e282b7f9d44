"""A re-score that changes nothing writes no engine state and no score-history point, and skipping them
changes nothing: the same cycles on two copies of a store, one writing every state and point, give the
same outputs, the same states (each read back as the engine reads it) and the same last point of each
day — through same-day re-scores, changed readings and the next days' passes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connector.config import config_from_dict
from connector.incremental import cycle_scope
from connector.sandbox.store_world import change, fill
from connector.scoring import point_prints, state_prints
from connector.scoring.packed_state import HEAD_COLUMNS
from connector.settled import cycle_key
from connector.store import Store
from connector.store.schema import EngineStateRow, ScoreRow
from connector.sync import SyncResult, SyncRunner

N = 300
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
#: The run's timestamp column, of which readers take only the day (see connector/scoring/state_prints.py).
TREND_DAY = slice(HEAD_COLUMNS.index("trend_day") * 8, HEAD_COLUMNS.index("trend_day") * 8 + 8)


def _cycle(store: Store, now: datetime, *, full: bool) -> tuple[list[Any], int]:
    """A sync's score stage on ``store`` (all accounts with ``full``, else those changed today): the outputs
    and how many engine states it wrote."""
    config = config_from_dict({"salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False}})
    runner = SyncRunner(config, store, sources=[], sinks=[])
    written = 0
    save = store.save_packed_states

    def counting(blocks: Any, meta: Any = None, accounts: int = 0) -> int:
        nonlocal written
        written = save(blocks, meta, accounts)
        return written

    store.save_packed_states = counting  # type: ignore[method-assign]
    try:
        runner.resolve(SyncResult(run_id=store.start_run("resolve")))
        key = cycle_key(store, config, now)
        scope = cycle_scope(store, key, full=full)
        outputs, _ = runner.score(now, SyncResult(run_id=store.start_run("test")), persist=True, only=scope.only,
                                  facts=scope.facts, configuration=key.configuration)
    finally:
        del store.save_packed_states
    return [(o.account_id, {k: v for k, v in o.fields.items() if k != "vector_updated_at"}) for o in outputs], \
        written


def _states(store: Store) -> list[Any]:
    t = EngineStateRow
    with store.engine.connect() as conn:
        rows = conn.execute(select(t.account_id, t.layout, t.packed, t.plan).order_by(t.account_id)).all()
    return [(a, layout, bytes(p)[:TREND_DAY.start], bytes(p)[TREND_DAY.stop:], plan) for a, layout, p, plan in rows]


def _history(store: Store) -> dict[Any, Any]:
    """Each account's last point of each day (what the trend reads), without the run's stamp."""
    t = ScoreRow
    with store.engine.connect() as conn:
        rows = conn.execute(select(t.account_id, t.scored_at, t.magnitude, t.velocity, t.direction, t.confidence,
                                   t.quadrant, t.outputs).order_by(t.id)).all()
    return {(r[0], str(r[1])[:10]): (*r[2:7], {k: v for k, v in r[7].items() if k != "vector_updated_at"})
            for r in rows}


def _points(store: Store) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(select(ScoreRow.id)).all())


@pytest.fixture(params=["sqlite", "postgresql"])
def twins(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two stores holding the same filled world: SQLite copies, or two PostgreSQL schemas filled alike
    (on PostgreSQL a point's outputs text is cast to its JSON column: the write path differs)."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server_url")
        from connector.store.scratch import scratch_postgres_store

        with scratch_postgres_store(url) as a, scratch_postgres_store(url) as b:
            fill(a, N, T0)
            fill(b, N, T0)
            yield a, b
        return
    first = tmp_path / "a.db"
    store = Store(f"sqlite:///{first}")
    fill(store, N, T0)
    store.close()
    shutil.copy(first, tmp_path / "b.db")
    a, b = Store(f"sqlite:///{first}"), Store(f"sqlite:///{tmp_path / 'b.db'}")
    yield a, b
    a.close()
    b.close()


def test_unchanged_states_are_not_written_and_skipping_them_changes_nothing(
        twins: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch) -> None:
    skipping, writing = twins
    cycles = [(T0, True, 0.0), (T0 + timedelta(minutes=4), True, 0.0), (T0 + timedelta(minutes=8), False, 0.05),
              (T0 + timedelta(minutes=12), True, 0.0), (T0 + timedelta(days=1), True, 0.0),
              (T0 + timedelta(days=1, minutes=5), True, 0.02), (T0 + timedelta(days=2, hours=3), False, 0.0)]
    counts, appended = [], []
    for version, (now, full, share) in enumerate(cycles, start=1):
        if share:
            for store in twins:
                change(store, N, share, now, version=version)
        before = _points(skipping)
        ours, count = _cycle(skipping, now, full=full)
        appended.append(_points(skipping) - before)
        with monkeypatch.context() as m:  # the twin writes every state and point, as before prints
            m.setattr(state_prints.StatePrints, "changed", lambda self, blocks: blocks)
            m.setattr(point_prints.PointPrints, "already", lambda self, row, digest: False)
            theirs, every = _cycle(writing, now, full=full)
        assert ours == theirs, now
        assert _states(skipping) == _states(writing), now
        assert _history(skipping) == _history(writing), now
        counts.append((count, every))
    assert appended[1] == appended[3] == 0  # same-day re-scores with nothing new: no point
    assert appended[0] == appended[4] == N and 0 < appended[2] <= int(N * 0.05)
    assert _points(skipping) < _points(writing)

    first, same_day, changed, again, new_day, new_day_changed, _ = counts
    assert first == (N, N)
    assert same_day == (0, N) and again == (0, N)  # nothing new: nothing written
    assert 0 < changed[0] <= int(N * 0.05)  # at most the accounts with new readings
    assert new_day[0] == N  # the day's point moves every account's trend
    assert 0 < new_day_changed[0] <= int(N * 0.02)


def test_accounts_without_any_signal_score_again(twins: tuple[Store, Store]) -> None:
    """Packs of no signal at all (accounts before any source reported) are read back, not a crash."""
    store, _ = twins
    config = config_from_dict({"salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False}})
    runner = SyncRunner(config, store, sources=[], sinks=[])  # nothing resolved: no account has a signal
    for now in (T0, T0 + timedelta(minutes=4)):
        outputs, _ = runner.score(now, SyncResult(run_id=store.start_run("test")), persist=True)
        assert len(outputs) == N


def test_a_print_covers_every_byte_but_the_run_timestamp_and_the_plan_and_layout() -> None:
    row = bytes(range(256)) * 4
    base = state_prints.state_print("k", row, '{"plan":1}')
    for at in range(len(row)):
        changed = row[:at] + bytes([row[at] ^ 1]) + row[at + 1:]
        same = TREND_DAY.start <= at < TREND_DAY.stop
        assert (state_prints.state_print("k", changed, '{"plan":1}') == base) is same, at
    assert state_prints.state_print("k", row, None) != base
    assert state_prints.state_print("k", row, '{"plan":2}') != base
    assert state_prints.state_print("other", row, '{"plan":1}') != base


def test_a_point_digest_covers_every_output_but_the_run_stamp() -> None:
    from datetime import date

    outputs: dict[str, Any] = {"success_vector": 71.5, "vector_drivers": "Rising 3.0 points/30 days.",
                               "next_milestone_due": date(2026, 12, 1).isoformat(), "ttfv_days": None,
                               "vector_updated_at": "2026-11-02T09:00:00+00:00", "next_action": "x",
                               "book": {"arr": 1200.5, "subscription_status": "active"}}
    digest = point_prints.point_digest(point_prints.point_text(outputs), outputs["vector_updated_at"])
    later = {**outputs, "vector_updated_at": "2026-11-02T09:04:00+00:00"}
    assert point_prints.point_digest(point_prints.point_text(later), later["vector_updated_at"]) == digest
    for key, other in [("success_vector", 71.4), ("vector_drivers", "Rising 3.1 points/30 days."),
                       ("next_milestone_due", None), ("ttfv_days", 0), ("next_action", None),
                       ("book", {"arr": 1200.5, "subscription_status": "past_due"}), ("new_field", "")]:
        changed = {**outputs, key: other}
        assert point_prints.point_digest(point_prints.point_text(changed), outputs["vector_updated_at"]) != digest, key
