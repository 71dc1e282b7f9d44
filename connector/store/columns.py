"""Store reads as numpy columns: accounts, signals and score history for the scoring inputs.

Why: the scoring engine is column-wise, and reading ~27 signal rows per account through ORM objects (then
``Signal`` records, then dict lookups) cost about 1 ms per account — 150× the engine itself.  Here the rows
come back as plain tuples from one Core query, are transposed once into arrays, and timestamps become day
numbers in one vectorised step (on SQLite straight from the stored text, without the per-row datetime
parsing SQLAlchemy would do).

Day numbers are computed exactly as :func:`connector.scoring.days.day_number` does for the datetimes the
ORM would have returned (naive = UTC): integer microseconds since the epoch, divided by 10⁶ and then by
86,400 — the same two correctly rounded float divisions, so the columns are bit-identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

_EPOCH_DAY = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class AccountColumns:
    """Accounts in the store's id order (``ORDER BY account_id``, as :meth:`Store.accounts`): what
    scoring reads of each (``account_id``, names, keys, contract, ARR)."""

    account_id: np.ndarray  # object (str)
    name: np.ndarray  # object
    domain: np.ndarray  # object (str | None)
    owner_id: np.ndarray  # object (str | None)
    segment: np.ndarray  # object (str | None)
    contract_start: np.ndarray  # float64 day numbers, NaN = none
    renewal_date: np.ndarray  # float64 day numbers, NaN = none
    arr: np.ndarray  # float64, NaN = none

    @property
    def n(self) -> int:
        return int(self.account_id.shape[0])

    def only(self, wanted: set[str]) -> AccountColumns:
        """The accounts in ``wanted``, in the same order."""
        mask = np.fromiter((a in wanted for a in self.account_id), bool, count=self.n)
        return AccountColumns(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class SignalColumns:
    """Signal rows: account, name, the numeric or text value (``has_value`` false where both are null)
    and ``as_of`` as a day number."""

    account_id: np.ndarray  # object
    name: np.ndarray  # object
    value_num: np.ndarray  # float64 (NaN where null)
    value_text: np.ndarray  # object (None where null)
    has_value: np.ndarray  # bool
    has_text: np.ndarray  # bool
    as_of: np.ndarray  # float64 day numbers


@dataclass(frozen=True)
class HistoryColumns:
    """Score-history points: account, ``scored_at`` as a day number, magnitude, digest."""

    account_id: np.ndarray  # object
    scored_at: np.ndarray  # float64 day numbers
    magnitude: np.ndarray  # float64
    digest: np.ndarray | None = None  # object: the point's digest (connector/scoring/point_prints.py) or None


def object_column(values: Sequence[Any]) -> np.ndarray:
    """An object array of exactly these values (``np.array`` would try to make strings a fixed width)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def float_column(values: Sequence[float | None]) -> np.ndarray:
    """float64, ``None`` → NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def timestamp_days(values: Sequence[datetime | str]) -> np.ndarray:
    """Day numbers of timestamps: SQLite's stored text (``YYYY-MM-DD HH:MM:SS[.ffffff]``, UTC) or
    datetimes (PostgreSQL; naive taken as UTC)."""
    if not len(values):
        return np.zeros(0, np.float64)
    if isinstance(values[0], str):
        micros = np.array(values, dtype="datetime64[us]").astype(np.int64)
        return micros / 1e6 / 86400.0
    stamps = [(v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp() for v in values if isinstance(v, datetime)]
    return np.array(stamps, dtype=np.float64) / 86400.0


def date_days(values: Sequence[date | str | None]) -> np.ndarray:
    """Day numbers of dates (SQLite text ``YYYY-MM-DD`` or ``date`` objects), NaN where none."""
    present = [i for i, v in enumerate(values) if v is not None]
    out = np.full(len(values), np.nan)
    if not present:
        return out
    picked = [values[i] for i in present]
    if isinstance(picked[0], str):
        days = (np.array(picked, dtype="datetime64[D]") - _EPOCH_DAY).astype(np.int64)
    else:
        days = np.array([(v - date(1970, 1, 1)).days for v in picked], dtype=np.int64)  # type: ignore[operator]
    out[present] = days.astype(np.float64)
    return out
