"""What the books said about an account when it was scored: the outcomes ``connector backtest`` replays.

The score history records what the model *said* each run; a backtest also needs what then *happened*
(a cancellation, fewer seats, more seats), as the sources reported it at the time.  The signals table keeps
only the latest value, so each score row carries this small snapshot — ARR (CRM), MRR and subscription
status (Stripe), licensed seats (usage) and the CRM's churned flag — and the backtest reads changes between
an account's consecutive rows (``connector/backtest.py``).
"""

from __future__ import annotations

from typing import Any

from connector.scoring.conditions import Categorical
from connector.scoring.result import ScoringResult
from connector.scoring.rounding import round_or_none

NUMBERS = ("mrr", "licensed_seats", "churned")


def book_columns(result: ScoringResult, start: int, stop: int) -> dict[str, list[Any]]:
    """``{"arr", "mrr", "licensed_seats", "churned", "subscription_status"}`` of rows ``start:stop``, one
    list each (None = unknown; numbers to two decimals), made a column at a time."""
    columns = result.columns
    numbers = {"arr": result.inputs.arr, **{name: columns.number(name) for name in NUMBERS}}
    made: dict[str, list[Any]] = {name: round_or_none(column[start:stop], 2) for name, column in numbers.items()}
    status = columns("subscription_status")
    made["subscription_status"] = (status.values(start, stop) if isinstance(status, Categorical)
                                   else [None] * (stop - start))
    return made


def book_rows(result: ScoringResult, start: int, stop: int) -> list[dict[str, Any]]:
    """:func:`book_columns` as one dict per row."""
    made = book_columns(result, start, stop)
    keys = list(made)
    return [dict(zip(keys, values, strict=True)) for values in zip(*made.values(), strict=True)]
