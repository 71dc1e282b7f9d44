"""Source signal windows are whole days: every run on one day computes the same signals.

A window that starts at ``now − N days`` to the second moved between a sync and its re-sync minutes later
and rewrote fields on an unchanged world (20 fields on 3 of 10,000 accounts at 00:30)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.sources.stripe import billing_signals
from connector.sources.zendesk import ticket_signals

DAY = datetime(2026, 11, 2, tzinfo=UTC)
MOMENTS = [DAY + timedelta(minutes=1), DAY + timedelta(hours=12), DAY + timedelta(hours=23, minutes=59)]


def _ticket(created: datetime, status: str = "open", **kw: Any) -> dict[str, Any]:
    return {"status": status, "created_at": created.isoformat(), "priority": "normal", "tags": [], **kw}


@pytest.mark.parametrize("edge_hour", [0, 6, 12, 18, 23])
def test_ticket_windows_do_not_move_during_the_day(edge_hour: int) -> None:
    tickets = [_ticket(DAY - timedelta(days=7) + timedelta(hours=edge_hour, minutes=30)),
               _ticket(DAY - timedelta(days=90) + timedelta(hours=edge_hour, minutes=30), "open"),
               _ticket(DAY - timedelta(days=30) + timedelta(hours=edge_hour), "solved",
                       solved_at=(DAY - timedelta(days=30) + timedelta(hours=edge_hour, minutes=10)).isoformat(),
                       resolution_minutes=600)]
    seen = [ticket_signals(tickets, now, 7, 30) for now in MOMENTS]
    assert seen[0] == seen[1] == seen[2]


@pytest.mark.parametrize("edge_hour", [0, 12, 23])
def test_billing_windows_do_not_move_during_the_day(edge_hour: int) -> None:
    edge = DAY - timedelta(days=90) + timedelta(hours=edge_hour, minutes=30)
    invoices = [{"status": "open", "created": int(edge.timestamp()), "attempt_count": 2, "paid": False,
                 "due_date": int((DAY - timedelta(days=3) + timedelta(hours=edge_hour, minutes=30)).timestamp())}]
    card = {"id": "pm_1", "exp_year": 2026, "exp_month": 11}
    seen = [billing_signals({"default_payment_method": "pm_1"}, [], invoices, [card], now, 90, 29)
            for now in MOMENTS]
    assert seen[0] == seen[1] == seen[2]
    assert seen[0]["days_overdue"] == 3.0
