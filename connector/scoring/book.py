"""What the books said about an account when it was scored: the outcomes ``connector backtest`` replays.

The score history records what the model *said* each run; a backtest also needs what then *happened*
(a cancellation, fewer seats, more seats), as the sources reported it at the time.  The signals table keeps
only the latest value, so each score row carries this small snapshot — ARR (CRM), MRR and subscription
status (Stripe), licensed seats (usage) and the CRM's churned flag — and the backtest reads changes between
an account's consecutive rows (``connector/backtest.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from connector.scoring.conditions import Categorical
from connector.scoring.result import ScoringResult

NUMBERS = ("mrr", "licensed_seats", "churned")


def _value(column: np.ndarray, row: int) -> float | None:
    value = float(column[row])
    return None if np.isnan(value) else round(value, 2)


def book_snapshots(result: ScoringResult) -> Callable[[int], dict[str, Any]]:
    """``row → {"arr", "mrr", "licensed_seats", "churned", "subscription_status"}`` (None = unknown)."""
    columns = result.columns
    numbers = {"arr": result.inputs.arr, **{name: columns.number(name) for name in NUMBERS}}
    status = columns("subscription_status")

    def snapshot(row: int) -> dict[str, Any]:
        out: dict[str, Any] = {name: _value(col, row) for name, col in numbers.items()}
        out["subscription_status"] = status.value_at(row) if isinstance(status, Categorical) else None
        return out

    return snapshot
