"""Business outcomes in the evolving world: customers churn, downgrade and expand, more or less as health says.

``connector backtest`` asks whether the model's warnings came before what happened to the customer.  For
that question to have an answer in the sandbox, the world must *have* outcomes while the demo runs, and they
must be neither certain nor independent of health: each step draws, per live company, a monthly hazard

* churn (cancellation) ``0.004 + 0.25 × (1 − health)³``,
* downgrade (fewer seats) ``0.01 + 0.15 × (1 − health)²``,
* expansion (more seats) ``0.005 + 0.10 × health³``,

each × ``1 + 1.5 × slide`` (churn, downgrade) or ``1 + 1.5 × climb`` (expansion), where slide / climb is how
fast health is falling / rising (the world's latent trend, 0–1).  So a struggling or sliding customer is
far likelier to leave or shrink, and a healthy, improving one to grow, but either can surprise.  Nothing
here knows the connector's scores: the backtest measures the connector against the world's latent health,
not against itself.  The changes reach the systems the way real ones do (see
:mod:`connector.sandbox.evolution`): Stripe cancels the subscription or changes its quantity, the CRM's
ARR and churn fields are edited, the usage export shows the new seat count.

A separate random stream (seeded from the world's seed, the step's seed and the clock) keeps every other
draw of the evolution unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from connector.sandbox import dataset_pools as P
from connector.sandbox.world import World

STREAM = 0x0C7C
CHURN = (0.004, 0.25)
DOWNGRADE = (0.01, 0.15)
EXPANSION = (0.005, 0.10)
TREND = 1.5
#: A seat change moves the seat count by this share (drawn uniformly), at least one seat.
CHANGE = (0.1, 0.4)


@dataclass
class Outcomes:
    """Company indices that churned, downgraded or expanded in one step (what the demo can report)."""

    churned: list[int] = field(default_factory=list)
    downgraded: list[int] = field(default_factory=list)
    expanded: list[int] = field(default_factory=list)


def monthly(rate: np.ndarray, days: float) -> np.ndarray:
    """Probability of at least one event in ``days`` for a monthly hazard ``rate``."""
    return 1.0 - np.exp(-rate * days / 30.0)


def draw_outcomes(world: World, health: np.ndarray, trend: np.ndarray, days: float, seed: int,
                  clock_s: int) -> Outcomes:
    """Mutate churned / seats / ARR of the world's companies (in place) and say who changed."""
    comps = world.companies
    n = len(comps)
    rng = np.random.default_rng([world.seed & 0xFFFFFFFF, seed & 0xFFFFFFFF, clock_s & 0xFFFFFFFF, STREAM])
    live = ~np.fromiter((c.churned for c in comps), bool, n)
    sick = 1.0 - health
    slide, climb = 1.0 + TREND * np.clip(-trend, 0.0, 1.0), 1.0 + TREND * np.clip(trend, 0.0, 1.0)
    u = rng.random((3, n))
    churn = live & (u[0] < monthly((CHURN[0] + CHURN[1] * sick**3) * slide, days))
    down = live & ~churn & (u[1] < monthly((DOWNGRADE[0] + DOWNGRADE[1] * sick**2) * slide, days))
    up = live & ~churn & ~down & (u[2] < monthly((EXPANSION[0] + EXPANSION[1] * health**3) * climb, days))
    share = rng.uniform(*CHANGE, n)
    reason = rng.integers(0, len(P.CHURN_REASONS), n)
    out = Outcomes()
    for i in np.flatnonzero(churn).tolist():
        comps[i].churned = True
        comps[i].churn_reason = P.CHURN_REASONS[int(reason[i])]
        out.churned.append(i)
    for i in np.flatnonzero(down | up).tolist():
        c = comps[i]
        step = max(1, math.floor(c.seats * float(share[i])))
        seats = max(1, c.seats - step) if down[i] else c.seats + step
        if seats == c.seats:
            continue
        c.arr = round(c.arr * seats / c.seats, 2)  # the same price per seat
        c.seats = seats
        (out.downgraded if down[i] else out.expanded).append(i)
    return out
