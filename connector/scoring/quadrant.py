"""Customer happiness × company profitability, risk flags, and the priority band support queues sort by.

The quadrant (seed 002) exists because a happy customer can still be a bad business and a profitable one
can be quietly unhappy: both are "work to keep", for different teams.  Profitability is ARR minus a
configurable cost to serve (tickets and CSM hours, annualised from their 90-day counts, plus the
segment's fixed allocation) — ticket *volume* costs money even though it is not a risk signal.

The priority band lets a support agent take an at-risk lower-value customer before a high-value customer
on a positive vector: risk dominates, ARR breaks ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from connector.scoring.conditions import Columns
from connector.scoring.model import SuccessModel

QUADRANTS = ("Success", "Work to keep (unhappy)", "Work to keep (unprofitable)", "Reassess")
BUILTIN_FLAGS = ("vector_negative", "milestone_overdue", "low_confidence")
ANNUALISE_90D = 365.0 / 90.0


@dataclass(frozen=True)
class QuadrantResult:
    quadrant: np.ndarray       # (n,) int8 index into QUADRANTS, −1 when unknown (no score or no ARR)
    happy: np.ndarray          # (n,) bool
    profitable: np.ndarray     # (n,) bool
    cost_to_serve: np.ndarray  # (n,) annual
    profit: np.ndarray         # (n,)


def compute_quadrant(model: SuccessModel, seg: np.ndarray, magnitude: np.ndarray, direction: np.ndarray,
                     arr: np.ndarray, columns: Columns) -> QuadrantResult:
    cfg = model.quadrant
    fixed = np.array([s.cost_per_year for s in model.segments.values()])[seg]
    tickets = np.nan_to_num(columns.number("tickets_created_90d"), nan=0.0)
    hours = np.nan_to_num(columns.number("support_hours_90d"), nan=0.0)
    cost = fixed + ANNUALISE_90D * (tickets * cfg.cost_per_ticket + hours * cfg.cost_per_csm_hour)
    profit = arr - cost
    with np.errstate(invalid="ignore"):
        profitable = (arr > 0) & (profit >= cfg.min_margin * arr)
        happy = magnitude >= cfg.happy_min_vector
    if cfg.negative_direction_is_unhappy:
        happy &= direction >= 0
    quadrant = np.where(happy, np.where(profitable, 0, 2), np.where(profitable, 1, 3)).astype(np.int8)
    quadrant[np.isnan(magnitude) | np.isnan(arr)] = -1
    return QuadrantResult(quadrant, happy, profitable, cost, profit)


def risk_flags(model: SuccessModel, columns: Columns, direction: np.ndarray, next_overdue: np.ndarray,
               confidence: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Flag names and an (n, F) bool matrix: built-in flags first, then the model's ``[risk_flags]``."""
    names = [*BUILTIN_FLAGS, *model.risk_flags]
    flags = np.empty((columns.n, len(names)), bool)
    flags[:, 0] = direction < 0
    flags[:, 1] = next_overdue
    flags[:, 2] = confidence * 100 < model.vector.low_confidence
    for j, cond in enumerate(model.risk_flags.values(), start=len(BUILTIN_FLAGS)):
        flags[:, j] = columns.where(cond)
    return names, flags


def priority_band(model: SuccessModel, magnitude: np.ndarray, direction: np.ndarray, next_status_risk: np.ndarray,
                  next_overdue: np.ndarray, flag_names: list[str], flags: np.ndarray,
                  arr: np.ndarray) -> np.ndarray:
    """1…4 (P1 = act first): urgency 0–2 from risk, +1 for high ARR, mapped so the most urgent is P1."""
    cfg = model.priority
    urgent_cols = [j for j, f in enumerate(flag_names) if f in cfg.urgent_flags]
    other_cols = [j for j, f in enumerate(flag_names) if f not in cfg.urgent_flags and f != "low_confidence"]
    with np.errstate(invalid="ignore"):
        urgent = (direction < 0) | next_overdue | (magnitude < cfg.at_risk_below) | flags[:, urgent_cols].any(axis=1)
        watch = next_status_risk | (magnitude < cfg.watch_below) | flags[:, other_cols].any(axis=1)
        high_value = arr >= cfg.high_arr
    urgency = np.where(urgent, 2, np.where(watch, 1, 0))
    return (4 - urgency - high_value.astype(np.int64)).clip(1, 4).astype(np.int8)
