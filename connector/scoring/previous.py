"""The engine's memory of each account, as columns: what the last run left in ``account_state``.

Each account's JSON state (written by ``ScoringResult.state_at``) holds its last score and direction,
contributions, trend sums, milestone dates and play progress.  Here it becomes columns keyed by *name*, so
a changed model still lines up (a name the model no longer has is ignored, a new one starts empty), and
parts built chunk by chunk are aligned into one (:meth:`PreviousState.assemble`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import numpy as np

from connector.scoring.days import day_number

_DIRECTION_CODES = {"Negative": -1, "Flat": 0, "Positive": 1}


def parse_day(value: Any) -> float:
    return _parse_day_text(value) if isinstance(value, str) else np.nan


@lru_cache(maxsize=4096)
def _parse_day_text(value: str) -> float:
    """Cached: a run's states share a handful of texts (its ``scored_at``, the days plays stepped on), and
    parsing them was a tenth of reading a million states."""
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
class TrendColumns:
    """Last run's day, direction candidate and regression sums (see :mod:`connector.scoring.trend`).

    ``wy``/``wty`` share :attr:`PreviousState.contribution_names`; last run's own contributions
    (:attr:`PreviousState.contributions`) are the point the next day folds into them.
    """

    day: np.ndarray              # (n,) day number of the last run, NaN = none
    scored: np.ndarray           # (n,) bool: the last run had a score
    candidate: np.ndarray        # (n,) int8 direction waiting out the hold period, 0 = none
    candidate_since: np.ndarray  # (n,) day it was first seen
    since: np.ndarray            # (n,) first day folded into the sums
    shared: np.ndarray           # (n, 6)
    wy: np.ndarray               # (n, J)
    wty: np.ndarray              # (n, J)

    @classmethod
    def empty(cls, n: int, j: int) -> TrendColumns:
        return cls(np.full(n, np.nan), np.zeros(n, bool), np.zeros(n, np.int8), np.full(n, np.nan),
                   np.full(n, np.nan), np.zeros((n, 6)), np.zeros((n, j)), np.zeros((n, j)))

    PER_ROW = ("day", "scored", "candidate", "candidate_since", "since", "shared")
    PER_INPUT = ("wy", "wty")


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
    trend: TrendColumns
    #: (n,) object: the account plan (``{"slots": [...]}``) as compact JSON text where the account has one,
    #: else None — read only by the plan run (:mod:`connector.scoring.plan`), and kept as text because a
    #: parsed plan costs about three times its text (~0.5 KB an account with a plan).
    plans: np.ndarray = field(default_factory=lambda: np.zeros(0, object))

    @classmethod
    def empty(cls, n: int) -> PreviousState:
        return cls(np.full(n, np.nan), np.zeros(n, np.int8), (), np.zeros((n, 0), np.float32), (),
                   np.zeros((n, 0)), PlayState.empty(n), TrendColumns.empty(n, 0), np.full(n, None, object))

    @classmethod
    def assemble(cls, n: int, parts: Iterable[tuple[np.ndarray, PreviousState]]) -> PreviousState:
        """One state for ``n`` rows from parts built chunk by chunk, each with the rows it belongs at.

        Why: turning every account's JSON state into columns in one call needs every state dict alive at
        once (several KB each — hundreds of MB at 100k accounts).  Chunks keep only one chunk's dicts
        alive, but each chunk sees only its own contribution, milestone and play names; here they are
        aligned by name into the sorted union, so the result equals one ``previous_from_json`` over all
        rows (rows no part covers keep the no-state defaults: NaN, direction 0, play step -1).

        ``parts`` is consumed lazily and folded in as it comes, so it may be a generator: only the output
        columns and one part are alive, and the columns are widened only when a new name appears (in
        practice once, on the first chunk).  Each row should appear in at most one part.
        """
        out = cls.empty(n)
        for rows, part in parts:
            out = out._widened(part)
            out.magnitude[rows] = part.magnitude
            out.direction[rows] = part.direction
            out.contributions[np.ix_(rows, _positions(out.contribution_names, part.contribution_names))] = (
                part.contributions)
            out.achieved[np.ix_(rows, _positions(out.milestone_names, part.milestone_names))] = part.achieved
            for column in TrendColumns.PER_ROW:
                getattr(out.trend, column)[rows] = getattr(part.trend, column)
            cols = np.ix_(rows, _positions(out.contribution_names, part.contribution_names))
            for column in TrendColumns.PER_INPUT:
                getattr(out.trend, column)[cols] = getattr(part.trend, column)
            at = np.ix_(_positions(out.plays.names, part.plays.names), rows)
            for column in ("first", "step", "last", "cleared"):
                getattr(out.plays, column)[at] = getattr(part.plays, column)
            if part.plans.shape[0]:
                out.plans[rows] = part.plans
        return out

    def take(self, rows: np.ndarray) -> PreviousState:
        """The state of ``rows`` only (a mask or row indices)."""
        t, p = self.trend, self.plays
        return PreviousState(
            self.magnitude[rows], self.direction[rows], self.contribution_names, self.contributions[rows],
            self.milestone_names, self.achieved[rows],
            PlayState(p.names, p.first[:, rows], p.step[:, rows], p.last[:, rows], p.cleared[:, rows]),
            TrendColumns(t.day[rows], t.scored[rows], t.candidate[rows], t.candidate_since[rows], t.since[rows],
                         t.shared[rows], t.wy[rows], t.wty[rows]),
            self.plans[rows])

    def _widened(self, part: PreviousState) -> PreviousState:
        """``self`` with its name tuples extended to the sorted union with ``part``'s (new columns empty)."""
        contrib = tuple(sorted({*self.contribution_names, *part.contribution_names}))
        milestones = tuple(sorted({*self.milestone_names, *part.milestone_names}))
        plays = tuple(sorted({*self.plays.names, *part.plays.names}))
        if (contrib, milestones, plays) == (self.contribution_names, self.milestone_names, self.plays.names):
            return self
        n = self.magnitude.shape[0]
        contributions = np.full((n, len(contrib)), np.nan, np.float32)
        contributions[:, _positions(contrib, self.contribution_names)] = self.contributions
        achieved = np.full((n, len(milestones)), np.nan)
        achieved[:, _positions(milestones, self.milestone_names)] = self.achieved
        widened = PlayState.empty(n, plays)
        kept = _positions(plays, self.plays.names)
        for column in ("first", "step", "last", "cleared"):
            getattr(widened, column)[kept] = getattr(self.plays, column)
        trend = TrendColumns.empty(n, len(contrib))
        for column in TrendColumns.PER_ROW:
            getattr(trend, column)[:] = getattr(self.trend, column)
        at = _positions(contrib, self.contribution_names)
        for column in TrendColumns.PER_INPUT:
            getattr(trend, column)[:, at] = getattr(self.trend, column)
        return PreviousState(self.magnitude, self.direction, contrib, contributions, milestones, achieved, widened,
                             trend, self.plans)


def _positions(names: tuple[str, ...], subset: tuple[str, ...]) -> np.ndarray:
    """Index of each of ``subset``'s names in ``names`` (which holds them all)."""
    where = {name: j for j, name in enumerate(names)}
    return np.array([where[name] for name in subset], np.intp)


def baseline_of(state: dict[str, Any], today: date | None) -> dict[str, Any]:
    """What "since the previous day" compares with: the last run of an *earlier day*.

    A re-run on the same day compares with what that day's first run compared with, so repeating a sync
    does not measure a zero change against itself (the noise estimate reads these changes)."""
    baseline = state.get("baseline")
    if today is not None and isinstance(baseline, dict) and str(state.get("scored_at", ""))[:10] == today.isoformat():
        return baseline
    return state


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else np.nan


def previous_from_json(states: list[dict[str, Any]], today: date | None = None) -> PreviousState:
    """Columns from the per-account JSON written by ``ScoringResult.state_for`` on the previous run."""
    bases = [baseline_of(s, today) for s in states]
    n = len(states)
    magnitude = np.array([_number(b.get("magnitude")) for b in bases], np.float64)
    direction = np.array([_DIRECTION_CODES.get(s.get("direction", ""), 0) for s in states], np.int8)
    trends: list[dict[str, Any]] = [t if isinstance(t := s.get("trend"), dict) else {} for s in states]
    contrib_names = tuple(sorted({k for s in states for k in (s.get("contributions") or {})}
                                 | {k for t in trends for k in (t.get("y") or {})}))
    contributions = np.full((n, len(contrib_names)), np.nan, np.float32)
    ms_names = tuple(sorted({k for s in states for k in (s.get("milestones") or {})}))
    achieved = np.full((n, len(ms_names)), np.nan)
    play_names = tuple(sorted({k for s in states for k in (s.get("plays") or {})}))
    plays = PlayState.empty(n, play_names)
    trend = TrendColumns.empty(n, len(contrib_names))
    plans = np.full(n, None, object)
    play_at = {name: j for j, name in enumerate(play_names)}
    ms_at = {name: k for k, name in enumerate(ms_names)}
    # Each account's own entries are visited, not every name: the columns start at "none" (NaN, step -1),
    # and most accounts have no open play and few milestones reached.
    for i, s in enumerate(states):
        if isinstance(plan := s.get("plan"), dict):
            plans[i] = json.dumps(plan, separators=(",", ":"))
        if given := s.get("contributions"):  # one row written at once: per-element numpy writes cost 10×
            contributions[i] = [x if type(x) is float else _number(x) for x in map(given.get, contrib_names)]
        if reached := s.get("milestones"):
            row = achieved[i]
            for name, value in reached.items():
                row[ms_at[name]] = -np.inf if value == "unknown" else parse_day(value)  # reached, date unknown
        if isinstance(own := s.get("plays"), dict):
            for name, play in own.items():
                if isinstance(play, dict) and play:
                    j = play_at[name]
                    plays.first[j, i] = parse_day(play.get("first"))
                    plays.step[j, i] = step if isinstance(step := play.get("step", -1), int) else -1
                    plays.last[j, i] = parse_day(play.get("last"))
                    plays.cleared[j, i] = parse_day(play.get("cleared"))
        _trend_row(trend, i, s, trends[i], contrib_names)
    return PreviousState(magnitude, direction, contrib_names, contributions, ms_names, achieved, plays, trend,
                         plans)


def _trend_row(out: TrendColumns, i: int, state: dict[str, Any], trend: dict[str, Any],
               names: tuple[str, ...]) -> None:
    """One account's trend state; anything malformed reads as "no trend yet" (it rebuilds in a week)."""
    out.day[i] = parse_day(state.get("scored_at"))
    out.scored[i] = not np.isnan(_number(state.get("magnitude")))
    candidate = trend.get("candidate") or {}
    out.candidate[i] = _DIRECTION_CODES.get(candidate.get("direction", ""), 0)
    out.candidate_since[i] = _number(candidate.get("since")) if out.candidate[i] else np.nan
    sums = trend.get("s")
    if not (isinstance(sums, list) and len(sums) == out.shared.shape[1]
            and all(isinstance(x, int | float) for x in sums)):
        return
    out.since[i] = _number(trend.get("since"))
    out.shared[i] = sums
    if not (ys := trend.get("y")):
        return
    wy, wty = out.wy[i], out.wty[i]
    for j, name in enumerate(names):
        pair = ys.get(name)
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, int | float) for x in pair):
            wy[j], wty[j] = pair
