"""Stripe, usage and web-technology parts of the synthetic world (see :mod:`connector.sandbox.dataset`).

Split out of the main generator only to keep files readable; each builder takes the company list plus
the latent arrays it needs and appends its own mess flags to ``company.mess``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time

import numpy as np

from connector.sandbox import dataset_model as M
from connector.sandbox import dataset_pools as P
from connector.sandbox.dataset_ids import scrambled_ids
from connector.sandbox.world import (
    Company,
    StripeCard,
    StripeCustomer,
    StripeInvoice,
    StripeSubscription,
    Technology,
    TechProfile,
    Ticket,
    UsageRow,
)

INVOICE_STATUSES: tuple[str, ...] = ("draft", "open", "paid", "uncollectible", "void")
DRAFT, OPEN, PAID, UNCOLLECTIBLE, VOID = range(5)
INVOICES_KEPT = 3  # most recent billing periods per subscription


def midnight_s(now: datetime) -> int:
    """Epoch seconds of ``now``'s UTC midnight: contract starts are dates, anchored at midnight."""
    return int(datetime.combine(now.date(), time(0), tzinfo=UTC).timestamp())


def card_expiry(now: datetime, months_ahead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(exp_month, exp_year) for cards expiring at the end of the month ``months_ahead`` from now."""
    m = now.year * 12 + (now.month - 1) + months_ahead
    return (m % 12 + 1).astype(np.int64), (m // 12).astype(np.int64)


def build_stripe(rng: np.random.Generator, companies: Sequence[Company], health: np.ndarray,
                 churned: np.ndarray, age_days: np.ndarray, seats: np.ndarray, unit_cents: np.ndarray,
                 freemail_idx: np.ndarray, emails: list[str], offsets: np.ndarray, champ_pos: np.ndarray,
                 now: datetime, seed: int) -> list[StripeCustomer]:
    """One customer per company in Stripe: a per-seat subscription, its last invoices, maybe a card.

    Billing red flags follow health: past_due/unpaid subscriptions carry open invoices with failed
    attempts (``attempt_count > 0``); late-but-paid invoices have several attempts; cards expire soon.
    Most customers link back with ``metadata.crm_account_id``; the rest only by email domain.
    """
    idx = np.flatnonzero(np.fromiter((c.stripe_customer_id is not None for c in companies), bool,
                                     len(companies)))
    s = len(idx)
    h = health[idx]
    sick = 1.0 - h
    now_s = int(now.timestamp())
    status = M.subscription_status(rng, h, churned[idx], age_days[idx])
    auto = rng.random(s) < 0.8
    linked = rng.random(s) < 0.85
    billing_alias = rng.random(s) < 0.3
    no_domain = np.fromiter((companies[i].domain is None for i in idx.tolist()), bool, s)
    freemail = np.isin(idx, freemail_idx)
    linked = (linked | no_domain) & ~freemail

    period = M.BILLING_PERIOD_DAYS * M.DAY
    start_s = midnight_s(now) - age_days[idx] * M.DAY
    periods = (now_s - start_s) // period + 1
    period_end = start_s + periods * period
    k = np.minimum(INVOICES_KEPT, periods)
    j = np.arange(INVOICES_KEPT)
    valid = j[None, :] < k[:, None]
    inv_created = period_end[:, None] - (j[None, :] + 1) * period
    amount = np.repeat((unit_cents[idx] * seats[idx])[:, None], INVOICES_KEPT, axis=1)
    inv_status = np.full((s, INVOICES_KEPT), PAID, dtype=np.int64)
    attempts = np.ones((s, INVOICES_KEPT), dtype=np.int64)
    late = (rng.random((s, INVOICES_KEPT)) < 0.03 + 0.25 * sick[:, None]) & auto[:, None]
    attempts = np.where(late, rng.integers(2, 4, (s, INVOICES_KEPT)), attempts)
    first_try = rng.integers(1, 4, s)
    awaiting = (status == M.ACTIVE) & ~auto & (rng.random(s) < 0.5)
    void_last = rng.random(s) < 0.5
    latest = np.full(s, PAID)
    latest_attempts = attempts[:, 0].copy()
    for cond, st, at in ((status == M.PAST_DUE, OPEN, first_try), (status == M.UNPAID, OPEN, 4),
                         (awaiting, OPEN, 0), ((status == M.CANCELED) & void_last, VOID, 0)):
        latest = np.where(cond, st, latest)
        latest_attempts = np.where(cond, at, latest_attempts)
    inv_status[:, 0] = latest
    attempts[:, 0] = latest_attempts
    unpaid = status == M.UNPAID
    inv_status[:, 1] = np.where(unpaid, UNCOLLECTIBLE, inv_status[:, 1])
    attempts[:, 1] = np.where(unpaid, 4, attempts[:, 1])
    amount[:, 0] = np.where(status == M.TRIALING, 0, amount[:, 0])

    has_card = auto | (rng.random(s) < 0.3)
    exp_month, exp_year = card_expiry(now, M.card_expiry_offset_months(rng, h))
    brand = rng.integers(0, len(P.CARD_BRANDS), s)
    last4 = rng.integers(0, 10_000, s)

    sub_ids = scrambled_ids("sub_", np.arange(s), salt=seed * 31 + 2)
    n_inv = int(valid.sum())
    inv_ids = scrambled_ids("in_", np.arange(n_inv), salt=seed * 31 + 3)
    card_ids = scrambled_ids("card_", np.arange(s), salt=seed * 31 + 4)
    start_dt = M.to_datetimes(start_s)
    end_dt = M.to_datetimes(period_end)
    inv_created_dt = M.to_datetimes(inv_created[valid])
    inv_due_dt = M.to_datetimes(inv_created[valid] + 30 * M.DAY)
    inv_company = np.repeat(np.arange(s), k)
    inv_status_l = inv_status[valid].tolist()
    attempts_l = attempts[valid].tolist()
    amount_l = amount[valid].tolist()
    auto_l = auto.tolist()

    invoices_by_customer: list[list[StripeInvoice]] = [[] for _ in range(s)]
    for q, ci in enumerate(inv_company.tolist()):
        st = inv_status_l[q]
        invoices_by_customer[ci].append(StripeInvoice(
            id=inv_ids[q], subscription_id=sub_ids[ci], status=INVOICE_STATUSES[st], amount_due=amount_l[q],
            attempt_count=attempts_l[q], created=inv_created_dt[q],
            due_date=None if auto_l[ci] else inv_due_dt[q], paid=st == PAID))

    champion_at = (offsets[:-1] + champ_pos).tolist()
    out: list[StripeCustomer] = []
    cols = zip(idx.tolist(), status.tolist(), linked.tolist(), billing_alias.tolist(), freemail.tolist(),
               has_card.tolist(), exp_month.tolist(), exp_year.tolist(), brand.tolist(), last4.tolist(),
               (seats[idx]).tolist(), (unit_cents[idx]).tolist(), strict=True)
    for q, (ci, st, ln, alias, fm, hc, em, ey, br, l4, qty, uc) in enumerate(cols):
        c = companies[ci]
        champion_email = emails[champion_at[ci]]
        if fm:
            email = f"{champion_email.split('@')[0]}.{ci}@{P.FREEMAIL_DOMAINS[ci % len(P.FREEMAIL_DOMAINS)]}"
        elif alias and c.domain is not None:
            email = f"billing@{c.domain}"
        else:
            email = champion_email
        if not ln and not fm:
            c.mess.append("stripe_by_domain")
        sub = StripeSubscription(id=sub_ids[q], status=M.SUB_STATUSES[st], unit_amount=uc, quantity=qty,
                                 created=start_dt[q], current_period_end=end_dt[q])
        cards = [StripeCard(card_ids[q], P.CARD_BRANDS[br], f"{l4:04d}", em, ey)] if hc else []
        out.append(StripeCustomer(
            id=c.stripe_customer_id or "", email=email, name=c.name,
            metadata={"crm_account_id": c.salesforce_id or ""} if ln else {}, created=start_dt[q],
            subscriptions=[sub], invoices=invoices_by_customer[q], cards=cards))
    return out


def build_usage(rng: np.random.Generator, companies: Sequence[Company], health: np.ndarray,
                seats: np.ndarray, churned: np.ndarray, now: datetime) -> list[UsageRow]:
    """One warehouse row per company keyed by Salesforce id; ~5% missing and ~2% with empty cells."""
    n = len(companies)
    busy = rng.random(n) < 0.02 + 0.20 * (1.0 - health) ** 2
    u = M.draw_usage(rng, health, seats, busy, churned)
    missing = rng.random(n) < 0.05
    nulls = rng.random(n) < 0.02
    null_field = rng.integers(0, 4, n)
    rows: list[UsageRow] = []
    cols = zip(u.active_users.tolist(), seats.tolist(), u.features_adopted.tolist(),
               u.meaningful_events_30d.tolist(), missing.tolist(), nulls.tolist(), null_field.tolist(),
               strict=True)
    for i, (au, ls, fa, ev, miss, nul, nf) in enumerate(cols):
        c = companies[i]
        if miss:
            c.mess.append("no_usage")
            continue
        row = UsageRow(c.salesforce_id or c.hubspot_id or "", now, au, ls, fa, M.KEY_FEATURES_TOTAL, ev)
        if nul:
            c.mess.append("usage_nulls")
            apply_nulls(row, nf)
        rows.append(row)
    return rows


def apply_nulls(row: UsageRow, which: int) -> None:
    """Blank the cells a broken warehouse job would leave empty (which: 0–3)."""
    if which == 0:
        row.active_users = None
    elif which == 1:
        row.licensed_seats = None
    elif which == 2:
        row.features_adopted = row.key_features_total = None
    else:
        row.meaningful_events_30d = None


def build_tech(rng: np.random.Generator, companies: Sequence[Company], health: np.ndarray,
               age_days: np.ndarray, now: datetime) -> list[TechProfile]:
    """One BuiltWith-style profile per distinct domain: neutral tags, our widget, maybe a competitor.

    Our widget is installed shortly after the contract starts; for some unhealthy companies it was
    removed (``last_detected`` 45–200 days ago).  Competitor tech appears more often as health falls.
    """
    first_of: dict[str, int] = {}
    for c in companies:
        if c.domain is not None and c.domain not in first_of:
            first_of[c.domain] = c.index
    idx = np.fromiter(first_of.values(), np.int64, len(first_of))
    m = len(idx)
    h = health[idx]
    now_s = int(now.timestamp())
    nn = len(P.NEUTRAL_TECH)
    n_neutral = rng.integers(2, 5, m)
    start = rng.integers(0, nn, m)
    step = np.array([1, 3, 5, 9, 11, 13])[rng.integers(0, 6, m)]  # coprime with 14: distinct picks
    neutral_first = M.to_datetimes(now_s - rng.integers(200, 1500, (m, 4)).ravel() * M.DAY)
    neutral_last = M.to_datetimes(now_s - rng.integers(0, 14 * M.DAY, (m, 4)).ravel())
    age = age_days[idx]
    installed = rng.random(m) < 0.85
    w_first_s = midnight_s(now) - age * M.DAY + rng.integers(3, 60, m) * M.DAY
    w_first_s = np.minimum(w_first_s, now_s - M.DAY)
    removed = installed & (age > 60) & (rng.random(m) < M.widget_removed_p(h))
    w_last_s = np.where(removed, np.maximum(w_first_s + M.DAY, now_s - rng.integers(45, 201, m) * M.DAY),
                        now_s - rng.integers(0, 7 * M.DAY, m))
    competitor = rng.random(m) < M.competitor_p(h)
    comp_name = rng.integers(0, len(P.COMPETITORS), m)
    comp_first = M.to_datetimes(now_s - rng.integers(1, 151, m) * M.DAY)
    comp_last = M.to_datetimes(now_s - rng.integers(0, 7 * M.DAY, m))
    w_first = M.to_datetimes(w_first_s)
    w_last = M.to_datetimes(w_last_s)
    out: list[TechProfile] = []
    cols = zip(idx.tolist(), n_neutral.tolist(), start.tolist(), step.tolist(), installed.tolist(),
               competitor.tolist(), comp_name.tolist(), strict=True)
    for q, (ci, nneu, st, sp, inst, comp, cn) in enumerate(cols):
        techs = [Technology(P.NEUTRAL_TECH[(st + sp * r) % nn][0], P.NEUTRAL_TECH[(st + sp * r) % nn][1],
                            neutral_first[q * 4 + r], neutral_last[q * 4 + r]) for r in range(nneu)]
        if inst:
            techs.append(Technology(P.OWN_TECHNOLOGY, P.CS_TAG, w_first[q], w_last[q]))
        if comp:
            techs.append(Technology(P.COMPETITORS[cn], P.CS_TAG, comp_first[q], comp_last[q]))
        out.append(TechProfile(companies[ci].domain or "", techs))
    return out


def make_tickets(companies: Sequence[Company], t_company: np.ndarray, created: np.ndarray, d: M.TicketDraws,
                 requester: np.ndarray, emails: list[str], now_s: int, first_id: int) -> list[Ticket]:
    """Assemble Ticket dataclasses from vectorised draws (shared with :func:`evolve`)."""
    solve_at = created + d.resolution_s
    status = M.ticket_status(created, solve_at, d.never_solved, d.open_status, now_s)
    solved = status >= 4
    updated = np.where(status == 5, solve_at + M.CLOSE_AFTER_SOLVED_DAYS * M.DAY,
                       np.where(solved, solve_at, created + ((now_s - created) * d.updated_frac).astype(np.int64)))
    created_dt = M.to_datetimes(created)
    updated_dt = M.to_datetimes(np.minimum(updated, now_s))
    solved_dt = M.to_datetimes(solve_at)
    org_ids = [c.zendesk_org_id for c in companies]
    out: list[Ticket] = []
    cols = zip(t_company.tolist(), status.tolist(), d.priority.tolist(), d.topic.tolist(),
               d.escalated.tolist(), requester.tolist(), solved.tolist(), strict=True)
    for k, (ci, st, pr, tp, esc, rq, sv) in enumerate(cols):
        subject, tag = P.TICKET_TOPICS[tp]
        out.append(Ticket(
            id=first_id + k, organization_id=org_ids[ci], requester_email=emails[rq],
            subject=subject, status=M.TICKET_STATUSES[st], priority=P.TICKET_PRIORITIES[pr],
            created_at=created_dt[k], updated_at=updated_dt[k], solved_at=solved_dt[k] if sv else None,
            tags=[tag, "escalated"] if esc else [tag],
        ))
    return out
