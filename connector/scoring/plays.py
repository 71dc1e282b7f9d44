"""Plays: when a trigger holds, who should act on it, and whether it may be acted on now.

Each (account, play) keeps a small episode in per-account state: ``first`` (when the trigger began to
hold, after any cooldown), ``step`` (the plan step while the play sits in an account's task, −1 when it
does not), ``last`` (the last step or touch) and ``cleared`` (when an episode that had a task ended: the
play's cooldown counts from it).  What this module decides, column-wise for every account:

* **ready** — the trigger holds, the cooling-off ``delay_days`` passed, no conflict rule holds it back
  (no expansion or advocacy ask while billing is red or the vector slides), the account is not churned
  (unless the play is for churned accounts);
* **route** — per play and segment: the account owner, a named user or queue (``user:…``), or
  ``digital``: no person's task at all, but the ``next_action`` field an automation enrols on;
* **frozen** — a suppression window (vacation, seasonal) holds new tasks and escalations back.

What becomes of the ready plays routed to people — one task per account that merges them, escalation on
evidence, the per-owner cap — is :mod:`connector.scoring.plan`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from connector.records import TaskChannel
from connector.scoring.conditions import Columns
from connector.scoring.inputs import PlayState, ScoringInputs, day_to_date
from connector.scoring.model import Play, SuccessModel
from connector.scoring.plan import PlanResult
from connector.scoring.plan_steps import run_plan

PRIORITY_RANK = {"High": 0, "Normal": 1, "Low": 2}
#: Route codes per (play, segment); codes ≥ ``NAMED`` index :attr:`PlayResult.routes` (``user:…`` values).
OWNER, DIGITAL, NAMED = 0, 1, 2


@dataclass(frozen=True)
class PlayResult:
    """New play state, (plays × accounts) like :class:`PlayState`, the routing, and the account plans."""

    names: tuple[str, ...]
    first: np.ndarray     # (P, n) day numbers
    step: np.ndarray      # (P, n) int8, −1 = not in an open task
    last: np.ndarray      # (P, n)
    cleared: np.ndarray   # (P, n)
    active: np.ndarray    # (P, n) bool: trigger holds now
    held: np.ndarray      # (P, n) bool: a conflict rule holds the play back
    ladders: np.ndarray   # (P, S) object: tuple of channels per play and segment
    route: np.ndarray     # (P, S) int: OWNER, DIGITAL or NAMED + index into ``routes``
    routes: tuple[str, ...]
    digital: np.ndarray   # (n,) int: play index of the digital next action, −1 = none
    digital_step: np.ndarray  # (n,) int: its step on the ladder
    digital_plays: np.ndarray  # (P, n) bool: every ready play routed to digital
    plan: PlanResult

    @property
    def deferred(self) -> int:
        """New tasks held back by the per-owner cap this run (they wait, oldest first, for the next run)."""
        return self.plan.deferred


def ladder_table(model: SuccessModel) -> np.ndarray:
    table = np.empty((len(model.plays), len(model.segments)), object)
    for p, play in enumerate(model.plays.values()):
        for s, seg in enumerate(model.segments.values()):
            table[p, s] = tuple(play.ladder or model.touch_models[seg.touch].ladder)
    return table


def route_table(model: SuccessModel) -> tuple[np.ndarray, tuple[str, ...]]:
    """(plays × segments) route codes and the named routes they index."""
    named: list[str] = []
    table = np.zeros((len(model.plays), len(model.segments)), np.int64)
    for p, play in enumerate(model.plays):
        for s, seg in enumerate(model.segments):
            route = model.route(play, seg)
            if route == "digital":
                table[p, s] = DIGITAL
            elif route != "owner":
                if route not in named:
                    named.append(route)
                table[p, s] = NAMED + named.index(route)
    return table, tuple(named)


def play_ranks(model: SuccessModel) -> np.ndarray:
    """Importance of each play inside an account plan: priority first, then the model file's order."""
    return np.array([PRIORITY_RANK[p.priority] * 100 + i for i, p in enumerate(model.plays.values())], np.int64)


def run_plays(inputs: ScoringInputs, model: SuccessModel, seg: np.ndarray, columns: Columns, now: float) -> PlayResult:
    n, names = inputs.n, tuple(model.plays)
    today = np.floor(now)  # waits count whole days: re-running later the same day decides the same
    first, step, last, cleared = _previous(inputs, names)
    ladders = ladder_table(model)
    routes, named = route_table(model)
    churned = columns.number("churned") == 1
    held = _held(model, columns, n)
    active = np.zeros((len(names), n), bool)
    ready = np.zeros((len(names), n), bool)
    frozen = np.zeros((len(names), n), bool)
    for p, (name, play) in enumerate(model.plays.items()):
        trig = _eligible(model, play, seg, churned) & columns.where(play.when)
        active[p] = trig
        f, st, la, cl = first[p], step[p], last[p], cleared[p]  # views: updates land in the (P, n) arrays
        was_active = ~np.isnan(f)
        clears = was_active & ~trig
        had_task = clears & (st >= 0)
        cooled = np.isnan(cl) if play.once else ~(today - np.floor(cl) < play.cooldown_days)
        starts = trig & ~was_active & cooled
        f[starts], f[clears] = now, np.nan
        cl[had_task] = now
        st[clears], la[clears] = -1, np.nan
        ready[p] = trig & ~np.isnan(f) & (today - np.floor(f) >= play.delay_days) & ~held[p]
        frozen[p] = _suppressed(model, name, inputs, seg, now)
    route = routes[:, seg]
    digital = ready & (route == DIGITAL)
    plan = run_plan(inputs, model, seg, now, ready & (route != DIGITAL), frozen, first, step, last, cleared,
                    ladders, route, named, play_ranks(model))
    top, top_step = _digital_actions(model, seg, digital, first, ladders, now)
    return PlayResult(names, first, step, last, cleared, active, held, ladders, routes, named, top, top_step, digital,
                      plan)


def _previous(inputs: ScoringInputs, names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """The previous run's play state aligned to this model's plays (a new play starts empty)."""
    prev = inputs.previous.plays
    empty = PlayState.empty(inputs.n, names)
    where = {name: j for j, name in enumerate(prev.names)}
    for p, name in enumerate(names):
        if name in where:
            j = where[name]
            empty.first[p], empty.step[p], empty.last[p], empty.cleared[p] = (
                prev.first[j], prev.step[j], prev.last[j], prev.cleared[j])
    return empty.first, empty.step, empty.last, empty.cleared


def _held(model: SuccessModel, columns: Columns, n: int) -> np.ndarray:
    """(P, n): plays a conflict rule holds back now (their triggers are kept, so they resume after)."""
    names = list(model.plays)
    held = np.zeros((len(names), n), bool)
    for conflict in model.orchestration.conflicts:
        hit = columns.where(conflict.when)
        for play in conflict.plays:
            held[names.index(play)] |= hit
    return held


def _eligible(model: SuccessModel, play: Play, seg: np.ndarray, churned: np.ndarray) -> np.ndarray:
    ok = np.ones(seg.shape[0], bool) if play.include_churned else ~churned
    if play.segments:
        keys = model.segment_keys()
        ok &= np.isin(seg, [keys.index(s) for s in play.segments])
    return ok


def _suppressed(model: SuccessModel, play: str, inputs: ScoringInputs, seg: np.ndarray, now: float) -> np.ndarray:
    out = np.zeros(inputs.n, bool)
    today = day_to_date(now) or date.today()
    keys = model.segment_keys()
    for sup in model.suppressions:
        if (sup.plays and play not in sup.plays) or not sup.active(today):
            continue
        if not sup.segments and not sup.accounts:
            out[:] = True
        if sup.segments:
            out |= np.isin(seg, [keys.index(s) for s in sup.segments])
        if sup.accounts:
            out |= np.isin(inputs.account_ids, sup.accounts)
    return out


def _digital_actions(model: SuccessModel, seg: np.ndarray, digital: np.ndarray, first: np.ndarray,
                     ladders: np.ndarray, now: float) -> tuple[np.ndarray, np.ndarray]:
    """The most important digital play per account and its step: one step per ``escalate_after_days`` the
    trigger has held (an automation has no read-back; its sequence moves on by time)."""
    n = seg.shape[0]
    if not digital.any():
        return np.full(n, -1, np.int64), np.zeros(n, np.int64)
    ranks = play_ranks(model)
    scored = np.where(digital, ranks[:, None], np.iinfo(np.int64).max)
    top = np.where(digital.any(axis=0), scored.argmin(axis=0), -1)
    rows = np.arange(n)
    waits = np.array([model.touch_models[s.touch].escalate_after_days for s in model.segments.values()])[seg]
    held_for = np.nan_to_num(np.floor(now) - np.floor(first[np.maximum(top, 0), rows]), nan=0.0)
    lengths = np.array([[len(x) for x in row] for row in ladders])[np.maximum(top, 0), seg]
    step = np.minimum(np.floor(held_for / waits).astype(np.int64), lengths - 1)
    return top, np.where(top >= 0, step, 0)


def digital_text(model: SuccessModel, play: int, step: int, ladder: tuple[TaskChannel, ...],
                 others: list[int]) -> str:
    """The ``next_action`` value: stable and readable, so an automation can enrol on it (it starts with the
    leading play; the other ready digital plays follow, most important first)."""
    names = list(model.plays)
    text = f"{names[play]}: step {step + 1} of {len(ladder)} ({ladder[step]})"
    return (text + "; also " + ", ".join(names[p] for p in others))[:255] if others else text
