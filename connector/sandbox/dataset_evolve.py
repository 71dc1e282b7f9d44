"""Advance a synthetic world by N days so a demo shows movement (see :func:`evolve`).

``evolve`` **mutates the world in place** (and returns it for chaining): the emulators hold references
to the same dataclasses, and copying a million-account world per demo step would be slow and
pointless.  Every change follows the same models as generation (:mod:`dataset_model`), so coherence
survives: a company sliding along a negative trend starts failing payments, its tickets stay open, its
champion may leave and a competitor may show up.
"""

from __future__ import annotations

import gc
import math
from datetime import datetime, timedelta

import numpy as np

from connector.sandbox import dataset_model as M
from connector.sandbox import dataset_pools as P
from connector.sandbox.dataset_costs import discounted
from connector.sandbox.dataset_ids import numeric_ids, salesforce_ids, scrambled_ids
from connector.sandbox.dataset_outcomes import draw_outcomes
from connector.sandbox.dataset_parts import INVOICE_STATUSES, PAID, card_expiry, make_tickets
from connector.sandbox.world import Company, Contact, StripeInvoice, Technology, World

UNSOLVED = frozenset({"new", "open", "pending", "hold"})
_SEG = {s: k for k, s in enumerate(P.SEGMENTS)}


def evolve(world: World, days: float, seed: int = 0) -> World:
    """Move ``world`` forward by ``days`` (in place; returns the same object).

    Deterministic for ``(world state, days, seed)``: the random stream is seeded from the world's seed,
    this ``seed`` and the world's current clock, so successive steps differ but replays do not.
    """
    if days < 0:
        raise ValueError("days must be >= 0")
    gc_was = gc.isenabled()
    gc.disable()  # bulk object churn; see generate_world
    try:
        return _evolve(world, days, seed)
    finally:
        if gc_was:
            gc.enable()


def _evolve(world: World, days: float, seed: int) -> World:
    old_now = world.generated_at
    new_now = old_now + timedelta(seconds=round(days * M.DAY))
    old_s, new_s = int(old_now.timestamp()), int(new_now.timestamp())
    rng = np.random.default_rng([world.seed & 0xFFFFFFFF, seed & 0xFFFFFFFF, old_s & 0xFFFFFFFF])
    comps = world.companies
    n = len(comps)
    f = days / 30.0

    # 1. Health drifts along trend (with noise); trend itself wanders and decays slightly.
    health = np.fromiter((c.health for c in comps), float, n)
    trend = np.fromiter((c.trend for c in comps), float, n)
    trend = np.clip(trend * (1.0 - 0.02 * f) + rng.normal(0.0, 0.06 * math.sqrt(f), n), -1.0, 1.0)
    health = np.clip(health + 0.05 * trend * f + rng.normal(0.0, 0.015 * math.sqrt(f), n), 0.0, 1.0)
    for c, h, t in zip(comps, health.tolist(), trend.tolist(), strict=True):
        c.health, c.trend = h, t
    draw_outcomes(world, health, trend, days, seed, old_s)  # churn, downgrades and expansions follow health

    _evolve_tickets(world, rng, health, days, old_s, new_s)
    _evolve_billing(world, rng, health, new_now)
    _evolve_usage(world, rng, health, new_now)
    _evolve_people_and_tech(world, rng, health, days, new_now)
    world.generated_at = new_now
    return world


def _company_of_ticket(world: World) -> tuple[dict[int, int], dict[str, int]]:
    """Zendesk org id → company and domain → company (for tickets without an organisation)."""
    by_org = {c.zendesk_org_id: c.index for c in world.companies if c.zendesk_org_id is not None}
    by_dom: dict[str, int] = {}
    for c in world.companies:
        if c.domain is not None:
            by_dom.setdefault(c.domain, c.index)
    return by_org, by_dom


def _evolve_tickets(world: World, rng: np.random.Generator, health: np.ndarray, days: float, old_s: int,
                    new_s: int) -> None:
    """Open tickets get solved at a health-dependent rate; solved ones close; new tickets arrive."""
    by_org, by_dom = _company_of_ticket(world)
    n = len(world.companies)
    recent = np.zeros(n)
    open_idx: list[int] = []
    open_comp: list[int] = []
    for k, t in enumerate(world.tickets):
        ci = by_org.get(t.organization_id) if t.organization_id is not None else \
            by_dom.get(t.requester_email.rsplit("@", 1)[-1])
        if ci is None:
            continue
        if new_s - t.created_at.timestamp() < M.TICKET_WINDOW_DAYS * M.DAY:
            recent[ci] += 1
        if t.status in UNSOLVED:
            open_idx.append(k)
            open_comp.append(ci)
        elif t.status == "solved" and t.solved_at is not None:
            close_s = t.solved_at.timestamp() + M.CLOSE_AFTER_SOLVED_DAYS * M.DAY
            if close_s <= new_s:
                t.status, t.updated_at = "closed", datetime.fromtimestamp(close_s, world.generated_at.tzinfo)

    # Existing unsolved tickets: exponential hazard with the health-dependent median resolution time;
    # "stuck" tickets (low health) get a quarter of the hazard.
    h_open = health[np.asarray(open_comp, dtype=np.int64)]
    median_h = np.exp(np.log(5.0) + 3.6 * (1.0 - h_open))
    stuck = rng.random(len(h_open)) < 0.03 + 0.32 * (1.0 - h_open) ** 1.5
    hazard = np.log(2) / median_h * np.where(stuck, 0.25, 1.0)
    p_solve = 1.0 - np.exp(-hazard * days * 24.0)
    solve = rng.random(len(h_open)) < p_solve
    when = old_s + (rng.random(len(h_open)) * (new_s - old_s)).astype(np.int64)
    status_pick = rng.choice(np.array(["open", "pending", "hold"]), size=len(h_open), p=[0.6, 0.3, 0.1])
    touched = rng.random(len(h_open)) < 1.0 - np.exp(-days / 3.0)
    move_on = rng.random(len(h_open)) < 0.3
    tz = world.generated_at.tzinfo
    for k, sv, w, sp, tc, mv in zip(open_idx, solve.tolist(), when.tolist(), status_pick.tolist(),
                                    touched.tolist(), move_on.tolist(), strict=True):
        t = world.tickets[k]
        if sv:
            t.solved_at = datetime.fromtimestamp(w, tz)
            closed = new_s - w > M.CLOSE_AFTER_SOLVED_DAYS * M.DAY
            t.status = "closed" if closed else "solved"
            t.updated_at = datetime.fromtimestamp(
                w + M.CLOSE_AFTER_SOLVED_DAYS * M.DAY if closed else w, tz)
        elif tc:
            t.status = sp if t.status == "new" or mv else t.status
            t.updated_at = datetime.fromtimestamp(w, tz)

    # New tickets: each company keeps its own level (observed recent volume), health shifts the rate.
    seg = np.array([_SEG.get(c.segment, 2) for c in world.companies], dtype=np.int64)
    base = M.ticket_rate(health, np.ones(n), seg)
    engagement = (recent + 0.5) / (base + 0.5)
    eligible = np.fromiter((c.zendesk_org_id is not None or "tickets_without_org" in c.mess
                            for c in world.companies), bool, n)
    lam = M.ticket_rate(health, engagement, seg) * eligible * (days / M.TICKET_WINDOW_DAYS)
    counts = rng.poisson(lam)
    t_company = np.repeat(np.arange(n), counts)
    created = old_s + 1 + (rng.random(len(t_company)) * max(new_s - old_s - 1, 0)).astype(np.int64)
    emails = [ct.email for c in world.companies for ct in c.contacts]
    offsets = np.r_[0, np.cumsum([len(c.contacts) for c in world.companies])].astype(np.int64)
    n_cont = np.diff(offsets)
    requester = offsets[t_company] + (rng.random(len(t_company)) * n_cont[t_company]).astype(np.int64)
    d = M.draw_tickets(rng, health[t_company], len(P.TICKET_TOPICS))
    first_id = max((t.id for t in world.tickets), default=0) + 1
    world.tickets.extend(make_tickets(world.companies, t_company, created, d, requester, emails, new_s,
                                      first_id))


def _evolve_billing(world: World, rng: np.random.Generator, health: np.ndarray, new_now: datetime) -> None:
    """Billing periods roll over; invoices get paid or fail; subscription status follows the invoices."""
    by_cus = {c.stripe_customer_id: c for c in world.companies if c.stripe_customer_id is not None}
    n_inv = sum(len(cu.invoices) for cu in world.stripe_customers)
    period = timedelta(days=M.BILLING_PERIOD_DAYS)
    fresh: list[StripeInvoice] = []  # ids assigned in one vectorised batch at the end
    for cu in world.stripe_customers:
        comp = by_cus.get(cu.id)
        if comp is None or not cu.subscriptions:
            continue
        h = float(health[comp.index])
        sub = cu.subscriptions[0]
        p_fail = 0.01 + 0.35 * (1.0 - h) ** 2
        # Retry or settle what is open.
        for inv in cu.invoices:
            if inv.status == "open":
                if rng.random() < 0.25 + 0.7 * h:
                    inv.status, inv.paid = INVOICE_STATUSES[PAID], True
                    inv.attempt_count = max(1, inv.attempt_count + 1)
                else:
                    inv.attempt_count = min(4, inv.attempt_count + 1)
        if sub.status not in ("canceled", "paused"):
            sub.quantity = comp.seats  # a seat change takes effect now (Stripe prorates; the demo does not)
            while sub.current_period_end <= new_now:
                created = sub.current_period_end
                sub.current_period_end = created + period
                fail = rng.random() < p_fail
                sub.quantity = comp.seats
                fresh.append(StripeInvoice(
                    id="", subscription_id=sub.id, status="open" if fail else "paid",
                    amount_due=discounted(sub.unit_amount * sub.quantity, sub.percent_off),
                    attempt_count=1, created=created,
                    due_date=None if cu.cards else created + period, paid=not fail))
                cu.invoices.append(fresh[-1])
            still_open = [inv for inv in cu.invoices if inv.status == "open" and inv.attempt_count > 0]
            if comp.churned:
                sub.status = "canceled"
            elif any(inv.attempt_count >= 4 for inv in still_open):
                sub.status = "unpaid"
            elif still_open:
                sub.status = "past_due"
            elif sub.status in ("past_due", "unpaid", "trialing"):
                sub.status = "active"
        for card in cu.cards:
            expiring = (card.exp_year, card.exp_month) <= (new_now.year, new_now.month)
            if expiring and rng.random() < 0.3 + 0.6 * h:
                m, y = card_expiry(new_now, np.array([36]))
                card.exp_month, card.exp_year = int(m[0]), int(y[0])
    # Invoice ids continue the generator's sequence, so they never collide with existing ones.
    for inv, inv_id in zip(fresh, scrambled_ids("in_", np.arange(n_inv, n_inv + len(fresh)),
                                                  salt=world.seed * 31 + 3), strict=True):
        inv.id = inv_id


def _evolve_usage(world: World, rng: np.random.Generator, health: np.ndarray, new_now: datetime) -> None:
    """Recompute each usage row from the new health; blank cells stay blank (the broken job is broken)."""
    by_key = {c.salesforce_id: c for c in world.companies if c.salesforce_id is not None}
    rows = [(r, by_key[r.account_key]) for r in world.usage if r.account_key in by_key]
    if not rows:
        return
    idx = np.array([c.index for _, c in rows], dtype=np.int64)
    seats = np.array([c.seats for _, c in rows], dtype=np.int64)
    churned = np.array([c.churned for _, c in rows], dtype=bool)
    h = health[idx]
    prev_util = np.array([(r.active_users or 0) / max(1, c.seats) for r, c in rows])
    busy = (prev_util > 0.75) & (h < 0.5)
    u = M.draw_usage(rng, h, seats, busy, churned)
    for (r, c), au, fa, ev in zip(rows, u.active_users.tolist(), u.features_adopted.tolist(),
                                  u.meaningful_events_30d.tolist(), strict=True):
        r.as_of = new_now
        r.licensed_seats = None if r.licensed_seats is None else c.seats
        r.active_users = None if r.active_users is None else au
        r.features_adopted = None if r.features_adopted is None else fa
        r.meaningful_events_30d = None if r.meaningful_events_30d is None else ev


def _evolve_people_and_tech(world: World, rng: np.random.Generator, health: np.ndarray, days: float,
                            new_now: datetime) -> None:
    """Champions leave, contacts opt out, NPS is re-surveyed, competitors appear, our widget disappears."""
    comps = world.companies
    n = len(comps)
    sick = 1.0 - health
    change = rng.random(n) < M.champion_change_p(health) * days / 270.0
    optout = rng.random(n) < 0.02 * sick * days / 30.0
    survey = rng.random(n) < 0.10 * days / 30.0
    nps = np.clip(np.round(rng.normal(1.5 + 8.5 * health, 1.7)), 0, 10).astype(np.int64)
    next_seq = sum(len(c.contacts) for c in comps)
    changed = np.flatnonzero(change).tolist()
    sf = salesforce_ids("003", np.arange(next_seq, next_seq + len(changed)))
    hs = numeric_ids(100_000_000, np.arange(next_seq, next_seq + len(changed)))
    first = rng.integers(0, len(P.FIRST_NAMES), len(changed)).tolist()
    last = rng.integers(0, len(P.LAST_NAMES), len(changed)).tolist()
    for k, ci in enumerate(changed):
        _new_champion(comps[ci], P.FIRST_NAMES[first[k]], P.LAST_NAMES[last[k]], sf[k], hs[k], new_now)
    for ci in np.flatnonzero(optout).tolist():
        for ct in comps[ci].contacts:
            if not ct.email_opt_out:
                ct.email_opt_out = True
                break
    for ci, v in zip(np.flatnonzero(survey).tolist(), nps[survey].tolist(), strict=True):
        comps[ci].nps = v

    by_dom = {c.domain: c.index for c in reversed(comps) if c.domain is not None}
    competitors = set(world.competitors)
    prof_idx = np.array([by_dom.get(p.domain, 0) for p in world.tech], dtype=np.int64)
    h = health[prof_idx] if len(prof_idx) else np.zeros(0)
    new_comp = rng.random(len(h)) < M.competitor_p(h) * days / 365.0
    lose_widget = rng.random(len(h)) < M.widget_removed_p(h) * days / 365.0
    which = rng.integers(0, len(P.COMPETITORS), len(h))
    stale = new_now - timedelta(days=30)
    for p, nc, lw, wc in zip(world.tech, new_comp.tolist(), lose_widget.tolist(), which.tolist(), strict=True):
        for t in p.technologies:
            removed = t.name == world.own_technology and (lw or t.last_detected < stale)
            if not removed:
                t.last_detected = new_now
        if nc and not any(t.name in competitors for t in p.technologies):
            p.technologies.append(Technology(P.COMPETITORS[wc], P.CS_TAG, new_now, new_now))


def _new_champion(c: Company, first: str, last: str, sfid: str, hsid: str, now: datetime) -> None:
    """The old champion steps back; a new contact becomes champion (new ids in every CRM it is in)."""
    for ct in c.contacts:
        ct.is_champion = False
    dom = c.domain or P.FREEMAIL_DOMAINS[c.index % len(P.FREEMAIL_DOMAINS)]
    email = f"{first.lower()}.{last.lower()}.{len(c.contacts)}@{dom}"
    c.contacts.append(Contact(email, first, last, True, False, sfid, hsid if c.hubspot_id else None))
    c.champion_changed_at = now.date()

