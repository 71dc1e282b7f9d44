"""The cost side of the synthetic world: billing discounts and the support load that makes a customer costly.

Without it every sandbox account was profitable (ARR far above a few tickets' cost), so the success model's
profitability axis never separated anyone and the quadrant's "unprofitable" and "Reassess" cells stayed
empty.  Real books have both: most customers carry a small standing discount, and a few small ones were
won with a deep concession and then file ticket after ticket.  Those are drawn here:

* **standing discounts** — about a fifth of Stripe customers have a 5–20 % ``forever`` coupon;
* **concession accounts** — small self-serve customers (≤ :data:`CONCESSION_MAX_SEATS` seats), more often
  the struggling ones (deep discounts are the price of a save), with a 40–75 % coupon and a heavy support
  load (extra tickets over the last 180 days, in the same ticket model as every other ticket, so they
  resolve as slowly as the customer's health says).  Later weeks keep the load:
  :func:`~connector.sandbox.dataset_evolve.evolve` sets each company's ticket rate from its recent volume.

A separate random stream (seeded from the world's seed) keeps every other draw of the world unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from connector.sandbox import dataset_model as M
from connector.sandbox import dataset_pools as P
from connector.sandbox.dataset_parts import make_tickets
from connector.sandbox.world import Company, StripeCustomer, Ticket

STREAM = 0xC057
STANDING_P, STANDING_OFF = 0.20, (5.0, 20.0)
SMB = P.SEGMENTS.index("SMB")
CONCESSION_MAX_SEATS = 14
#: Chance that a small self-serve customer is a concession account: deep discounts are most often the price
#: of saving a struggling customer, so it rises as health falls.
CONCESSION_P = (0.06, 0.45)
CONCESSION_OFF = (40.0, 75.0)
#: Extra tickets per 180 days on a concession account (on top of its ordinary volume).
CONCESSION_TICKETS = (14.0, 28.0)


def discounted(amount_cents: int, percent_off: float | None) -> int:
    """An invoice's amount after the subscription's percent-off coupon, in whole cents (Stripe rounds)."""
    return amount_cents if not percent_off else round(amount_cents * (1.0 - percent_off / 100.0))


def add_costs(companies: Sequence[Company], seg: np.ndarray, seats: np.ndarray, health: np.ndarray,
              customers: Sequence[StripeCustomer], tickets: list[Ticket], emails: list[str], offsets: np.ndarray,
              now_s: int, seed: int) -> np.ndarray:
    """Give customers their coupons and the concession accounts their tickets (in place).

    Returns the boolean mask of concession accounts (tests and benches check them by the truth)."""
    n = len(companies)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, STREAM])
    billed = np.fromiter((c.stripe_customer_id is not None for c in companies), bool, n)
    in_zendesk = np.fromiter((c.zendesk_org_id is not None for c in companies), bool, n)
    concession = billed & in_zendesk & (seg == SMB) & (seats <= CONCESSION_MAX_SEATS)
    concession &= rng.random(n) < CONCESSION_P[0] + CONCESSION_P[1] * (1.0 - health)
    standing = billed & ~concession & (rng.random(n) < STANDING_P)
    off = np.where(concession, rng.uniform(*CONCESSION_OFF, n), np.where(standing, rng.uniform(*STANDING_OFF, n), 0.0))
    off = np.round(off)
    by_id = {c.stripe_customer_id: c.index for c in companies if c.stripe_customer_id is not None}
    off_l = off.tolist()
    for customer in customers:
        ci = by_id.get(customer.id)
        if ci is None or not off_l[ci]:
            continue
        for sub in customer.subscriptions:
            sub.percent_off = off_l[ci]
        for inv in customer.invoices:
            inv.amount_due = discounted(inv.amount_due, off_l[ci])

    org_row = {c.zendesk_org_id: c.index for c in companies if c.zendesk_org_id is not None}
    have = np.bincount([org_row[t.organization_id] for t in tickets if t.organization_id in org_row], minlength=n)
    extra = np.where(concession, rng.poisson(rng.uniform(*CONCESSION_TICKETS, n)), 0)
    extra = np.clip(extra, 0, np.maximum(M.MAX_TICKETS - have, 0))  # the world's cap per company still holds
    t_company = np.repeat(np.arange(n), extra)
    created = now_s - rng.integers(0, M.TICKET_WINDOW_DAYS * M.DAY, len(t_company))
    n_cont = np.diff(offsets)
    requester = offsets[t_company] + (rng.random(len(t_company)) * n_cont[t_company]).astype(np.int64)
    d = M.draw_tickets(rng, health[t_company], len(P.TICKET_TOPICS))
    first_id = max((t.id for t in tickets), default=0) + 1
    tickets.extend(make_tickets(companies, t_company, created, d, requester, emails, now_s, first_id))
    return concession
