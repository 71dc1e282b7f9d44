"""How each observable signal follows a company's latent health — shared by generation and evolution.

Every function here takes numpy arrays of latent state and returns vectorised draws.  Keeping the
models in one place is what keeps :func:`~connector.sandbox.dataset.generate_world` and
:func:`~connector.sandbox.dataset.evolve` coherent: a ticket filed during a demo's "two weeks later"
resolves exactly as slowly, for the same health, as one generated with the world.

The relations are deliberately *correlations, not rules* (DOMAIN.md): an engagement factor independent of
health drives ticket volume (engaged healthy customers file many tickets), and an "activity" factor lets
some unhealthy customers log in a lot while doing little that is meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

F = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

DAY = 86_400
TICKET_WINDOW_DAYS = 180
MAX_TICKETS = 30
KEY_FEATURES_TOTAL = 12
BILLING_PERIOD_DAYS = 30
CLOSE_AFTER_SOLVED_DAYS = 4  # Zendesk's default automation closes solved tickets after 4 days

# Per segment (Enterprise, Mid-Market, SMB).
SEGMENT_P = np.array([0.10, 0.30, 0.60])
SEAT_LOG_MEAN = np.log(np.array([400.0, 70.0, 12.0]))
PRICE_PER_SEAT = np.array([95.0, 60.0, 35.0])  # USD per seat per month
TICKET_RATE = np.array([11.0, 6.0, 2.5])  # mean tickets per 180 days at average engagement
CONTACTS_LO = np.array([3, 2, 2])
CONTACTS_HI = np.array([6, 5, 4])
TRAINING_RATE = np.array([6.0, 3.0, 1.0])
SERVICES_P = np.array([0.55, 0.25, 0.05])

SUB_STATUSES: tuple[str, ...] = ("active", "past_due", "unpaid", "trialing", "canceled", "paused")
ACTIVE, PAST_DUE, UNPAID, TRIALING, CANCELED, PAUSED = range(6)
TICKET_STATUSES: tuple[str, ...] = ("new", "open", "pending", "hold", "solved", "closed")


def to_datetimes(epoch_seconds: npt.ArrayLike) -> list[datetime]:
    """Epoch seconds → aware UTC datetimes (``fromtimestamp`` is the fastest path, ~0.4 µs each)."""
    fts = datetime.fromtimestamp
    return [fts(s, UTC) for s in np.asarray(epoch_seconds, dtype=np.int64).tolist()]


def ticket_rate(health: F, engagement: F, segment: Ints) -> F:
    """Expected tickets per 180 days: engagement (health-neutral) × a mild rise when things go wrong."""
    return TICKET_RATE[segment] * engagement * (0.7 + 0.8 * (1.0 - health))


@dataclass
class TicketDraws:
    """Vectorised attributes of a batch of tickets (index i = ticket i)."""

    resolution_s: Ints  # how long it takes (or would take) to solve
    never_solved: B  # stays unresolved regardless of age
    priority: Ints  # index into dataset_pools.TICKET_PRIORITIES
    escalated: B
    topic: Ints
    open_status: Ints  # which unsolved status (1 open, 2 pending, 3 hold) if unsolved and not new
    updated_frac: F  # where between created and now the last update of an unsolved ticket falls


def draw_tickets(rng: np.random.Generator, health: F, n_topics: int) -> TicketDraws:
    """Resolution hours→weeks, unresolved share, priority and escalation, all worsening with low health."""
    sick = 1.0 - health
    n = len(health)
    hours = np.exp(rng.normal(np.log(5.0) + 3.6 * sick, 1.05, n))  # median 5 h healthy → ~9 days sick
    never = rng.random(n) < 0.03 + 0.32 * sick**1.5
    u = rng.random(n)
    p_urgent = 0.02 + 0.14 * sick
    p_high = p_urgent + 0.10 + 0.15 * sick
    p_none = p_high + 0.08
    p_low = p_none + 0.20 * health
    priority = np.where(u < p_urgent, 3, np.where(u < p_high, 2, np.where(u < p_none, 4,
                        np.where(u < p_low, 0, 1))))
    escalated = rng.random(n) < 0.01 + 0.16 * sick**1.5 + 0.05 * never
    topic = rng.integers(0, n_topics, n)
    open_status = rng.choice(np.array([1, 2, 3]), size=n, p=[0.55, 0.30, 0.15])
    updated_frac = rng.random(n)
    return TicketDraws(
        resolution_s=np.maximum(600, hours * 3600).astype(np.int64),
        never_solved=never, priority=priority.astype(np.int64), escalated=escalated,
        topic=topic.astype(np.int64), open_status=open_status.astype(np.int64), updated_frac=updated_frac,
    )


def ticket_status(created_s: Ints, solve_at_s: Ints, never: B, open_status: Ints, now_s: int) -> Ints:
    """Status index at ``now_s``: solved→closed after 4 days; young unsolved tickets are mostly ``new``."""
    solved = ~never & (solve_at_s <= now_s)
    closed = solved & (now_s - solve_at_s > CLOSE_AFTER_SOLVED_DAYS * DAY)
    young = (now_s - created_s) < DAY
    unsolved = np.where(young & (open_status != 3), 0, open_status)
    return np.where(closed, 5, np.where(solved, 4, unsolved)).astype(np.int64)


@dataclass
class UsageDraws:
    active_users: Ints
    features_adopted: Ints
    meaningful_events_30d: Ints


def draw_usage(rng: np.random.Generator, health: F, seats: Ints, busy: B, churned: B) -> UsageDraws:
    """Seat utilisation, feature breadth and *meaningful* events from health.

    ``busy`` marks companies that log in a lot whatever their health — their active users are high but
    their meaningful events and feature breadth still follow health, because activity is not success.
    """
    n = len(health)
    util = np.clip(0.12 + 0.80 * health + rng.normal(0.0, 0.12, n), 0.02, 1.0)
    util = np.where(busy, rng.uniform(0.75, 1.0, n), util)
    util = np.where(churned, util * 0.1, util)
    active = np.minimum(seats, np.round(seats * util)).astype(np.int64)
    breadth_p = np.clip(0.12 + 0.78 * health + rng.normal(0.0, 0.06, n), 0.02, 0.98)
    features = rng.binomial(KEY_FEATURES_TOTAL, breadth_p).astype(np.int64)
    events = rng.poisson(active * (1.0 + 24.0 * health**2)).astype(np.int64)
    return UsageDraws(active, np.where(churned, 0, features), np.where(churned, 0, events))


def subscription_status(rng: np.random.Generator, health: F, churned: B, age_days: Ints) -> Ints:
    """Billing state: past_due/unpaid rise steeply as health falls; churned → canceled, new → trialing."""
    sick = 1.0 - health
    u = rng.random(len(health))
    p_unpaid = 0.005 + 0.10 * sick**3
    p_past_due = p_unpaid + 0.02 + 0.32 * sick**2
    p_paused = p_past_due + 0.003
    status = np.where(u < p_unpaid, UNPAID, np.where(u < p_past_due, PAST_DUE,
                      np.where(u < p_paused, PAUSED, ACTIVE)))
    status = np.where(age_days < 14, TRIALING, status)
    return np.where(churned, CANCELED, status).astype(np.int64)


def card_expiry_offset_months(rng: np.random.Generator, health: F) -> Ints:
    """Months from now until the card expires: 0–2 (soon) far more often for unhealthy companies."""
    n = len(health)
    soon = rng.random(n) < 0.04 + 0.28 * (1.0 - health)
    return np.where(soon, rng.integers(0, 3, n), rng.integers(3, 49, n)).astype(np.int64)


def competitor_p(health: F) -> F:
    """Probability that a competitor's technology shows up on the customer's web properties."""
    return 0.03 + 0.40 * (1.0 - health) ** 2


def widget_removed_p(health: F) -> F:
    """Probability that our own widget, once detected, has since disappeared."""
    return 0.02 + 0.40 * (1.0 - health) ** 2


def champion_change_p(health: F) -> F:
    """Probability that the internal champion changed in the last ~9 months."""
    return 0.04 + 0.32 * (1.0 - health) ** 1.5
