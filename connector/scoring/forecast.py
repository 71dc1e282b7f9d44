"""Expansion forecast: who reaches an offer milestone soon, times its value, times the take rate.

This is the domain's own example ("100 customers reach milestone X next month; it carries a $1,000 ARR
upsell; customers on a positive vector take it 90 % of the time → $90k"): the ETA comes from each
customer's pace (:mod:`milestones`), the take rate from the direction of its vector, because a customer
sliding backwards rarely buys more.  Horizons are cumulative (the 60-day figure includes the 30-day one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from connector.scoring.inputs import day_to_date
from connector.scoring.milestones import ACHIEVED, NONE, MilestoneResult
from connector.scoring.model import DIRECTIONS, SuccessModel


def expansion_forecast(model: SuccessModel, seg: np.ndarray, ms: MilestoneResult, direction: np.ndarray,
                       excluded: np.ndarray, now: float) -> dict[str, Any]:
    """JSON-able forecast per offer milestone and in total, for each horizon in ``[forecast]``."""
    horizons = sorted(model.forecast.horizons_days)
    rates = np.array([model.forecast.take_rate[d] for d in DIRECTIONS])
    totals = dict.fromkeys(horizons, 0.0)
    offers = []
    days_out = ms.eta_day - now
    pending = (ms.status != ACHIEVED) & (ms.status != NONE) & ~excluded[:, None]
    for s, (seg_key, segment) in enumerate(model.segments.items()):
        in_seg = seg == s
        for k, milestone in enumerate(segment.milestones):
            if milestone.offer is None:
                continue
            base = in_seg & pending[:, k]
            per_h = {}
            for h in horizons:
                counts = np.bincount(direction[base & (days_out[:, k] <= h)] + 1, minlength=3)
                value = float((counts * rates).sum() * milestone.offer.arr)
                totals[h] += value
                per_h[str(h)] = {
                    "accounts": int(counts.sum()),
                    "by_direction": {d: int(c) for d, c in zip(DIRECTIONS, counts, strict=True)},
                    "forecast_arr": round(value, 2),
                }
            offers.append({
                "segment": seg_key,
                "milestone": milestone.key,
                "milestone_name": milestone.name,
                "offer": milestone.offer.name,
                "offer_arr": milestone.offer.arr,
                "horizons": per_h,
            })
    as_of = day_to_date(now)
    return {
        "as_of": as_of.isoformat() if as_of else None,
        "horizons_days": horizons,
        "take_rate": dict(model.forecast.take_rate),
        "offers": offers,
        "total_arr": {str(h): round(v, 2) for h, v in totals.items()},
    }
