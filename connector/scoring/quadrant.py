"""Customer happiness × company profitability, and the risk flags (the priority band: ``priority.py``).

The quadrant (seed 002) exists because a happy customer can still be a bad business and a profitable one
can be quietly unhappy: both are "work to keep", for different teams.  Profitability is ARR minus a cost
to serve computed from data the connector already has (see ``docs/success_model.md``):

* the segment's fixed allocation (``cost_per_year``);
* support: tickets in the last 90 days × ``cost_per_ticket`` — ticket *volume* costs money even though it
  is not a risk signal;
* CSM time: tasks the connector gave the CSM in the last 90 days × the touch model's ``minutes_per_task``,
  plus any hours a source reports (``support_hours_90d``), × ``cost_per_csm_hour``;
* billing discounts: the recurring coupons Stripe applies (``discount_annual``) — revenue the CRM's ARR
  counts that nobody pays.

The 90-day counts are annualised (× 365/90), so every term is per year, like ARR.
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
    cost_parts: dict[str, np.ndarray] | None = None  # name → (n,) annual; they add up to ``cost_to_serve``


def compute_quadrant(model: SuccessModel, seg: np.ndarray, magnitude: np.ndarray, direction: np.ndarray,
                     arr: np.ndarray, columns: Columns) -> QuadrantResult:
    cfg = model.quadrant
    parts = cost_parts(model, seg, columns)
    cost = parts["fixed"] + parts["support"] + parts["csm_time"] + parts["discounts"]
    profit = arr - cost
    with np.errstate(invalid="ignore"):
        profitable = (arr > 0) & (profit >= cfg.min_margin * arr)
        happy = magnitude >= cfg.happy_min_vector
    if cfg.negative_direction_is_unhappy:
        happy &= direction >= 0
    quadrant = np.where(happy, np.where(profitable, 0, 2), np.where(profitable, 1, 3)).astype(np.int8)
    quadrant[np.isnan(magnitude) | np.isnan(arr)] = -1
    return QuadrantResult(quadrant, happy, profitable, cost, profit, parts)


def cost_parts(model: SuccessModel, seg: np.ndarray, columns: Columns) -> dict[str, np.ndarray]:
    """The annual cost to serve, term by term (a missing signal counts as none of that cost)."""
    cfg = model.quadrant
    segments = list(model.segments.values())
    fixed = np.array([s.cost_per_year for s in segments])[seg]
    minutes = np.array([model.touch_models[s.touch].minutes_per_task for s in segments])[seg]
    tickets = np.nan_to_num(columns.number("tickets_created_90d"), nan=0.0)
    tasks = np.nan_to_num(columns.number("csm_tasks_90d"), nan=0.0)
    hours = np.nan_to_num(columns.number("support_hours_90d"), nan=0.0) + tasks * minutes / 60.0
    return {
        "fixed": fixed,
        "support": ANNUALISE_90D * tickets * cfg.cost_per_ticket,
        "csm_time": ANNUALISE_90D * hours * cfg.cost_per_csm_hour,
        "discounts": np.maximum(np.nan_to_num(columns.number("discount_annual"), nan=0.0), 0.0),
    }


def risk_flags(model: SuccessModel, columns: Columns, direction: np.ndarray, next_overdue: np.ndarray,
               confidence: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Flag names and an (n, F) bool matrix: built-in flags first, then the model's ``[risk_flags]``."""
    names = [*BUILTIN_FLAGS, *model.risk_flags]
    flags = np.empty((columns.n, len(names)), bool)
    flags[:, 0] = direction < 0
    flags[:, 1] = next_overdue
    # Judged on the whole percent the CRM shows (``vector_confidence``), not the raw share: freshness decays
    # by the minute, so a raw 49.99 % three minutes after a 50.0 % would flip the flag with nothing changed.
    flags[:, 2] = np.round(confidence * 100) < model.vector.low_confidence
    for j, cond in enumerate(model.risk_flags.values(), start=len(BUILTIN_FLAGS)):
        flags[:, j] = columns.where(cond)
    return names, flags
