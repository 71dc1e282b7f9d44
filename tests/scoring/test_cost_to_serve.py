"""Cost to serve from data: segment allocation + tickets + CSM time from the task ledger + billing discounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from scoring_helpers import DEFAULT_MODEL, HEALTHY, fields, run

from connector.scoring.touches import csm_task_signals
from connector.store import Store
from connector.store.store import TaskLedgerEntry

YEAR = 365.0 / 90.0  # 90-day counts are annualised


def test_each_term_of_the_cost_comes_from_its_signal() -> None:
    enterprise = DEFAULT_MODEL.segments["enterprise"]
    minutes = DEFAULT_MODEL.touch_models[enterprise.touch].minutes_per_task
    q = DEFAULT_MODEL.quadrant
    result = run({"A": {**HEALTHY, "tickets_created_90d": 12, "csm_tasks_90d": 4, "discount_annual": 7_000}})
    parts = result.quadrant.cost_parts
    assert parts is not None
    row = result.inputs.row("A")
    assert parts["fixed"][row] == enterprise.cost_per_year
    assert parts["support"][row] == pytest.approx(12 * q.cost_per_ticket * YEAR)
    assert parts["csm_time"][row] == pytest.approx(4 * minutes / 60 * q.cost_per_csm_hour * YEAR)
    assert parts["discounts"][row] == 7_000
    assert fields(result, "A")["cost_to_serve"] == pytest.approx(sum(p[row] for p in parts.values()), abs=0.01)


def test_a_small_discounted_customer_with_heavy_support_is_unprofitable() -> None:
    """The sandbox's concession accounts in miniature: the discount and the tickets tip the quadrant."""
    small = {"A": {"arr": 4_000, "segment": "SMB"}}
    plain = run({"A": {**HEALTHY, "tickets_created_90d": 2}}, accounts=small)
    costly = run({"A": {**HEALTHY, "tickets_created_90d": 12, "discount_annual": 2_000}}, accounts=small)
    assert fields(plain, "A")["quadrant"] == "Success"
    assert fields(costly, "A")["quadrant"] == "Work to keep (unprofitable)"


def _task(account: str, key: str, created: datetime) -> TaskLedgerEntry:
    return TaskLedgerEntry("salesforce", key, account, "renewal", 0, f"00T{key}", "open", None, created, created)


def test_csm_tasks_count_the_90_whole_days_before_today(tmp_path: Path) -> None:
    """Today's tasks wait for tomorrow: a same-day re-run after this run's writes counts the same tasks."""
    store = Store(f"sqlite:///{tmp_path}/s.db")
    now = datetime(2026, 12, 7, 9, tzinfo=UTC)
    store.upsert_tasks([_task("A", "a1", now - timedelta(days=3)), _task("A", "a2", now - timedelta(days=89)),
                        _task("A", "old", now - timedelta(days=91)), _task("B", "b1", now - timedelta(days=1)),
                        _task("B", "today", now.replace(hour=0)), _task("C", "later", now)])
    got = {s.account_id: s.value for s in csm_task_signals(store, "salesforce", now)}
    assert got == {"A": 2.0, "B": 1.0}
    assert {s.name for s in csm_task_signals(store, "salesforce", now)} == {"csm_tasks_90d"}
