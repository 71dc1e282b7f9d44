"""Engine states as typed columns: one row of float64 numbers per account under a named layout.

Why: the engine state was one JSON document per account.  Making a million of them (a dict per account,
then its text) and reading them back (parsing, then a dict walk per account) was about a quarter of a
daily full pass — per-account Python that does no scoring.  Here a block of accounts' states is made with
a few numpy calls into an ``(accounts × width)`` matrix, each row saved as its bytes, and read back by
joining the rows' bytes into one matrix again: no object per number, either way.

What a row holds is exactly what :func:`~connector.scoring.previous.previous_from_json` would read from the
JSON state the same run writes (:meth:`ScoringResult.state_at`, still made for ``explain``): the same
rounding, whole days where the JSON keeps dates, whole seconds where it keeps timestamps, and the same
"absent" for what the JSON leaves out.  So the next run scores the same either way
(``tests/scoring/test_packed_state.py`` checks it on every account of several worlds).

A **layout** names the columns: the model's inputs (contributions and trend sums), milestone keys and play
names.  It is saved once (``store_meta``, :meth:`Store.save_packed_states`) under a key derived from its
content, and each row names its layout, so a changed model's old rows still read by name
(:meth:`PreviousState.assemble` aligns them).
The account plan stays compact JSON text beside the row: it is ragged (slots, history) and only the plan
run reads it (see :attr:`PreviousState.plans`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any

import numpy as np

from connector.scoring.days import day_number, day_to_iso
from connector.scoring.distinct import per_distinct
from connector.scoring.named_layout import UnderLayout, layout_json, layout_key, layout_parts
from connector.scoring.previous import PlayState, PreviousState, TrendColumns, parse_day
from connector.scoring.rounding import round_like_python

#: Bumped when the meaning of a column changes: rows of another version are not read (they rebuild).
LAYOUT_VERSION = 1
#: The per-account columns before the named ones, in order.
HEAD_COLUMNS = ("magnitude", "baseline", "scored_date", "trend_day", "direction", "candidate", "candidate_since",
                "since", "s0", "s1", "s2", "s3", "s4", "s5")
_H = {name: j for j, name in enumerate(HEAD_COLUMNS)}
#: How a row's numbers are stored: little-endian float64 whatever the machine, so a store moves between them.
_STORED = np.dtype("<f8")


@dataclass(frozen=True)
class StateLayout:
    """The names behind a packed row's columns (each tuple sorted)."""

    contributions: tuple[str, ...]
    milestones: tuple[str, ...]
    plays: tuple[str, ...]

    @classmethod
    def of(cls, contributions: Iterable[str], milestones: Iterable[str], plays: Iterable[str]) -> StateLayout:
        return cls(tuple(sorted(set(contributions))), tuple(sorted(set(milestones))), tuple(sorted(set(plays))))

    def to_json(self) -> str:
        return layout_json(LAYOUT_VERSION, {"contributions": self.contributions, "milestones": self.milestones,
                                            "plays": self.plays})

    @classmethod
    def from_json(cls, raw: str | None) -> StateLayout | None:
        """The saved layout, or None when absent, unreadable or of another version (its rows rebuild)."""
        parts = layout_parts(raw, LAYOUT_VERSION, ("contributions", "milestones", "plays"))
        return None if parts is None else cls(*parts)

    @cached_property
    def key(self) -> str:
        return layout_key(self.to_json())

    @cached_property
    def _starts(self) -> tuple[int, ...]:
        c, m, p = len(self.contributions), len(self.milestones), len(self.plays)
        sizes = (len(HEAD_COLUMNS), c, c, c, m, p, p, p, p)
        return tuple(int(x) for x in np.cumsum((0, *sizes)))

    @property
    def width(self) -> int:
        return self._starts[-1]

    def part(self, index: int) -> slice:
        """Columns of part ``index``: head, contributions, wy, wty, achieved, first, step, last, cleared."""
        return slice(self._starts[index], self._starts[index + 1])


HEAD, CONTRIB, WY, WTY, ACHIEVED, FIRST, STEP, LAST, CLEARED = range(9)


@dataclass(frozen=True)
class PackedBlock(UnderLayout):
    """A block of accounts' packed states, as the store saves them."""

    account_ids: Sequence[str]
    layout: StateLayout
    rows: np.ndarray                 # (k, layout.width) float64
    plans: Sequence[str | None]      # compact plan JSON text per account, None without a plan

    def records(self) -> Iterable[tuple[str, bytes, str | None]]:
        if self.rows.shape != (len(self.account_ids), self.layout.width):
            raise ValueError(f"packed rows {self.rows.shape} do not fit {len(self.account_ids)} accounts × "
                             f"{self.layout.width} columns")
        data = np.ascontiguousarray(self.rows, _STORED).tobytes()
        size = self.layout.width * 8
        for i, (account, plan) in enumerate(zip(self.account_ids, self.plans, strict=True)):
            yield account, data[i * size:(i + 1) * size], plan


def _mapped(values: np.ndarray, convert: Callable[[float], float]) -> np.ndarray:
    """``convert`` applied to each finite value, once per distinct value (a run's days are a handful);
    NaN where the value is not finite.  Exactly the scalar round trip the JSON state makes."""
    out = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    if finite.any():
        out[finite] = per_distinct(values[finite], convert)
    return out


def _iso_round_trip(day: float) -> float:
    """What a play's day becomes through the JSON state: an ISO timestamp to the second, parsed back."""
    return parse_day(day_to_iso(day))


def pack(
    *,
    layout: StateLayout,
    now: datetime,
    keys: Sequence[str],
    magnitude: np.ndarray,          # (k,) this run's score
    baseline: np.ndarray,           # (k,) the earlier-day score this run compared with
    direction: np.ndarray,          # (k,) int code
    candidate: np.ndarray,          # (k,) int code, 0 = none
    candidate_since: np.ndarray,    # (k,)
    contributions: np.ndarray,      # (I, k) in ``keys`` order
    share: np.ndarray,              # (I, k)
    since: np.ndarray,              # (k,) trend sums' first day
    shared: np.ndarray,             # (6, k)
    wy: np.ndarray,                 # (I, k)
    wty: np.ndarray,                # (I, k)
    achieved: Iterable[tuple[np.ndarray, str, np.ndarray]],  # (rows, milestone key, achieved day) per path entry
    play_names: Sequence[str],
    first: np.ndarray, step: np.ndarray, last: np.ndarray, cleared: np.ndarray,  # (P, k)
) -> np.ndarray:
    """The packed rows of a block, the same numbers :func:`previous_from_json` reads from the JSON state."""
    k = magnitude.shape[0]
    out = np.full((k, layout.width), np.nan)
    head = out[:, layout.part(HEAD)]
    head[:, _H["magnitude"]] = round_like_python(magnitude, 3)
    head[:, _H["baseline"]] = round_like_python(baseline, 3)
    stamp = now.isoformat()
    head[:, _H["scored_date"]] = parse_day(stamp[:10])
    head[:, _H["trend_day"]] = parse_day(stamp)
    head[:, _H["direction"]] = direction
    head[:, _H["candidate"]] = candidate
    head[:, _H["candidate_since"]] = np.where(candidate != 0, candidate_since, np.nan)
    head[:, _H["since"]] = np.trunc(since)  # the JSON keeps ``int(since)``
    head[:, _H["s0"]:_H["s5"] + 1] = round_like_python(shared, 6).T
    at = np.array([layout.contributions.index(name) for name in keys], np.intp)
    out[:, layout.part(CONTRIB).start + at] = np.where(share > 0, round_like_python(contributions, 3), np.nan).T
    kept = (wy != 0) | (wty != 0)  # what the JSON leaves out reads as 0
    out[:, layout.part(WY).start + at] = np.where(kept, round_like_python(wy, 5), 0.0).T
    out[:, layout.part(WTY).start + at] = np.where(kept, round_like_python(wty, 4), 0.0).T
    for rows, name, day in achieved:  # reached: its day (the JSON keeps the date), or "unknown" (−inf)
        column = out[:, layout.part(ACHIEVED).start + layout.milestones.index(name)]
        reached = rows & ~np.isnan(day)
        column[reached] = np.where(np.isfinite(day[reached]), np.floor(day[reached]), -np.inf)
    for p, name in enumerate(play_names):
        j = layout.plays.index(name)
        entry = np.isfinite(first[p]) | np.isfinite(cleared[p])  # the JSON keeps a play only then
        out[entry, layout.part(FIRST).start + j] = _mapped(first[p][entry], _iso_round_trip)
        out[:, layout.part(STEP).start + j] = np.where(entry, step[p], -1)
        out[entry, layout.part(LAST).start + j] = _mapped(last[p][entry], _iso_round_trip)
        out[entry, layout.part(CLEARED).start + j] = _mapped(cleared[p][entry], _iso_round_trip)
    return out


def unpack(layout: StateLayout, rows: np.ndarray, plans: Sequence[str | None], today: date) -> PreviousState:
    """Columns from packed rows (``(k, layout.width)``), as :func:`previous_from_json` reads the JSON."""
    k = rows.shape[0]
    head = rows[:, layout.part(HEAD)]
    same_day = head[:, _H["scored_date"]] == day_number(today)
    # A re-run on the state's own day compares with the baseline that day's first run compared with.
    magnitude = np.where(same_day, head[:, _H["baseline"]], head[:, _H["magnitude"]])
    candidate = head[:, _H["candidate"]].astype(np.int8)
    trend = TrendColumns(
        day=head[:, _H["trend_day"]].copy(),
        scored=~np.isnan(head[:, _H["magnitude"]]),
        candidate=candidate,
        candidate_since=head[:, _H["candidate_since"]].copy(),
        since=head[:, _H["since"]].copy(),
        shared=np.ascontiguousarray(head[:, _H["s0"]:_H["s5"] + 1]),
        wy=np.ascontiguousarray(rows[:, layout.part(WY)]),
        wty=np.ascontiguousarray(rows[:, layout.part(WTY)]),
    )
    plays = PlayState(layout.plays,
                      np.ascontiguousarray(rows[:, layout.part(FIRST)].T),
                      rows[:, layout.part(STEP)].T.astype(np.int8),
                      np.ascontiguousarray(rows[:, layout.part(LAST)].T),
                      np.ascontiguousarray(rows[:, layout.part(CLEARED)].T))
    plan_column = np.full(k, None, object)
    plan_column[:] = list(plans)
    return PreviousState(magnitude, head[:, _H["direction"]].astype(np.int8), layout.contributions,
                         rows[:, layout.part(CONTRIB)].astype(np.float32), layout.milestones,
                         np.ascontiguousarray(rows[:, layout.part(ACHIEVED)]), plays, trend, plan_column)


def rows_from_bytes(layout: StateLayout, blobs: Sequence[bytes]) -> np.ndarray:
    """Stored rows back into one ``(k, width)`` matrix (one copy of their bytes)."""
    return np.frombuffer(b"".join(blobs), _STORED).astype(np.float64, copy=False).reshape(len(blobs), layout.width)


def plan_text(plan: dict[str, Any] | None) -> str | None:
    """The plan as :attr:`PreviousState.plans` keeps it (what ``previous_from_json`` makes of the JSON)."""
    return None if plan is None else json.dumps(plan, separators=(",", ":"))


def packed_parts(batches: Iterable[Sequence[tuple[str, str, bytes, str | None]]], layouts: Mapping[str, str],
                 today: date) -> Iterator[tuple[list[str], PreviousState]]:
    """``(account ids, columns)`` per batch of stored rows (:meth:`Store.packed_state_rows`) and layout.

    A row whose layout is unknown, of another version, or whose bytes do not fit it is left out: the
    account scores as one without a state (its trend and clocks rebuild), as an unreadable JSON state did."""
    known = {key: layout for key, raw in layouts.items() if (layout := StateLayout.from_json(raw)) is not None}
    for batch in batches:
        by_layout: dict[str, list[tuple[str, bytes, str | None]]] = {}
        for account, key, data, plan in batch:
            layout = known.get(key)
            if layout is not None and len(data) == layout.width * 8:
                by_layout.setdefault(key, []).append((account, data, plan))
        for key, rows in by_layout.items():
            layout = known[key]
            yield ([a for a, _, _ in rows],
                   unpack(layout, rows_from_bytes(layout, [d for _, d, _ in rows]), [p for _, _, p in rows], today))
