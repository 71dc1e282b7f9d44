"""Customer happiness × company profitability, and the risk flags (the priority band: ``priority.py``).

The quadrant (seed 002) exists because a happy customer can still be a bad business and a profitable one
can be quietly unhappy: both are "work to keep", for different teams.  Profitability is ARR minus a
configurable cost to serve (tickets and CSM hours, annualised from their 90-day counts, plus the
segment's fixed allocation) — ticket *volume* costs money even though it is not a risk signal.
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
    # Judged on the whole percent the CRM shows (``vector_confidence``), not the raw share: freshness decays
    # by the minute, so a raw 49.99 % three minutes after a 50.0 % would flip the flag with nothing changed.
    flags[:, 2] = np.round(confidence * 100) < model.vector.low_confidence
    for j, cond in enumerate(model.risk_flags.values(), start=len(BUILTIN_FLAGS)):
        flags[:, j] = columns.where(cond)
    return names, flags
