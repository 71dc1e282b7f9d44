"""Success Milestones: where each customer is on its segment's path, what is next, and whether it is late.

Matrices are (accounts × K) where column k is the k-th milestone *of the account's own segment* (K = the
longest path in the model), so every rule is one operation for all segments at once.

Rules, and why:
- Achievement is sticky (a customer who reached "Onboarded" does not un-onboard when a usage export is
  late) and its date (a day) is kept in state.  A milestone seen reached on a later run is dated that day.
- An existing customer base is not read as if it started today: on an account's *first* run, a milestone
  already reached is dated from the sources' history (its ``dated_by`` signals: subscription start, CRM
  contract start …) or else its date is *unknown* (``UNKNOWN_DAY``).  Time to First Value is computed only
  from a known date.
- Milestones have a kind.  *Outcome* milestones are the customer's progress and can be At risk / Overdue;
  *opportunity* milestones (Expansion-ready, Advocate) are the vendor's goals: "Not yet" until reached,
  never overdue, never urgent.
- Milestones live in calendar days (UTC): achievement is stored as a date, due dates are dates.  So every
  rule here works on *today* (the run's day, whole), not the run's instant: a milestone reached at 12:00
  and read back from state as that day's midnight must give the same ETA and status, or the first re-sync
  rewrites ``next_milestone_status`` depending on the time of day.
- The path is ordered, so reaching a later milestone implies the earlier ones: the current stage is then
  simply the last reached milestone, and the next one is the first not reached.
- ETA follows the customer's own pace: how long they took to reach their current stage relative to its
  plan, applied to the remaining planned gap (slowed further on a negative vector).  A milestone whose
  ETA is after its due date is *At risk*; past its due date it is *Overdue*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from connector.scoring.conditions import Columns
from connector.scoring.inputs import ScoringInputs
from connector.scoring.model import SuccessModel

NONE, ACHIEVED, ON_TRACK, AT_RISK, OVERDUE, UNKNOWN, NOT_YET = 0, 1, 2, 3, 4, 5, 6
STATUS_LABELS = {ACHIEVED: "Achieved", ON_TRACK: "On track", AT_RISK: "At risk", OVERDUE: "Overdue",
                 NOT_YET: "Not yet"}
#: Achieved on a day nobody recorded (reached before the first run, no source date): reached, never dated.
UNKNOWN_DAY = -np.inf
PACE_LIMITS = (0.5, 3.0)
NEGATIVE_SLOWDOWN = 1.5


@dataclass(frozen=True)
class MilestoneResult:
    achieved_day: np.ndarray  # (n, K) day reached, NaN if not
    due_day: np.ndarray       # (n, K)
    eta_day: np.ndarray       # (n, K) estimated day for milestones not yet reached
    status: np.ndarray        # (n, K) int8 codes above
    stage: np.ndarray         # (n,) index of the last milestone reached, −1 for none
    next: np.ndarray          # (n,) index of the next milestone, −1 when the path is complete
    ttfv_days: np.ndarray     # (n,) days from contract start to first value, NaN until reached
    expansion_ready: np.ndarray  # (n,) bool: an offer milestone reached within the expansion window
    newly_achieved: np.ndarray   # (n, K) bool: reached in this run


def path_table(model: SuccessModel, attr: str, fill: float = np.nan) -> np.ndarray:
    """(segments × K) table of one milestone attribute (``due_days``, offer ARR …), padded with ``fill``."""
    width = max(len(s.milestones) for s in model.segments.values())
    out = np.full((len(model.segments), width), fill)
    for i, seg in enumerate(model.segments.values()):
        for k, ms in enumerate(seg.milestones):
            value = getattr(ms, attr)
            out[i, k] = (value.arr if value is not None else np.nan) if attr == "offer" else float(value)
    return out


def compute_milestones(
    inputs: ScoringInputs, model: SuccessModel, seg: np.ndarray, columns: Columns, direction: np.ndarray,
    now: float,
) -> MilestoneResult:
    n = inputs.n
    today = float(np.floor(now))
    due_days = path_table(model, "due_days")[seg]
    exists = ~np.isnan(due_days)
    width = due_days.shape[1]
    reached = np.zeros((n, width), bool)
    previous = np.full((n, width), np.nan)
    prev_index = {name: j for j, name in enumerate(inputs.previous.milestone_names)}
    for s, segment in enumerate(model.segments.values()):
        rows = seg == s
        for k, ms in enumerate(segment.milestones):
            reached[:, k] |= rows & columns.where(ms.when)
            if ms.key in prev_index:
                previous[rows, k] = inputs.previous.achieved[rows, prev_index[ms.key]]
    reached |= ~np.isnan(previous)
    reached = np.logical_or.accumulate(reached[:, ::-1], axis=1)[:, ::-1] & exists
    first_seen = _first_seen_day(inputs, model, seg, columns, today, width)
    achieved_day = np.where(reached, np.where(np.isnan(previous), first_seen, previous), np.nan)
    count = reached.sum(axis=1)
    stage = (count - 1).astype(np.int16)
    path_len = exists.sum(axis=1)
    nxt = np.where(count < path_len, count, -1).astype(np.int16)
    start = inputs.contract_start
    due_day = start[:, None] + due_days
    eta_day = _eta(due_days, achieved_day, stage, nxt, start, today, direction)
    opportunity = _kind_table(model)[seg]
    status = _status(reached, exists, due_day, eta_day, today, opportunity)
    fv = np.array([[m.first_value for m in s.milestones].index(True) for s in model.segments.values()])[seg]
    fv_day = achieved_day[np.arange(n), fv]
    ttfv = np.where(np.isfinite(fv_day), np.maximum(np.floor(fv_day - start), 0.0), np.nan)
    has_offer = ~np.isnan(path_table(model, "offer"))[seg]
    window = model.orchestration.expansion_window_days
    expansion_ready = (has_offer & (achieved_day >= today - window)).any(axis=1)
    newly = reached & np.isnan(previous)
    return MilestoneResult(achieved_day, due_day, eta_day, status, stage, nxt, ttfv, expansion_ready, newly)


def _kind_table(model: SuccessModel) -> np.ndarray:
    """(segments × K) bool: the milestone is a vendor opportunity (never late)."""
    width = max(len(s.milestones) for s in model.segments.values())
    out = np.zeros((len(model.segments), width), bool)
    for i, seg in enumerate(model.segments.values()):
        for k, ms in enumerate(seg.milestones):
            out[i, k] = ms.kind == "opportunity"
    return out


def _first_seen_day(inputs: ScoringInputs, model: SuccessModel, seg: np.ndarray, columns: Columns, now: float,
                    width: int) -> np.ndarray:
    """(n × K) the day to record for a milestone seen reached for the first time.

    Later runs saw it happen: today.  An account's first run did not: the first of the milestone's
    ``dated_by`` dates the sources hold (never after today), else unknown.
    """
    n = inputs.n
    out = np.full((n, width), float(np.floor(now)))
    first_run = np.isnan(inputs.previous.trend.day)
    if not first_run.any():
        return out
    dates = {"contract_start": inputs.contract_start}
    for s, segment in enumerate(model.segments.values()):
        rows = first_run & (seg == s)
        for k, ms in enumerate(segment.milestones):
            day = np.full(n, UNKNOWN_DAY)
            for name in reversed(ms.dated_by):
                value = dates[name] if name in dates else columns.number(name)
                day = np.where(np.isfinite(value) & (value <= now), np.floor(value), day)
            out[rows, k] = day[rows]
    return out


def _eta(due_days: np.ndarray, achieved_day: np.ndarray, stage: np.ndarray, nxt: np.ndarray,
         start: np.ndarray, now: float, direction: np.ndarray) -> np.ndarray:
    rows = np.arange(due_days.shape[0])
    has_stage = stage >= 0
    s = np.maximum(stage, 0)
    ref_due = np.where(has_stage, due_days[rows, s], 0.0)
    ref_day = np.where(has_stage, achieved_day[rows, s], start)
    ref_day = np.where(np.isfinite(ref_day) | np.isnan(ref_day), ref_day, start + ref_due)  # unknown: on plan
    with np.errstate(invalid="ignore", divide="ignore"):
        pace = np.where(has_stage & (ref_due > 0), (ref_day - start) / ref_due, 1.0)
    pace = np.clip(np.nan_to_num(pace, nan=1.0), *PACE_LIMITS)
    pace = pace * np.where(direction < 0, NEGATIVE_SLOWDOWN, 1.0)
    k = np.maximum(nxt, 0)
    next_due = due_days[rows, k]
    gap = np.maximum(next_due - ref_due, 1.0) * pace
    eta_next = np.maximum(ref_day + gap, now + np.maximum(0.25 * gap, 1.0))
    eta = eta_next[:, None] + (due_days - next_due[:, None]) * pace[:, None]
    later = np.arange(due_days.shape[1])[None, :] >= k[:, None]
    return np.where(later & (nxt >= 0)[:, None], eta, np.nan)


def _status(reached: np.ndarray, exists: np.ndarray, due_day: np.ndarray, eta_day: np.ndarray,
            now: float, opportunity: np.ndarray) -> np.ndarray:
    status = np.full(reached.shape, UNKNOWN, np.int8)
    with np.errstate(invalid="ignore"):
        status[eta_day <= due_day] = ON_TRACK
        status[eta_day > due_day] = AT_RISK
        status[due_day < now] = OVERDUE
    status[opportunity] = NOT_YET
    status[reached] = ACHIEVED
    status[~exists] = NONE
    return status
