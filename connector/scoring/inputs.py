"""Columnar inputs for the scoring engine: one numpy array per field, one row per account.

Why columnar: the engine scores a million accounts in seconds only because every rule is one numpy
operation over a whole column.  Records (``Account``, ``Signal``) and the per-account JSON state are turned
into columns once, here, at the edge; the engine itself never loops over accounts.

Time is a float *day number* (days since 1970-01-01 UTC) everywhere inside the engine: subtracting two of
them gives days, NaN means "no date", and a million of them fit in 8 MB.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
from connector.store.columns import AccountColumns, HistoryColumns, SignalColumns, object_column

__all__ = ["PlayState", "PreviousState", "ScoringInputs", "TrendColumns", "baseline_of", "day_number", "day_to_date",
           "day_to_iso", "previous_from_json"]

#: Most recent history points kept per account; velocity only looks at a window of weeks anyway.
MAX_HISTORY_POINTS = 64
#: Per-account JSON states turned into columns at a time: bounds the dicts alive at once while reading
#: the state stream (a state is a few KB; 5,000 of them are ~20 MB, 100,000 would be ~400 MB).
STATE_CHUNK = 5000

#: ``(account_id, payload)`` pairs as the store streams them, or a mapping (tests, small callers).
HistoryInput = Iterable[tuple[str, list[tuple[datetime, float]]]] | Mapping[str, list[tuple[datetime, float]]]
StateInput = Iterable[tuple[str, dict[str, Any]]] | Mapping[str, dict[str, Any]]


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
    def from_columns(
        cls,
        accounts: AccountColumns,
        signals: Iterable[SignalColumns],
        history: Iterable[HistoryColumns],
        state: StateInput,
        now: datetime,
        evidence: Iterable[TaskEvidence] = (),
        packed: Iterable[tuple[Sequence[str], PreviousState]] = (),
    ) -> ScoringInputs:
        """The sync path: the store's columns (:meth:`Store.account_columns` and friends) in, the same
        inputs :meth:`from_records` makes from records out — without a Python object per signal row.

        ``state`` is the JSON states an earlier version saved, ``packed`` the packed ones
        (:func:`~connector.scoring.packed_state.packed_parts`); an account in both reads its packed state."""
        n = accounts.n
        now_day = day_number(now)
        key = accounts.account_id
        find = _RowFinder(key)
        numeric, ages, text = _signal_columns(_SignalRows.read(signals, find), n, now_day)
        hist_age, hist_value = _history_from_columns(find, n, history, now_day)
        row = {str(a): i for i, a in enumerate(key)}
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
        row = {a.account_id: i for i, a in enumerate(accounts)}
        now_day = day_number(now)
        columns: dict[str, _SignalColumn] = {}
        for sig in signals:
            i = row.get(sig.account_id)
            if i is None or sig.value is None:
                continue
            column = columns.get(sig.name)
            if column is None:
                column = columns[sig.name] = _SignalColumn(n)
            column.offer(i, sig.value, day_number(sig.as_of))
        numeric: dict[str, np.ndarray] = {}
        ages: dict[str, np.ndarray] = {}
        text: dict[str, Categorical] = {}
        for name, column in columns.items():
            ages[name], found_numeric, found_text = column.finish(now_day)
            if found_numeric is not None:
                numeric[name] = found_numeric
            if found_text is not None:
                text[name] = found_text
        del columns
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


class _RowFinder:
    """Row of each account id among the scored accounts (-1 where not scored): one dict lookup per id in
    C (``map`` over ``dict.get``), cheaper than a binary search over Python strings."""

    def __init__(self, account_ids: np.ndarray):
        self.rows = {a: i for i, a in enumerate(account_ids.tolist())}

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        return np.fromiter(map(self.rows.get, ids, repeat(-1)), np.intp, count=ids.shape[0])


def _codes(values: np.ndarray, known: dict[str, int]) -> np.ndarray:
    """A code per value, adding unseen values to ``known`` (few: signal names, text values)."""
    codes = np.fromiter(map(known.get, values, repeat(-1)), np.int32, count=values.shape[0])
    missing = codes < 0
    if missing.any():
        for value in values[missing].tolist():
            known.setdefault(value, len(known))
        codes[missing] = np.fromiter(map(known.__getitem__, values[missing]), np.int32, count=int(missing.sum()))
    return codes


@dataclass
class _SignalRows:
    """The signal rows of scored accounts as compact columns: row, name code, number, text code (-1: not
    text), as-of day; names and text values are kept once each, in first-seen order."""

    row: np.ndarray
    name: np.ndarray
    number: np.ndarray
    text: np.ndarray
    when: np.ndarray
    names: list[str]
    texts: list[str]

    @classmethod
    def read(cls, batches: Iterable[SignalColumns], find: _RowFinder) -> _SignalRows:
        names: dict[str, int] = {}
        texts: dict[str, int] = {}
        parts: list[tuple[np.ndarray, ...]] = []
        for b in batches:
            rows = find(b.account_id)
            keep = (rows >= 0) & b.has_value
            name = _codes(b.name[keep], names)
            is_text = b.has_text[keep]
            text = np.full(name.shape[0], -1, np.int32)
            text[is_text] = _codes(b.value_text[keep][is_text], texts)
            parts.append((rows[keep], name, b.value_num[keep], text, b.as_of[keep]))
        if not parts:
            empty = np.zeros(0)
            return cls(empty.astype(np.intp), empty.astype(np.int32), empty, empty.astype(np.int32), empty, [], [])
        row, name, number, text, when = (np.concatenate(c) for c in zip(*parts, strict=True))
        return cls(row, name, number, text, when, list(names), list(texts))


def _signal_columns(rows: _SignalRows, n: int, now_day: float
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Categorical]]:
    """Per signal name: ages, the numeric column (if any winner is a number), the text column (if any
    winner is text) — :class:`_SignalColumn`'s rule (latest ``as_of`` wins, a tie goes to the later row)
    applied to whole columns: sort by (name, row, as_of, position) and keep each (name, row)'s last."""
    if not rows.row.shape[0]:
        return {}, {}, {}
    ranked = sorted(range(len(rows.names)), key=lambda code: rows.names[code])
    rank = np.empty(len(ranked), np.int32)
    rank[ranked] = np.arange(len(ranked), dtype=np.int32)
    name_code = rank[rows.name]
    row, when = rows.row, rows.when
    order = np.lexsort((np.arange(row.shape[0]), when, row, name_code))
    last = np.ones(order.shape[0], bool)
    last[:-1] = (name_code[order][1:] != name_code[order][:-1]) | (row[order][1:] != row[order][:-1])
    won = order[last]
    numeric: dict[str, np.ndarray] = {}
    ages: dict[str, np.ndarray] = {}
    text: dict[str, Categorical] = {}
    bounds = np.searchsorted(name_code[won], np.arange(len(ranked) + 1))
    for k, code in enumerate(ranked):
        name = rows.names[code]
        part = won[bounds[k]:bounds[k + 1]]
        at = row[part]
        best = np.full(n, np.nan)
        best[at] = days_ago(now_day, when[part])
        ages[name] = best.astype(np.float32)
        codes = rows.text[part]
        is_text = codes >= 0
        if (~is_text).any():
            column = np.full(n, np.nan)
            column[at[~is_text]] = rows.number[part][~is_text]
            numeric[name] = column
        if is_text.any():
            used = np.unique(codes[is_text]).tolist()
            used.sort(key=lambda c: rows.texts[c])  # categories in value order, as Categorical.from_values
            remap = np.full(len(rows.texts), -1, np.int32)
            remap[used] = np.arange(len(used), dtype=np.int32)
            column_codes = np.full(n, -1, np.int32)
            column_codes[at[is_text]] = remap[codes[is_text]]
            text[name] = Categorical(column_codes, tuple(rows.texts[c] for c in used))
    return numeric, ages, text


def _history_from_columns(find: _RowFinder, n: int, history: Iterable[HistoryColumns], now_day: float
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


class _SignalColumn:
    """One signal name's columns while the signal stream is read: the winning ``as_of`` (a day number,
    -inf = none yet), the numeric value and the text value (as a code) of every row.

    Why not keep the winning ``Signal`` per (row, name) and convert afterwards: at 100k accounts that is
    millions of live objects (~15 KB per account).  Here each signal is written into the arrays and
    dropped; only each distinct text value is kept, once.

    The rule is the one the engine always had: the latest ``as_of`` wins, a tie goes to the signal seen
    later.  A name can carry text for some rows and numbers for others; a row holds only its winner's kind.
    """

    __slots__ = ("best", "codes", "lookup", "numeric")

    def __init__(self, n: int):
        self.best = np.full(n, -np.inf)
        self.numeric: np.ndarray | None = None
        self.codes: np.ndarray | None = None
        self.lookup: dict[str, int] = {}

    def offer(self, i: int, value: float | str, day: float) -> None:
        if day < self.best[i]:
            return
        self.best[i] = day
        if isinstance(value, str):
            if self.codes is None:
                self.codes = np.full(self.best.shape[0], -1, np.int32)
            self.codes[i] = self.lookup.setdefault(value, len(self.lookup))
            if self.numeric is not None:
                self.numeric[i] = np.nan
        else:
            if self.numeric is None:
                self.numeric = np.full(self.best.shape[0], np.nan)
            self.numeric[i] = float(value)
            if self.codes is not None:
                self.codes[i] = -1

    def finish(self, now_day: float) -> tuple[np.ndarray, np.ndarray | None, Categorical | None]:
        """Ages (days, float32, NaN where no signal), the numeric column if any row's winner is a number,
        and the text column if any row's winner is text — the same columns the record path always made."""
        held = self.best > -np.inf
        ages = np.where(held, days_ago(now_day, np.where(held, self.best, 0.0)), np.nan).astype(np.float32)
        is_text = self.codes >= 0 if self.codes is not None else np.zeros(held.shape[0], bool)
        numeric = self.numeric if self.numeric is not None and (held & ~is_text).any() else None
        text = None
        if self.codes is not None and is_text.any():
            by_code = list(self.lookup)
            used = np.unique(self.codes[is_text])
            ranked = sorted(used.tolist(), key=lambda code: by_code[code])
            remap = np.full(len(by_code), -1, np.int32)
            remap[ranked] = np.arange(len(ranked), dtype=np.int32)
            codes = np.where(is_text, remap[np.where(is_text, self.codes, 0)], -1).astype(np.int32)
            text = Categorical(codes, tuple(by_code[code] for code in ranked))  # as ``Categorical.from_values``
        return ages, numeric, text


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
