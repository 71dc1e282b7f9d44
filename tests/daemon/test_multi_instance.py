"""Two daemon processes on one PostgreSQL: every tick runs once, and a killed instance's job is taken over."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from daemon_kit import free_port, start_daemon, wait_for, write_config
from sqlalchemy import text

from connector.daemon.scheduler import ANCHOR
from connector.store import Store

pytestmark = pytest.mark.postgres


def _writes(store: Store) -> list[tuple[int, int, int]]:
    with store.engine.connect() as conn:
        return [(r[0], r[1], r[2]) for r in conn.execute(text("SELECT item, run_id, pid FROM fake_writes"))]


def test_each_tick_runs_on_exactly_one_instance(tmp_path: Path, postgres_url: str) -> None:
    ports = [free_port(), free_port()]
    env = {"FAKE_PULL_SECONDS": "0.3"}
    daemons = [
        start_daemon(write_config(tmp_path / f"c{i}.toml", postgres_url, port, every=1), port, env=env, name=f"d{i}")
        for i, port in enumerate(ports)
    ]
    store = Store(postgres_url, auto_migrate=False)
    try:
        wait_for(lambda: len(store.runs(limit=100, kind="pull:salesforce")) >= 6, timeout=15)
    finally:
        assert [d.stop() for d in daemons] == [0, 0]
    pulls = [r for r in store.runs(limit=100, kind="pull:salesforce") if r.status == "ok"]
    per_tick = Counter(int((_utc(r.started_at) - ANCHOR).total_seconds()) for r in pulls)
    assert per_tick and max(per_tick.values()) == 1, per_tick
    spans = sorted((_utc(r.started_at), _utc(r.ended_at or r.started_at)) for r in pulls)
    assert all(end <= nxt for (_, end), (nxt, _) in itertools.pairwise(spans)), "runs overlapped"
    skipped = sum("already run for this tick" in d.log() for d in daemons)
    assert skipped >= 1, "the second instance never deferred to the first"
    store.close()


def test_killed_instance_job_is_taken_over_without_duplicate_writes(tmp_path: Path, postgres_url: str) -> None:
    items = 20
    env = {"FAKE_ITEMS": str(items), "FAKE_STEP_SECONDS": "0.05", "FAKE_HOLD_AFTER": "5"}
    ports = [free_port(), free_port()]
    daemons = [
        start_daemon(write_config(tmp_path / f"c{i}.toml", postgres_url, port, every=30), port, env=env,
                     name=f"d{i}")
        for i, port in enumerate(ports)
    ]
    store = Store(postgres_url, auto_migrate=False)
    try:
        # The kill point is progress, not time: the instance running the job committed 5 of 20 items and is
        # held there (FAKE_HOLD_AFTER), so it is killed at exactly that point however slow the machine is.
        first = wait_for(lambda: [w for w in _writes(store)][:1] if len(_writes(store)) >= 5 else None, timeout=10)
        victim_pid = first[0][2]
        assert len(_writes(store)) == 5
        victim = next(d for d in daemons if d.proc.pid == victim_pid)
        survivor = next(d for d in daemons if d is not victim)
        victim.kill()
        wait_for(lambda: len(_writes(store)) >= items, timeout=15)
        writes = _writes(store)
        assert sorted(w[0] for w in writes) == list(range(items)), "an item was written twice or skipped"
        assert {w[2] for w in writes} == {victim_pid, survivor.proc.pid}
        wait_for(lambda: any(r.status == "ok" for r in store.runs(limit=10, kind="score_and_write")), timeout=5)
        # The property, not a tick count: the killed run is marked taken over, exactly once, and the run that
        # took over finished.  (On a slow machine a later scheduled tick may also run: it finds nothing left.)
        statuses = Counter(r.status for r in store.runs(limit=10, kind="score_and_write"))
        assert statuses["interrupted"] == 1 and statuses["ok"] >= 1, statuses
        assert set(statuses) <= {"interrupted", "ok", "running"}, statuses
        runs = store.runs(limit=10, kind="score_and_write")
        assert "taken over" in next(r.error or "" for r in runs if r.status == "interrupted")
        assert sorted(w[0] for w in _writes(store)) == list(range(items)), "a later run wrote an item again"
        assert survivor.stop() == 0
    finally:
        for d in daemons:
            if d.proc.poll() is None:
                d.kill()
        store.close()


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
