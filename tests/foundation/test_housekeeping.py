"""Retention: once per UTC day, a sync drops what its retention settings say it no longer keeps.

``sync_log_retention_days`` was a setting nothing acted on (sync logs and quarantine grew forever), and the
score history grows by a point per account per day.  A run that scores prunes both, once a day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from connector.config import ConfigError, config_from_dict
from connector.records import Quarantined
from connector.sandbox.store_world import fill
from connector.store import Store
from connector.store.schema import QuarantineRow, ScoreRow, SyncLogRow
from connector.sync import SyncRunner

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _config(**connector: object) -> object:
    return config_from_dict({"connector": connector,
                             "salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False}})


def _count(store: Store, table: type, column: object, before: datetime) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(column < before)).scalar() or 0)


def _age(store: Store, days: int) -> None:
    """A sync-log row, a quarantined record and a score point ``days`` old."""
    at = NOW - timedelta(days=days)
    run = store.start_run("old")
    store.log_records(run, [("salesforce", "Account", f"001-{days}", "update", "failed", "INVALID_FIELD")])
    store.quarantine(run, [Quarantined("stripe", "customer", None, f"bad {days}", {})])
    with store.engine.begin() as conn:
        conn.execute(SyncLogRow.__table__.update().where(SyncLogRow.run_id == run).values(created_at=at))
        conn.execute(QuarantineRow.__table__.update().where(QuarantineRow.run_id == run).values(created_at=at))
        conn.execute(insert(ScoreRow), [{"run_id": run, "account_id": f"001-{days}", "scored_at": at,
                                         "magnitude": 50.0, "outputs": {}}])


def test_a_run_prunes_what_retention_no_longer_keeps_once_a_day(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    fill(store, 30, NOW - timedelta(minutes=10))
    for days in (3, 20, 130, 500):
        _age(store, days)
    config = _config(sync_log_retention_days=14, score_history_retention_days=120)
    SyncRunner(config, store, sources=[], sinks=[], now=lambda: NOW).run()  # type: ignore[arg-type]

    assert _count(store, SyncLogRow, SyncLogRow.created_at, NOW - timedelta(days=14)) == 0
    assert _count(store, QuarantineRow, QuarantineRow.created_at, NOW - timedelta(days=14)) == 0
    assert _count(store, SyncLogRow, SyncLogRow.created_at, NOW) == 1  # the 3-day-old one is kept
    assert _count(store, ScoreRow, ScoreRow.scored_at, NOW - timedelta(days=120)) == 0
    assert _count(store, ScoreRow, ScoreRow.scored_at, NOW) == 2, "the 3- and 20-day-old points are kept"
    assert _count(store, ScoreRow, ScoreRow.scored_at, NOW + timedelta(minutes=1)) == 32  # and today's 30

    _age(store, 200)  # the same day again: pruned once a day, so this stays until tomorrow
    SyncRunner(config, store, sources=[], sinks=[], now=lambda: NOW + timedelta(hours=2)).run()  # type: ignore[arg-type]
    assert _count(store, ScoreRow, ScoreRow.scored_at, NOW - timedelta(days=120)) == 1
    tomorrow = NOW + timedelta(days=1)
    SyncRunner(config, store, sources=[], sinks=[], now=lambda: tomorrow).run()  # type: ignore[arg-type]
    assert _count(store, ScoreRow, ScoreRow.scored_at, tomorrow - timedelta(days=120)) == 0
    store.close()


def test_a_dry_run_prunes_nothing(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    fill(store, 10, NOW - timedelta(minutes=10))
    _age(store, 500)
    SyncRunner(_config(), store, sources=[], sinks=[], now=lambda: NOW).run(dry_run=True)  # type: ignore[arg-type]
    assert _count(store, ScoreRow, ScoreRow.scored_at, NOW - timedelta(days=400)) == 1
    store.close()


def test_a_retention_shorter_than_the_velocity_reads_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"connector\.score_history_retention_days: .*greater than or equal to 120"):
        _config(score_history_retention_days=30)
