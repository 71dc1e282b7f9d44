"""Columnar inputs for the scoring engine: one numpy array per field, one row per account.

Why columnar: the engine scores a million accounts in seconds only because every rule is one numpy
operation over a whole column.  Records (``Account``, ``Signal``) and the per-account JSON state are turned
into columns once, here, at the edge; the engine itself never loops over accounts.

Time is a float *day number* (days since 1970-01-01 UTC) everywhere inside the engine: subtracting two of
them gives days, NaN means "no date", and a million of them fit in 8 MB.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from connector.records import Account, Signal
from connector.scoring.conditions import Categorical

_EPOCH = date(1970, 1, 1)
_DIRECTION_CODES = {"Negative": -1, "Flat": 0, "Positive": 1}
#: Most recent history points kept per account; velocity only looks at a window of weeks anyway.
MAX_HISTORY_POINTS = 64


def day_number(value: datetime | date) -> float:
    """Days since 1970-01-01 UTC (naive datetimes are taken as UTC); dates count from their midnight."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.timestamp() / 86400.0
    return float((value - _EPOCH).days)


def day_to_date(day: float) -> date | None:
    return None if np.isnan(day) else _EPOCH + timedelta(days=int(np.floor(day)))


def day_to_iso(day: float) -> str | None:
    return None if np.isnan(day) else datetime.fromtimestamp(day * 86400.0, UTC).isoformat(timespec="seconds")


def _parse_day(value: Any) -> float:
    if not isinstance(value, str):
        return np.nan
    try:
        return day_number(datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value))
    except ValueError:
        return np.nan


@dataclass(frozen=True)
class PlayState:
    """Per (play, account) — plays × accounts, so each play's columns are contiguous: episode start,
    current step (-1 = pending), last step time, last clear time."""

    names: tuple[str, ...]
    first: np.ndarray
    step: np.ndarray
    last: np.ndarray
    cleared: np.ndarray

    @classmethod
    def empty(cls, n: int, names: tuple[str, ...] = ()) -> PlayState:
        shape = (len(names), n)
        return cls(names, np.full(shape, np.nan), np.full(shape, -1, np.int8), np.full(shape, np.nan),
                   np.full(shape, np.nan))


@dataclass(frozen=True)
class PreviousState:
    """What the last run left behind, keyed by name so a changed model still lines up (missing → NaN)."""

    magnitude: np.ndarray
    direction: np.ndarray
    contribution_names: tuple[str, ...]
    contributions: np.ndarray
    milestone_names: tuple[str, ...]
    achieved: np.ndarray
    plays: PlayState

    @classmethod
    def empty(cls, n: int) -> PreviousState:
        return cls(np.full(n, np.nan), np.zeros(n, np.int8), (), np.zeros((n, 0), np.float32), (),
                   np.zeros((n, 0)), PlayState.empty(n))


@dataclass(frozen=True)
class ScoringInputs:
    """Everything ``score()`` reads.  Numeric signals are float64 with NaN for missing; ``ages`` are days
    since each signal's ``as_of``; text signals, segment and owner are :class:`Categorical` (codes, so a
    million rows group and compare fast); history is (n, H) days-ago and magnitudes, NaN-padded."""

    now: datetime
    account_ids: np.ndarray
    segment: Categorical
    owner: Categorical
    contract_start: np.ndarray
    renewal_date: np.ndarray
    arr: np.ndarray
    numeric: dict[str, np.ndarray]
    ages: dict[str, np.ndarray]
    text: dict[str, Categorical]
    history_age: np.ndarray
    history_value: np.ndarray
    previous: PreviousState
    names: np.ndarray | None = None
    domains: np.ndarray | None = None
    index: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.account_ids.shape[0])

    def row(self, account_id: str) -> int:
        """Row of ``account_id``; ``KeyError`` names the account when it was not scored."""
        if not self.index:
            self.index.update({str(a): i for i, a in enumerate(self.account_ids)})
        try:
            return self.index[account_id]
        except KeyError:
            raise KeyError(f"account {account_id!r} is not among the scored accounts") from None

    @classmethod
    def from_arrays(
        cls,
        now: datetime,
        account_ids: np.ndarray,
        segment: Categorical,
        *,
        owner: Categorical | None = None,
        contract_start: np.ndarray | None = None,
        renewal_date: np.ndarray | None = None,
        arr: np.ndarray | None = None,
        numeric: Mapping[str, np.ndarray] | None = None,
        ages: Mapping[str, np.ndarray] | None = None,
        text: Mapping[str, Categorical] | None = None,
        history_age: np.ndarray | None = None,
        history_value: np.ndarray | None = None,
        previous: PreviousState | None = None,
    ) -> ScoringInputs:
        """The fast path (benchmark, warehouse exports): arrays in, checked for length, defaults filled."""
        n = int(account_ids.shape[0])
        nan = np.full(n, np.nan)
        numeric = {k: np.asarray(v, np.float64) for k, v in (numeric or {}).items()}
        ages = {k: np.asarray(v, np.float32) for k, v in (ages or {}).items()}
        lengths = [(k, v.shape[0]) for k, v in [*numeric.items(), *ages.items()]]
        lengths += [(k, c.codes.shape[0]) for k, c in (text or {}).items()]
        for name, length in lengths:
            if length != n:
                raise ValueError(f"signal {name!r} has {length} rows, expected {n}")
        empty_hist = np.zeros((n, 0), np.float32)
        return cls(
            now=now,
            account_ids=account_ids,
            segment=segment,
            owner=owner if owner is not None else Categorical(np.full(n, -1, np.int32), ()),
            contract_start=contract_start if contract_start is not None else nan,
            renewal_date=renewal_date if renewal_date is not None else nan.copy(),
            arr=arr if arr is not None else nan.copy(),
            numeric=numeric,
            ages=ages,
            text=dict(text or {}),
            history_age=history_age if history_age is not None else empty_hist,
            history_value=history_value if history_value is not None else empty_hist,
            previous=previous or PreviousState.empty(n),
        )

    @classmethod
    def from_records(
        cls,
        accounts: list[Account],
        signals: Iterable[Signal],
        history: Mapping[str, list[tuple[datetime, float]]],
        state: Mapping[str, dict[str, Any]],
        now: datetime,
    ) -> ScoringInputs:
        """The sync path: records from identity resolution, per-account JSON state from the store."""
        n = len(accounts)
        ids = np.array([a.account_id for a in accounts], dtype=object)
        row = {a.account_id: i for i, a in enumerate(accounts)}
        now_day = day_number(now)
        latest: dict[tuple[int, str], Signal] = {}
        for sig in signals:
            i = row.get(sig.account_id)
            if i is None or sig.value is None:
                continue
            held = latest.get((i, sig.name))
            if held is None or sig.as_of >= held.as_of:
                latest[(i, sig.name)] = sig
        numeric: dict[str, np.ndarray] = {}
        ages: dict[str, np.ndarray] = {}
        text_values: dict[str, list[str | None]] = {}
        for (i, name), sig in latest.items():
            if isinstance(sig.value, str):
                text_values.setdefault(name, [None] * n)[i] = sig.value
            else:
                numeric.setdefault(name, np.full(n, np.nan))[i] = float(sig.value)  # type: ignore[arg-type]
            ages.setdefault(name, np.full(n, np.nan, np.float32))[i] = now_day - day_number(sig.as_of)
        arr = np.array([a.arr if a.arr is not None else np.nan for a in accounts], np.float64)
        if "arr" in numeric:
            arr = np.where(np.isnan(arr), numeric["arr"], arr)
        hist_age, hist_value = _history_columns(ids, history, now_day)
        inputs = cls.from_arrays(
            now,
            ids,
            Categorical.from_values([a.segment for a in accounts]),
            owner=Categorical.from_values([a.owner_id for a in accounts]),
            contract_start=_dates([a.contract_start for a in accounts]),
            renewal_date=_dates([a.renewal_date for a in accounts]),
            arr=arr,
            numeric=numeric,
            ages=ages,
            text={k: Categorical.from_values(v) for k, v in text_values.items()},
            history_age=hist_age,
            history_value=hist_value,
            previous=previous_from_json([state.get(a.account_id) or {} for a in accounts], now.date()),
        )
        object.__setattr__(inputs, "names", np.array([a.name for a in accounts], dtype=object))
        object.__setattr__(inputs, "domains", np.array([a.domain for a in accounts], dtype=object))
        return inputs


def _dates(values: list[date | None]) -> np.ndarray:
    return np.array([day_number(v) if v is not None else np.nan for v in values], np.float64)


def _daily(points: list[tuple[datetime, float]], now_day: float) -> list[tuple[datetime, float]]:
    """One point per calendar day (the day's last score), and none for today: the score being computed
    now is today's point.  Without this a re-sync minutes after the last one would add a second point
    beside it, bend the slope, and rewrite velocity and direction on an unchanged world."""
    today = int(np.floor(now_day))
    by_day: dict[int, tuple[datetime, float]] = {}
    for when, magnitude in sorted(points):
        day = int(np.floor(day_number(when)))
        if day < today:
            by_day[day] = (when, magnitude)
    return [by_day[d] for d in sorted(by_day)]


def _history_columns(
    ids: np.ndarray, history: Mapping[str, list[tuple[datetime, float]]], now_day: float
) -> tuple[np.ndarray, np.ndarray]:
    series = [_daily(history.get(str(a)) or [], now_day)[-MAX_HISTORY_POINTS:] for a in ids]
    width = max((len(s) for s in series), default=0)
    age = np.full((len(ids), width), np.nan, np.float32)
    value = np.full((len(ids), width), np.nan, np.float32)
    for i, points in enumerate(series):
        for j, (when, magnitude) in enumerate(points):
            age[i, j] = now_day - day_number(when)
            value[i, j] = magnitude
    return age, value


def baseline_of(state: dict[str, Any], today: date | None) -> dict[str, Any]:
    """What "since last run" compares with: the last run of an *earlier day*.

    A re-run on the same day compares with what that day's first run compared with, so repeating a sync
    does not turn "Down 3.8 since last run" into "Steady" and rewrite the drivers field for nothing."""
    baseline = state.get("baseline")
    if today is not None and isinstance(baseline, dict) and str(state.get("scored_at", ""))[:10] == today.isoformat():
        return baseline
    return state


def previous_from_json(states: list[dict[str, Any]], today: date | None = None) -> PreviousState:
    """Columns from the per-account JSON written by ``ScoringResult.state_for`` on the previous run."""
    bases = [baseline_of(s, today) for s in states]
    n = len(states)
    magnitude = np.array([b.get("magnitude") if isinstance(b.get("magnitude"), int | float) else np.nan
                          for b in bases], np.float64)
    direction = np.array([_DIRECTION_CODES.get(s.get("direction", ""), 0) for s in states], np.int8)
    contrib_names = tuple(sorted({k for b in bases for k in (b.get("contributions") or {})}))
    contributions = np.full((n, len(contrib_names)), np.nan, np.float32)
    ms_names = tuple(sorted({k for s in states for k in (s.get("milestones") or {})}))
    achieved = np.full((n, len(ms_names)), np.nan)
    play_names = tuple(sorted({k for s in states for k in (s.get("plays") or {})}))
    plays = PlayState.empty(n, play_names)
    for i, s in enumerate(states):
        for j, name in enumerate(contrib_names):
            value = (bases[i].get("contributions") or {}).get(name)
            if isinstance(value, int | float):
                contributions[i, j] = value
        for j, name in enumerate(ms_names):
            achieved[i, j] = _parse_day((s.get("milestones") or {}).get(name))
        for j, name in enumerate(play_names):
            play = (s.get("plays") or {}).get(name) or {}
            plays.first[j, i] = _parse_day(play.get("first"))
            plays.step[j, i] = int(play.get("step", -1)) if isinstance(play.get("step"), int) else -1
            plays.last[j, i] = _parse_day(play.get("last"))
            plays.cleared[j, i] = _parse_day(play.get("cleared"))
    return PreviousState(magnitude, direction, contrib_names, contributions, ms_names, achieved, plays)
