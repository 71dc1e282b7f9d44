"""``csm_tasks_90d``: the CSM time the connector itself asked for, read from its task ledger (cost to serve).

Every task a play creates lands on a person's list; the touch model prices it (``minutes_per_task``) and
:mod:`connector.scoring.quadrant` turns the count into CSM hours.  The ledger is the connector's own record
of those tasks, so no CRM activity export is needed.

The window is the 90 *whole days before today*: a run that creates tasks and a same-day re-run after it
count the same tasks, so the cost to serve — a field written to the CRM — does not move when nothing in
the world changed (an unchanged re-sync writes nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from connector.records import Signal
from connector.store import Store

WINDOW = timedelta(days=90)
NAME = "csm_tasks_90d"


def csm_task_signals(store: Store, system: str, now: datetime) -> list[Signal]:
    """One ``csm_tasks_90d`` signal per account with tasks created in ``[today − 90 d, today)``."""
    today = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    counts = store.tasks_created(system, today - WINDOW, today)
    return [Signal(account_id, NAME, float(count), now, "connector") for account_id, count in counts.items()]
