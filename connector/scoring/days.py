"""Time inside the engine: a float *day number* (days since 1970-01-01 UTC).

Subtracting two gives days, NaN means "no date", and a million of them fit in 8 MB.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

_EPOCH = date(1970, 1, 1)


def day_number(value: datetime | date) -> float:
    """Days since 1970-01-01 UTC (naive datetimes are taken as UTC); dates count from their midnight."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.timestamp() / 86400.0
    return float((value - _EPOCH).days)


def days_ago(now_day: float, when: Any) -> Any:
    """Whole UTC days from ``when`` (day numbers: a float or an array) to ``now_day``: a signal read or a
    score made yesterday at 23:59 is a day old at 00:01.

    Why whole days: every other clock of the model counts days (waits, due dates, the trend's points), so
    an age counted to the second was the one input that moved between two runs of the same day: a
    confidence or a fallback velocity could round differently at 18:00 than at 09:00 on unchanged data,
    and the same inputs on the same day must give the same outputs (see ``SyncRunner``'s settled cycle).
    """
    return math.floor(now_day) - np.floor(when)


def day_to_date(day: float) -> date | None:
    return None if not np.isfinite(day) else _EPOCH + timedelta(days=int(np.floor(day)))


def day_to_iso(day: float) -> str | None:
    # math.isfinite: called for every play field of every account's state; np.isfinite on a scalar is 10× slower
    return None if not math.isfinite(day) else datetime.fromtimestamp(day * 86400.0, UTC).isoformat(timespec="seconds")
