"""Plays: when a trigger holds, plan a task; escalate while it stays open; close it when it clears.

Each (account, play) is a small state machine kept in per-account state:

    idle ──trigger & cooled down──▶ pending (``first`` set) ──delay passed, not suppressed, under cap──▶
    step 0 task ──still open after the touch model's N days──▶ step 1 … (the ladder: email → email from
    another sender → SMS → call) ──trigger clears──▶ close the open step's task, remember ``cleared``.

Why this shape: the task key is ``account:play:step``, so re-running, or losing the state store, updates
the same CRM task instead of creating a duplicate; escalation supersedes (closes) the previous step so
the owner sees one task per play; cooldown and the per-owner daily cap keep a noisy signal from burying
a CSM; suppression windows freeze new tasks and escalations (vacation, seasonal) but still let tasks close.
All decisions are column-wise; only the few tasks that open or close are turned into objects.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import numpy as np

from connector.records import TaskChannel
from connector.scoring.conditions import Columns
from connector.scoring.context import TemplateContext
from connector.scoring.inputs import PlayState, ScoringInputs, day_to_date
from connector.scoring.model import Play, SuccessModel

PRIORITY_RANK = {"High": 0, "Normal": 1, "Low": 2}
CHANNEL_TEXT = {
    "email": "email from the account owner",
    "email_other_sender": "a different email from another person (manager or exec sponsor)",
    "sms": "SMS / messenger",
    "call": "phone call by the CSM",
    "task": "internal task",
}
MAX_KEY = 255
CLEARED, SUPERSEDED = 0, 1


@dataclass(frozen=True)
class PlayResult:
    """New play state, (plays × accounts) like :class:`PlayState`, plus what changed in this run."""

    names: tuple[str, ...]
    first: np.ndarray     # (P, n) day numbers
    step: np.ndarray      # (P, n) int8, −1 = no task yet
    last: np.ndarray      # (P, n)
    cleared: np.ndarray   # (P, n)
    active: np.ndarray    # (P, n) bool: trigger holds now
    opened: np.ndarray    # (m, 3) rows of (account row, play index, step) created this run
    closed: np.ndarray    # (m, 4) closed this run: (row, play, step, why) — why is CLEARED or SUPERSEDED
    deferred: int         # tasks held back by the per-owner daily cap (they retry next run)
    ladders: np.ndarray   # (P, S) object: tuple of channels per play and segment


def task_key(account_id: str, play: str, step: int) -> str:
    """Stable external id; hashes the account part if an unusually long id would break the 255 limit."""
    key = f"{account_id}:{play}:{step}"
    if len(key) <= MAX_KEY:
        return key
    return f"{hashlib.sha1(account_id.encode()).hexdigest()}:{play}:{step}"[:MAX_KEY]


def ladder_table(model: SuccessModel) -> np.ndarray:
    table = np.empty((len(model.plays), len(model.segments)), object)
    for p, play in enumerate(model.plays.values()):
        for s, seg in enumerate(model.segments.values()):
            table[p, s] = tuple(play.ladder or model.touch_models[seg.touch].ladder)
    return table


def run_plays(inputs: ScoringInputs, model: SuccessModel, seg: np.ndarray, columns: Columns, now: float) -> PlayResult:
    n, names = inputs.n, tuple(model.plays)
    first, step, last, cleared = _previous(inputs, names)
    ladders = ladder_table(model)
    escalate_after = np.array([model.touch_models[s.touch].escalate_after_days for s in model.segments.values()],
                              np.float64)[seg]
    churned = columns.number("churned") == 1
    active = np.zeros((len(names), n), bool)
    candidates, closed = [], []
    for p, (name, play) in enumerate(model.plays.items()):
        trig = _eligible(model, play, seg, churned) & columns.where(play.when)
        active[p] = trig
        f, st, la, cl = first[p], step[p], last[p], cleared[p]  # views: updates land in the (P, n) arrays
        was_active = ~np.isnan(f)
        clears = was_active & ~trig
        had_task = clears & (st >= 0)
        closed.append(_with_reason(_triples(had_task, p, st), CLEARED))
        cooled = np.isnan(cl) if play.once else ~(now - cl < play.cooldown_days)
        starts = trig & ~was_active & cooled
        f[starts], f[clears] = now, np.nan
        cl[had_task] = now
        st[clears], la[clears] = -1, np.nan
        live = trig & (was_active | starts) & ~_suppressed(model, name, inputs, seg, now)
        lengths = np.array([len(x) for x in ladders[p]])[seg]
        ready = live & (st < 0) & (now - f >= play.delay_days)
        escalate = live & (st >= 0) & (st + 1 < lengths) & (now - la >= escalate_after)
        candidates.append(_triples(ready | escalate, p, st + 1))
    opened = np.concatenate(candidates) if candidates else np.zeros((0, 3), np.int64)
    keep = _under_cap(model, inputs, opened, last, now)
    deferred = int((~keep).sum())
    opened = opened[keep]
    rows, plays, steps = opened[:, 0], opened[:, 1], opened[:, 2]
    step[plays, rows], last[plays, rows] = steps, now
    closed.append(_with_reason(opened[steps > 0] - np.array([0, 0, 1]), SUPERSEDED))
    return PlayResult(names, first, step, last, cleared, active, opened, np.concatenate(closed), deferred, ladders)


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


def _triples(mask: np.ndarray, play: int, steps: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(mask)
    return np.stack([rows, np.full(rows.shape[0], play), steps[rows].astype(np.int64)], axis=1)


def _with_reason(triples: np.ndarray, why: int) -> np.ndarray:
    return np.concatenate([triples, np.full((triples.shape[0], 1), why, np.int64)], axis=1)


def _under_cap(
    model: SuccessModel, inputs: ScoringInputs, cand: np.ndarray, last: np.ndarray, now: float
) -> np.ndarray:
    """Which candidates fit under each owner's daily cap, most important (priority, then ARR) first.

    Tasks created earlier today (hourly runs) count against the cap; tasks without an owner are automated
    (no-touch) and not capped.
    """
    keep = np.ones(cand.shape[0], bool)
    owner = inputs.owner.codes[cand[:, 0]]
    owned = owner >= 0
    if not owned.any():
        return keep
    size = len(inputs.owner.categories)
    earlier = (last >= np.floor(now)).sum(axis=0)
    has_owner = inputs.owner.codes >= 0
    used = np.bincount(inputs.owner.codes[has_owner], weights=earlier[has_owner], minlength=size)
    code = owner[owned]
    prio = np.array([PRIORITY_RANK[p.priority] for p in model.plays.values()])[cand[owned, 1]]
    arr = np.nan_to_num(inputs.arr[cand[owned, 0]], nan=0.0)
    order = np.lexsort((-arr, prio, code))
    sorted_code = code[order]
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0]) - np.searchsorted(sorted_code, sorted_code, side="left")
    keep[owned] = rank < model.orchestration.max_new_tasks_per_owner_per_day - used[code]
    return keep


def render_task(play: Play, context: TemplateContext, step: int, ladder: tuple[TaskChannel, ...]) -> tuple[str, str]:
    """Subject and body: why, where the customer is, the next milestone, what to bring, and this step."""
    context.set("step", step + 1)
    context.set("channel", CHANNEL_TEXT[ladder[step]])
    context.set("reason", play.reason.format_map(context))
    context.set("bring", play.bring.format_map(context))
    body = play.body.format_map(context)
    if len(ladder) > 1:
        body += f"\nStep {step + 1} of {len(ladder)}: {CHANNEL_TEXT[ladder[step]]}."
        if step > 0:
            body += " The previous step got no result, so this one escalates."
    return play.subject.format_map(context), body
