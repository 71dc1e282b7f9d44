"""Columnar inputs for the scoring engine: one numpy array per field, one row per account.

Why columnar: the engine scores a million accounts in seconds only because every rule is one numpy
operation over a whole column.  Records (``Account``, ``Signal``) and the per-account JSON state are turned
into columns once, here, at the edge; the engine itself never loops over accounts.

Time is a float *day number* (days since 1970-01-01 UTC) everywhere inside the engine: subtracting two of
them gives days, NaN means "no date", and a million of them fit in 8 MB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from itertools import repeat
from typing import Any

import numpy as np

from connector.batching import batched
from connector.records import Account, Signal, TaskEvidence
from connector.scoring.conditions import Categorical
from connector.scoring.day_facts import DayFacts
from connector.scoring.days import day_number, day_to_date, day_to_iso, days_ago
from connector.scoring.previous import PlayState, PreviousState, TrendColumns, baseline_of, previous_from_json
from connector.scoring.signal_table import SignalTable
from connector.store.columns import AccountColumns, HistoryColumns, SignalColumns, object_column

__all__ = ["PlayState", "PreviousState", "ScoringInputs", "TrendColumns", "baseline_of", "day_number", "day_to_date",
           "day_to_iso", "previous_from_json"]

#: Most recent history points kept per account; velocity only looks at a window of weeks anyway.
MAX_HISTORY_POINTS = 64
#: Per-account JSON states turned into columns at a time: bounds the dicts alive at once while reading
#: the state stream (a state is a few KB; 5,000 of them are ~20 MB, 100,000 would be ~400 MB).
STATE_CHUNK = 5000
#: Signal records turned into columns at a time (the record path).
SIGNAL_CHUNK = 50_000

#: ``(account_id, payload)`` pairs as the store streams them, or a mapping (tests, small callers).
HistoryInput = Iterable[tuple[str, list[tuple[datetime, float]]]] | Mapping[str, list[tuple[datetime, float]]]
StateInput = Iterable[tuple[str, dict[str, Any]]] | Mapping[str, dict[str, Any]]
#: Score-history columns of some accounts (``None``: of every account the run scores), read when asked.
HistoryReader = Callable[[Sequence[str] | None], Iterable[HistoryColumns]]
#: (rows, H) days-ago and magnitudes of the given rows' score history.
HistoryRows = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


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
    #: What people did to the connector's tasks since its last write (read back from the CRM), by account.
    evidence: Mapping[str, list[TaskEvidence]] = field(default_factory=dict, repr=False)
    #: The day's cross-account measures when an earlier cycle the same day made them, else None (measure).
    day_facts: DayFacts | None = None
    #: History read on demand (the sync path): ``history_age``/``history_value`` are then (n, 0) and
    #: :meth:`history_of` reads the rows asked for.  None: the arrays hold every row's history.
    history_rows: HistoryRows | None = field(default=None, repr=False, compare=False)

    @property
    def n(self) -> int:
        return int(self.account_ids.shape[0])

    def release_spent_trend(self) -> None:
        """Let go of last run's contributions and trend sums (three accounts × inputs float64 arrays).

        Only the vector reads them, and it carries them into its own trend (``VectorResult.base``) before
        anything else runs; kept here they would sit beside the vector's copies through the rest of the
        kernel, where a full pass peaks.  Changes these inputs in place: score them once."""
        prev, n = self.previous, self.n
        spent = replace(prev, contribution_names=(), contributions=np.zeros((n, 0), prev.contributions.dtype),
                        trend=replace(prev.trend, wy=np.zeros((n, 0)), wty=np.zeros((n, 0))))
        object.__setattr__(self, "previous", spent)

    def history_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(len(rows), H) days-ago and magnitudes of these rows' score history, in their order.

        Why on demand: only accounts whose engine state has no trend yet (new accounts, the first weeks
        after an upgrade) use their score history; every other account's velocity comes from its carried
        trend.  A mature store's history window is the load's largest query (a million points a day at
        1M accounts) and ``n × 64`` float32 twice in memory, read for nothing."""
        if self.history_rows is not None:
            return self.history_rows(rows)
        return self.history_age[rows], self.history_value[rows]

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
    def from_columns(
        cls,
        accounts: AccountColumns,
        signals: SignalTable | Iterable[SignalColumns],
        history: Iterable[HistoryColumns],
        state: StateInput,
        now: datetime,
        evidence: Iterable[TaskEvidence] = (),
        packed: Iterable[tuple[Sequence[str], PreviousState]] = (),
        find: RowFinder | None = None,
        history_reader: HistoryReader | None = None,
    ) -> ScoringInputs:
        """The sync path: the store's columns (:meth:`Store.account_columns` and friends) in, the same
        inputs :meth:`from_records` makes from records out — without a Python object per signal row.

        ``signals`` is a :class:`SignalTable` already filled for these accounts (rows ``0..n-1``: the sync's
        packs and rows, :func:`~connector.scoring.signal_packs.read_signals`) or signal rows to offer to one,
        in order.  ``state`` is the JSON states an earlier version saved, ``packed`` the packed ones
        (:func:`~connector.scoring.packed_state.packed_parts`); an account in both reads its packed state.
        ``find``: the caller's :class:`RowFinder` of these accounts, when it made one (a million-entry dict).
        ``history_reader``: read the score history only of the rows the engine asks for
        (:meth:`history_of`); ``history`` is then not read."""
        n = accounts.n
        now_day = day_number(now)
        key = accounts.account_id
        find = find if find is not None else RowFinder(key)
        if not isinstance(signals, SignalTable):
            table = SignalTable(n)
            for batch in signals:
                table.offer_rows(batch, find(batch.account_id))
            signals = table
        numeric, ages, text = signals.finish(now_day)
        if history_reader is None:
            hist_age, hist_value = _history_from_columns(find, n, history, now_day)
        else:
            hist_age = hist_value = np.full((n, 0), np.nan, np.float32)
        row = find.rows
        inputs = cls.from_arrays(
            now,
            key,
            Categorical.from_values(accounts.segment),
            owner=Categorical.from_values(accounts.owner_id),
            contract_start=accounts.contract_start,
            renewal_date=accounts.renewal_date,
            arr=_arr_or_signal(accounts.arr, numeric),
            numeric=numeric,
            ages=ages,
            text=text,
            history_age=hist_age,
            history_value=hist_value,
            previous=_previous_columns(row, n, state, now.date(), packed),
        )
        if history_reader is not None:
            object.__setattr__(inputs, "history_rows", _history_on_demand(key, history_reader, now_day))
        return _with_extras(inputs, accounts.name, accounts.domain, row, evidence)

    @classmethod
    def from_records(
        cls,
        accounts: list[Account],
        signals: Iterable[Signal],
        history: HistoryInput,
        state: StateInput,
        now: datetime,
        evidence: Iterable[TaskEvidence] = (),
    ) -> ScoringInputs:
        """The record path (tests, tools): records from identity resolution, per-account JSON state.

        ``signals``, ``history`` and ``state`` are read once, as streams (a mapping works too), and written
        straight into columns: no ``Signal``, history series or state dict outlives its chunk, so Python
        objects stay O(one chunk) and only the numpy columns grow with the account count — what keeps a
        100k-account sync's peak memory bounded.
        """
        n = len(accounts)
        ids = np.array([a.account_id for a in accounts], dtype=object)
        find = RowFinder(ids)
        row = find.rows
        now_day = day_number(now)
        table = SignalTable(n)
        for chunk in batched(signals, SIGNAL_CHUNK):
            batch = signal_batch(chunk)
            table.offer_rows(batch, find(batch.account_id))
        numeric, ages, text = table.finish(now_day)
        del table
        arr = np.array([a.arr if a.arr is not None else np.nan for a in accounts], np.float64)
        hist_age, hist_value = _history_columns(row, n, history, now_day)
        inputs = cls.from_arrays(
            now,
            ids,
            Categorical.from_values([a.segment for a in accounts]),
            owner=Categorical.from_values([a.owner_id for a in accounts]),
            contract_start=_dates([a.contract_start for a in accounts]),
            renewal_date=_dates([a.renewal_date for a in accounts]),
            arr=_arr_or_signal(arr, numeric),
            numeric=numeric,
            ages=ages,
            text=text,
            history_age=hist_age,
            history_value=hist_value,
            previous=_previous_columns(row, n, state, now.date()),
        )
        return _with_extras(inputs, np.array([a.name for a in accounts], dtype=object),
                            np.array([a.domain for a in accounts], dtype=object), row, evidence)


def _arr_or_signal(arr: np.ndarray, numeric: dict[str, np.ndarray]) -> np.ndarray:
    """The CRM's ARR, or the ``arr`` signal (billing) where the CRM has none."""
    return np.where(np.isnan(arr), numeric["arr"], arr) if "arr" in numeric else arr.copy()


def _with_extras(inputs: ScoringInputs, names: np.ndarray, domains: np.ndarray, row: dict[str, int],
                 evidence: Iterable[TaskEvidence]) -> ScoringInputs:
    """What both paths attach beside the columns: names, domains, the id → row index (what ``row()`` would
    build; reused, not built twice) and the task read-back grouped by account."""
    by_account: dict[str, list[TaskEvidence]] = {}
    for item in evidence:
        by_account.setdefault(item.account_id, []).append(item)
    for name, value in (("names", names), ("domains", domains), ("index", row), ("evidence", by_account)):
        object.__setattr__(inputs, name, value)
    return inputs


def signal_batch(signals: Iterable[Signal]) -> SignalColumns:
    """``Signal`` records as one batch of signal columns, to read after the store's batches (a signal the
    connector derives itself, e.g. CSM time from its task ledger): later rows win ties, as in
    :meth:`ScoringInputs.from_records`."""
    rows = [s for s in signals if s.value is not None]
    is_text = np.array([isinstance(s.value, str) for s in rows], bool)
    number = np.array([np.nan if isinstance(s.value, str) else float(s.value) for s in rows],  # type: ignore[arg-type]
                      np.float64)
    return SignalColumns(object_column([s.account_id for s in rows]), object_column([s.name for s in rows]), number,
                         object_column([s.value if isinstance(s.value, str) else None for s in rows]),
                         np.ones(len(rows), bool), is_text,
                         np.array([day_number(s.as_of) for s in rows], np.float64))


class RowFinder:
    """Row of each account id among the scored accounts (-1 where not scored): one dict lookup per id in
    C (``map`` over ``dict.get``), cheaper than a binary search over Python strings."""

    def __init__(self, account_ids: np.ndarray):
        self.rows: dict[str, int] = {a: i for i, a in enumerate(account_ids.tolist())}

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        return np.fromiter(map(self.rows.get, ids, repeat(-1)), np.intp, count=ids.shape[0])


def _history_on_demand(account_ids: np.ndarray, read: HistoryReader, now_day: float) -> HistoryRows:
    """:meth:`ScoringInputs.history_of` from the store: the history of the rows asked for, by id, or of
    every account in one scan when more than half are asked for (one window scan beats many ``IN`` lists)."""

    def rows_of(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.asarray(rows, np.intp)
        if not rows.shape[0]:
            return np.full((0, 0), np.nan, np.float32), np.full((0, 0), np.nan, np.float32)
        ids = account_ids[rows]
        stream = read(None) if 2 * rows.shape[0] > account_ids.shape[0] else read(ids.tolist())
        return _history_from_columns(RowFinder(ids), rows.shape[0], stream, now_day)

    return rows_of


def _history_from_columns(find: RowFinder, n: int, history: Iterable[HistoryColumns], now_day: float
                          ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_history_columns` column-wise: per account the day's last point of each day before today
    (points sorted by time, then magnitude, as ``sorted(points)`` does), the newest ``MAX_HISTORY_POINTS``."""
    today = int(np.floor(now_day))
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for batch in history:
        rows = find(batch.account_id)
        keep = (rows >= 0) & (np.floor(batch.scored_at) < today)
        parts.append((rows[keep], batch.scored_at[keep], batch.magnitude[keep]))
    if not parts or not sum(p[0].shape[0] for p in parts):
        return np.full((n, 0), np.nan, np.float32), np.full((n, 0), np.nan, np.float32)
    row, when, value = (np.concatenate(c) for c in zip(*parts, strict=True))
    day = np.floor(when)
    if not row.shape[0]:
        return np.full((n, 0), np.nan, np.float32), np.full((n, 0), np.nan, np.float32)
    order = np.lexsort((value, when, row))
    row, when, day, value = row[order], when[order], day[order], value[order]
    last = np.ones(row.shape[0], bool)
    last[:-1] = (row[1:] != row[:-1]) | (day[1:] != day[:-1])
    row, when, value = row[last], when[last], value[last]
    count = np.bincount(row, minlength=n)
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    position = np.arange(row.shape[0]) - start[row]  # index within the account's series, oldest first
    taken = np.minimum(count, MAX_HISTORY_POINTS)
    offset = position - (count[row] - taken[row])  # drop the oldest beyond the cap
    ok = offset >= 0
    width = int(taken.max())
    age = np.full((n, width), np.nan, np.float32)
    mags = np.full((n, width), np.nan, np.float32)
    age[row[ok], offset[ok]] = days_ago(now_day, when[ok]).astype(np.float32)
    mags[row[ok], offset[ok]] = value[ok].astype(np.float32)
    return age, mags


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


def _pairs(source: HistoryInput | StateInput) -> Iterable[tuple[str, Any]]:
    """``(account_id, payload)`` pairs of a stream, or of a mapping's items."""
    items = getattr(source, "items", None)
    return items() if callable(items) else source  # type: ignore[return-value]


def _history_columns(
    row: Mapping[str, int], n: int, history: HistoryInput, now_day: float
) -> tuple[np.ndarray, np.ndarray]:
    """(n, H) days-ago and magnitudes, NaN-padded; H = the most daily points any account has (≤ the cap).

    Filled one account's series at a time as the stream yields it, so all accounts' series never exist
    together; the arrays grow by doubling (to the cap) instead of being sized from a first pass.
    """
    capacity = width = 0
    age = np.full((n, 0), np.nan, np.float32)
    value = np.full((n, 0), np.nan, np.float32)
    for account_id, points in _pairs(history):
        i = row.get(account_id)
        if i is None:
            continue
        series = _daily(points or [], now_day)[-MAX_HISTORY_POINTS:]
        k = len(series)
        if k > capacity:
            capacity = min(MAX_HISTORY_POINTS, max(k, 2 * capacity, 8))
            age, value = _widen(age, capacity), _widen(value, capacity)
        age[i, :k] = [days_ago(now_day, day_number(when)) for when, _ in series]
        value[i, :k] = [magnitude for _, magnitude in series]
        width = max(width, k)
    if width < capacity:
        age, value = age[:, :width].copy(), value[:, :width].copy()
    return age, value


def _widen(columns: np.ndarray, width: int) -> np.ndarray:
    wider = np.full((columns.shape[0], width), np.nan, columns.dtype)
    wider[:, : columns.shape[1]] = columns
    return wider


def _previous_columns(row: Mapping[str, int], n: int, state: StateInput, today: date,
                      packed: Iterable[tuple[Sequence[str], PreviousState]] = ()) -> PreviousState:
    """``previous_from_json`` over every account's JSON state (``{}`` where none), built ``STATE_CHUNK``
    states at a time so only one chunk of state dicts is alive, then the packed parts (later parts win);
    the parts are put together by :meth:`PreviousState.assemble`."""

    def parts() -> Iterator[tuple[np.ndarray, PreviousState]]:
        for chunk in batched(_pairs(state), STATE_CHUNK):
            rows = [(row[a], s or {}) for a, s in chunk if a in row]
            del chunk
            if rows:
                yield np.array([i for i, _ in rows], np.intp), previous_from_json([s for _, s in rows], today)
        for ids, part in packed:
            at = np.array([row.get(a, -1) for a in ids], np.intp)
            mine = at >= 0
            if mine.all():
                yield at, part
            elif mine.any():
                yield at[mine], part.take(mine)

    return PreviousState.assemble(n, parts())
