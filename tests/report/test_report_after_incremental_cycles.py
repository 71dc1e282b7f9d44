"""The report shows the whole book after cycles that scored only some accounts.

A daemon's cycles after the day's first score only the accounts whose data changed, and a point equal to
today's last is not written again: the newest run's points are a few accounts.  The report (and the
demo's at-risk table) must read each account's latest point as of that run, not that run's points alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.config import config_from_dict
from connector.report import report_context
from connector.report.model_view import load_model_view
from connector.report.queries import at_risk, magnitudes, score_columns, scored_run_ids
from connector.sandbox.store_world import change, fill
from connector.scoring import default_model_path
from connector.store import Store
from connector.sync import SyncRunner

N = 120
DAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _cycle(store: Store, now: datetime) -> None:
    config = config_from_dict({"salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False}})
    SyncRunner(config, store, sources=[], sinks=[], now=lambda: now).run()


def _latest_by_hand(store: Store) -> dict[str, float]:
    """Each account's last point, from the raw history (oldest first)."""
    return {account_id: points[-1][1] for account_id, points in store.score_history(DAY - timedelta(days=30)).items()}


def test_the_report_shows_every_account_after_an_incremental_cycle(any_store: Store) -> None:
    store = any_store
    fill(store, N, DAY - timedelta(days=1, minutes=10))
    _cycle(store, DAY - timedelta(days=1))  # yesterday: the comparison run
    _cycle(store, DAY)  # today's first cycle: every account
    change(store, N, 0.05, DAY + timedelta(minutes=20), version=1)
    _cycle(store, DAY + timedelta(minutes=30))  # only the changed accounts
    newest, previous = scored_run_ids(store)
    assert previous < newest - 1, "the comparison run is yesterday's, not today's first"

    cols = score_columns(store, newest)
    assert sorted(cols.account_ids) == sorted(a.account_id for a in store.accounts())
    assert dict(zip(cols.account_ids, cols.magnitude.tolist(), strict=True)) == _latest_by_hand(store)
    assert len(magnitudes(store, previous)) == N

    context, _ = report_context(store, load_model_view(default_model_path()), now=DAY + timedelta(hours=1))
    assert context["scored"] == N
    assert sum(sum(c) for c in context["distribution"].by_segment.values()) == N
    assert context["change"].compared == N
    rows = at_risk(store, newest, limit=N)
    assert len(rows) == N and all(r["drivers"] for r in rows), "each row shows the account's drivers sentence"
