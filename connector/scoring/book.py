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
from connector.scoring.rounding import round_like_python

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


def book_rows(result: ScoringResult, start: int, stop: int) -> list[dict[str, Any]]:
    """:func:`book_snapshots` of rows ``start:stop``, made a column at a time (the same values)."""
    columns = result.columns
    numbers = {"arr": result.inputs.arr, **{name: columns.number(name) for name in NUMBERS}}
    made: dict[str, list[Any]] = {}
    for name, column in numbers.items():
        values = np.asarray(column[start:stop], np.float64)
        gone = np.isnan(values).tolist()
        made[name] = [None if g else x for x, g in zip(round_like_python(values, 2).tolist(), gone, strict=True)]
    status = columns("subscription_status")
    if isinstance(status, Categorical):
        names = [*status.categories, None]  # code −1 (missing) reads the last entry
        made["subscription_status"] = [names[c] for c in status.codes[start:stop].tolist()]
    else:
        made["subscription_status"] = [None] * (stop - start)
    keys = list(made)
    return [dict(zip(keys, values, strict=True)) for values in zip(*made.values(), strict=True)]
