"""Seeded, deterministic synthetic world: companies whose every signal follows one latent health.

Public API::

    generate_world(accounts, seed=7, now=None) -> World     # 10 … 1,000,000 accounts
    evolve(world, days, seed=0) -> World                     # mutates *in place*, returns the same world
    write_usage_csv(world, path) -> int
    write_usage_sql(world, sqlalchemy_url, table="usage_summary") -> int

Why it is built this way:

* **Coherence.**  Each company gets a latent ``health`` (0–1) and ``trend`` (−1…1); tickets, billing,
  usage, contacts and web technology are all drawn from them through :mod:`dataset_model`, so a score the
  connector computes can be checked against the truth the data was made from.  Relations are
  correlations, not rules: engaged healthy customers file many tickets, some sick customers are busy users.
* **Determinism.**  One ``numpy`` PCG64 stream seeded with ``seed``, consumed in a fixed order; ids are
  derived from sequence numbers, never from the stream.  Everything is relative to ``now``; the default
  ``now`` is today's UTC midnight, so the same seed on the same day gives an identical world.
* **Speed.**  All numbers are drawn as arrays (one call per attribute, not per record); Python loops
  only assemble dataclasses from ``tolist()``-ed columns.  100k accounts take a few seconds, 1M is linear.
* **Mess.**  Real data is messy; the connector must survive it.  Each deliberately messy company says
  so in ``company.mess`` (see :data:`MESS_FLAGS`), so tests know exactly what to expect.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time

import numpy as np

from connector.sandbox import dataset_model as M
from connector.sandbox import dataset_pools as P
from connector.sandbox.dataset_costs import add_costs
from connector.sandbox.dataset_evolve import evolve
from connector.sandbox.dataset_export import USAGE_COLUMNS, write_usage_csv, write_usage_sql
from connector.sandbox.dataset_ids import erp_ids, numeric_ids, salesforce_ids, scrambled_ids
from connector.sandbox.dataset_parts import build_stripe, build_tech, build_usage, make_tickets
from connector.sandbox.world import Company, Contact, Owner, Ticket, World

__all__ = [
    "MESS_FLAGS",
    "USAGE_COLUMNS",
    "evolve",
    "generate_world",
    "write_usage_csv",
    "write_usage_sql",
]

#: Every flag that may appear in ``Company.mess`` and what it means.
MESS_FLAGS: dict[str, str] = {
    "html_name": "name contains an HTML <script> tag",
    "soql_metachar": "name contains quotes, backslashes or LIKE wildcards",
    "unicode_name": "name in non-Latin script, with diacritics or emoji",
    "no_domain": "domain is None; contacts use freemail addresses",
    "no_segment": 'segment is "" (unknown in the CRM); ARR/seats still follow a hidden segment',
    "duplicate_domain": "another company has the same domain",
    "shared_external_id": "another company has the same external_id (one Zendesk org → two accounts)",
    "stripe_freemail": "Stripe customer without metadata whose email is a freemail address (unlinkable)",
    "stripe_by_domain": "Stripe customer without metadata: link by email domain only",
    "no_zendesk": "absent from Zendesk",
    "tickets_without_org": "absent from Zendesk, yet has tickets with organization_id None",
    "zendesk_by_domain": "no external_id: the Zendesk org can only be matched by domain",
    "no_stripe": "absent from Stripe",
    "no_usage": "no usage row in the warehouse",
    "usage_nulls": "usage row with empty cells",
    "churn_no_reason": "churned without a churn_reason on record",
}

ACCOUNTS_PER_OWNER = 40
HUBSPOT_COMPANY_BASE = 5_000_000_000
HUBSPOT_CONTACT_BASE = 100_000_000
HUBSPOT_OWNER_BASE = 30_000_000
ZENDESK_ORG_BASE = 360_000_000_000
UPSELL_SEGMENT = np.array([1.5, 1.0, 0.5])
P_HUBSPOT, P_ZENDESK, P_STRIPE, P_EXTERNAL = 0.60, 0.90, 0.85, 0.90


def default_now() -> datetime:
    """Today's midnight UTC: stable for a day, so an unpinned world is still reproducible within it."""
    return datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC)


def _normalise_now(now: datetime | None) -> datetime:
    """Aware UTC, whole seconds (ids and timestamps are integral seconds)."""
    if now is None:
        return default_now()
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return now.replace(microsecond=0)


def _in_year(d: date, year: int) -> date:
    """``d`` moved to ``year`` (29 February → 28 February in non-leap years)."""
    try:
        return d.replace(year=year)
    except ValueError:
        return d.replace(year=year, day=28)


def anniversary_after(start: date, today: date) -> date:
    """The first contract anniversary strictly after ``today`` — the renewal date."""
    cand = _in_year(start, today.year)
    return cand if cand > today else _in_year(start, today.year + 1)


def _occurrence(keys: np.ndarray) -> np.ndarray:
    """For each element, how many equal keys precede it (0 for the first) — vectorised."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    starts = np.r_[0, np.flatnonzero(sk[1:] != sk[:-1]) + 1]
    run = np.repeat(starts, np.diff(np.r_[starts, len(sk)]))
    occ = np.empty(len(keys), dtype=np.int64)
    occ[order] = np.arange(len(keys)) - run
    return occ


def _plan_mess(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Pick disjoint company indices for each structural mess, with at least one of each from n=10 up."""
    perm = rng.permutation(n)
    sizes = [
        ("html_name", 1), ("soql_metachar", min(3, max(1, n // 300))), ("unicode_name", max(1, n // 100)),
        ("no_domain", max(1, n // 200)), ("no_segment", max(1, n // 200)),
        ("duplicate_domain", 2 * max(1, n // 400)), ("shared_external_id", 2 * max(1, n // 20_000)),
        ("stripe_freemail", max(1, n // 1000)),
    ]
    plan: dict[str, np.ndarray] = {}
    pos = 0
    for flag, k in sizes:
        plan[flag] = perm[np.arange(pos, pos + k) % n]  # pairs: consecutive elements (a, b)
        pos += k
    return plan


def _owners(n_owners: int) -> list[Owner]:
    """CSMs: Salesforce ``005`` user ids and HubSpot numeric owner ids from their sequence number."""
    sf = salesforce_ids("005", np.arange(n_owners))
    hs = numeric_ids(HUBSPOT_OWNER_BASE, np.arange(n_owners))
    out = []
    for i in range(n_owners):
        first = P.FIRST_NAMES[(i * 7) % len(P.FIRST_NAMES)]
        last = P.LAST_NAMES[(i * 13 + i // len(P.FIRST_NAMES)) % len(P.LAST_NAMES)]
        out.append(Owner(i, f"{first} {last}", f"{first}.{last}.{i}@acme-success.example".lower(),
                         sf[i], hs[i]))
    return out


def _names_and_domains(rng: np.random.Generator, n: int) -> tuple[list[str], list[str | None]]:
    """Unique-ish company names and unique domains (a numeric suffix once a head+tail repeats)."""
    head = rng.integers(0, len(P.NAME_HEADS), n)
    tail = rng.integers(0, len(P.NAME_TAILS), n)
    suffix = rng.integers(0, len(P.NAME_SUFFIXES), n)
    tld = rng.integers(0, len(P.TLDS), n)
    occ = _occurrence(head * len(P.NAME_TAILS) + tail).tolist()
    heads = [h.replace(" ", "").lower() for h in P.NAME_HEADS]
    tails = [t.lower() for t in P.NAME_TAILS]
    names: list[str] = []
    domains: list[str | None] = []
    for h, t, s, d, o in zip(head.tolist(), tail.tolist(), suffix.tolist(), tld.tolist(), occ, strict=True):
        num = f" {o + 1}" if o else ""
        names.append(f"{P.NAME_HEADS[h]} {P.NAME_TAILS[t]}{num} {P.NAME_SUFFIXES[s]}".rstrip())
        domains.append(f"{heads[h]}{tails[t]}{o + 1 if o else ''}.{P.TLDS[d]}")
    return names, domains


def generate_world(accounts: int, seed: int = 7, now: datetime | None = None) -> World:
    """Make a coherent world of ``accounts`` companies (any size; 10 … 1,000,000 is the tested range).

    Same ``(accounts, seed, now)`` → identical world.  ``now`` defaults to today's UTC midnight.
    The cyclic GC is paused while building: millions of new, acyclic dataclasses would otherwise trigger
    repeated full collections whose cost grows with the heap (that made generation super-linear).
    """
    if accounts < 1:
        raise ValueError("accounts must be >= 1")
    with gc_paused():
        return _generate(int(accounts), seed, now)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector for a bulk build; restore its previous state afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _generate(n: int, seed: int, now: datetime | None) -> World:
    now = _normalise_now(now)
    now_s = int(now.timestamp())
    today = now.date()
    rng = np.random.default_rng(seed)

    # --- latent state and CRM numbers -------------------------------------------------------------
    health = rng.beta(2.6, 1.6, n)
    trend = np.clip(rng.normal(0.5 * (health - 0.62), 0.35), -1.0, 1.0)
    seg = rng.choice(3, size=n, p=M.SEGMENT_P).astype(np.int64)
    seats = np.maximum(3, np.round(np.exp(rng.normal(M.SEAT_LOG_MEAN[seg], 0.55)))).astype(np.int64)
    unit_cents = np.round(M.PRICE_PER_SEAT[seg] * np.exp(rng.normal(0.0, 0.15, n)) * 100).astype(np.int64)
    age_days = rng.integers(0, 3 * 365 + 1, n)
    churned = rng.random(n) < 0.004 + 0.10 * (1.0 - health) ** 2.5
    trend = np.where(churned, -np.abs(trend), trend)
    n_owners = max(3, -(-n // ACCOUNTS_PER_OWNER))
    owner_idx = rng.integers(0, n_owners, n)
    training = rng.poisson(M.TRAINING_RATE[seg] * (0.2 + 1.6 * health))
    services = rng.random(n) < M.SERVICES_P[seg] * (0.5 + health)
    upsells = rng.poisson((0.05 + 1.5 * health**2) * (0.3 + age_days / 365.0) * UPSELL_SEGMENT[seg])
    advocacy = (rng.random(n) < 0.01 + 0.40 * health**3) & ~churned
    nps_val = np.clip(np.round(rng.normal(1.5 + 8.5 * health, 1.7)), 0, 10).astype(np.int64)
    nps_has = rng.random(n) < 0.55
    churn_reason_idx = np.where(rng.random(n) < 0.75, rng.integers(0, len(P.CHURN_REASONS), n), -1)
    champ_changed = rng.random(n) < M.champion_change_p(health)
    champ_days = rng.integers(1, 271, n)
    in_hubspot = rng.random(n) < P_HUBSPOT
    in_zendesk = rng.random(n) < P_ZENDESK
    in_stripe = rng.random(n) < P_STRIPE
    has_external = rng.random(n) < P_EXTERNAL
    orphan_tickets = ~in_zendesk & (rng.random(n) < 0.25)
    engagement = np.exp(rng.normal(0.0, 0.6, n))

    plan = _plan_mess(rng, n)
    for i in plan["shared_external_id"]:
        in_zendesk[i] = has_external[i] = True
    in_stripe[plan["stripe_freemail"]] = True

    # --- names, domains and the mess that lives in them ----------------------------------------------
    names, domains = _names_and_domains(rng, n)
    mess: list[list[str]] = [[] for _ in range(n)]
    for k, i in enumerate(plan["unicode_name"].tolist()):
        names[i] = P.UNICODE_NAMES[k % len(P.UNICODE_NAMES)] + (f" {k // len(P.UNICODE_NAMES)}" if k >= 12
                                                                  else "")
    for i in plan["html_name"].tolist():
        names[i] = P.HTML_NAME
    for k, i in enumerate(plan["soql_metachar"].tolist()):
        names[i] = P.SOQL_NAMES[k % len(P.SOQL_NAMES)]
    for i in plan["no_domain"].tolist():
        domains[i] = None
    dup = plan["duplicate_domain"].tolist()
    for a, b in zip(dup[0::2], dup[1::2], strict=True):
        domains[b] = domains[a]
    ext_ids: list[str | None] = list(erp_ids(np.arange(n)))
    ext = plan["shared_external_id"].tolist()
    for a, b in zip(ext[0::2], ext[1::2], strict=True):
        ext_ids[b] = ext_ids[a]
    for flag in ("html_name", "soql_metachar", "unicode_name", "no_domain", "no_segment", "duplicate_domain",
                 "shared_external_id", "stripe_freemail"):
        for i in plan[flag].tolist():
            mess[i].append(flag)
    no_segment = np.zeros(n, dtype=bool)
    no_segment[plan["no_segment"]] = True
    for i in np.flatnonzero(~has_external).tolist():
        ext_ids[i] = None
        if in_zendesk[i]:
            mess[i].append("zendesk_by_domain")
    for i in np.flatnonzero(~in_zendesk).tolist():
        mess[i].append("no_zendesk")
        if orphan_tickets[i]:
            mess[i].append("tickets_without_org")
    for i in np.flatnonzero(~in_stripe).tolist():
        mess[i].append("no_stripe")
    for i in np.flatnonzero(churned & (churn_reason_idx < 0)).tolist():
        mess[i].append("churn_no_reason")

    # --- contacts --------------------------------------------------------------------------------------
    n_contacts = rng.integers(M.CONTACTS_LO[seg], M.CONTACTS_HI[seg] + 1)
    offsets = np.r_[0, np.cumsum(n_contacts)]
    total_c = int(offsets[-1])
    c_company = np.repeat(np.arange(n), n_contacts)
    c_pos = np.arange(total_c) - offsets[c_company]
    c_first = (rng.integers(0, len(P.FIRST_NAMES), n)[c_company] + 11 * c_pos) % len(P.FIRST_NAMES)
    c_last = rng.integers(0, len(P.LAST_NAMES), total_c)
    champ_pos = rng.integers(0, n_contacts)
    c_champion = (c_pos == champ_pos[c_company]).tolist()
    c_optout = (rng.random(total_c) < 0.03 + 0.28 * (1.0 - health[c_company])).tolist()
    c_sf = salesforce_ids("003", np.arange(total_c))
    c_hs_all = numeric_ids(HUBSPOT_CONTACT_BASE, np.arange(total_c))
    c_in_hs = in_hubspot[c_company].tolist()
    lower_first = [f.lower() for f in P.FIRST_NAMES]
    lower_last = [s.lower() for s in P.LAST_NAMES]
    contacts: list[Contact] = []
    emails: list[str] = []
    for k, (ci, fi, li) in enumerate(zip(c_company.tolist(), c_first.tolist(), c_last.tolist(), strict=True)):
        dom = domains[ci]
        email = (f"{lower_first[fi]}.{lower_last[li]}@{dom}" if dom is not None
                 else f"{lower_first[fi]}.{lower_last[li]}.{ci}@{P.FREEMAIL_DOMAINS[ci % 4]}")
        emails.append(email)
        contacts.append(Contact(email, P.FIRST_NAMES[fi], P.LAST_NAMES[li], c_champion[k], c_optout[k],
                                c_sf[k], c_hs_all[k] if c_in_hs[k] else None))

    # --- companies -------------------------------------------------------------------------------------
    owners = _owners(n_owners)
    sf_ids = salesforce_ids("001", np.arange(n))
    hs_ids = numeric_ids(HUBSPOT_COMPANY_BASE, np.arange(n))
    zd_ids = (np.arange(n, dtype=np.int64) + ZENDESK_ORG_BASE).tolist()
    stripe_ids = scrambled_ids("cus_", np.arange(n), salt=seed * 7919 + 1)
    today_ord = today.toordinal()
    off = offsets.tolist()
    companies: list[Company] = []
    cols = zip(health.tolist(), trend.tolist(), seg.tolist(), seats.tolist(), (unit_cents * seats * 12).tolist(),
               age_days.tolist(), owner_idx.tolist(), training.tolist(), services.tolist(), upsells.tolist(),
               advocacy.tolist(), nps_val.tolist(), nps_has.tolist(), churned.tolist(),
               churn_reason_idx.tolist(), champ_changed.tolist(), champ_days.tolist(), in_hubspot.tolist(),
               in_zendesk.tolist(), in_stripe.tolist(), no_segment.tolist(), strict=True)
    for i, (h, tr, sg, st, arr_c, age, ow, tc, sv, up, adv, nv, nh, ch, cr, cc, cd, ihs, izd, ist,
            nseg) in enumerate(cols):
        start = date.fromordinal(today_ord - age)
        companies.append(Company(
            index=i, name=names[i], domain=domains[i], segment="" if nseg else P.SEGMENTS[sg],
            owner=owners[ow], contract_start=start, renewal_date=anniversary_after(start, today),
            arr=arr_c / 100.0, seats=st, health=h, trend=tr, contacts=contacts[off[i]:off[i + 1]],
            champion_changed_at=date.fromordinal(today_ord - min(cd, age)) if cc else None,
            training_completed=tc, services_purchased=sv, upsells_taken=up, advocacy=adv,
            nps=nv if nh else None, churned=ch, churn_reason=P.CHURN_REASONS[cr] if ch and cr >= 0 else None,
            salesforce_id=sf_ids[i], hubspot_id=hs_ids[i] if ihs else None,
            zendesk_org_id=zd_ids[i] if izd else None, stripe_customer_id=stripe_ids[i] if ist else None,
            external_id=ext_ids[i], mess=mess[i],
        ))

    # --- the systems ----------------------------------------------------------------------------------
    tickets = _tickets(rng, companies, health, seg, engagement, in_zendesk | orphan_tickets, emails,
                       offsets, now_s)
    stripe_customers = build_stripe(rng, companies, health, churned, age_days, seats, unit_cents,
                                    plan["stripe_freemail"], emails, offsets, champ_pos, now, seed)
    usage = build_usage(rng, companies, health, seats, churned, now)
    tech = build_tech(rng, companies, health, age_days, now)
    add_costs(companies, seg, seats, health, stripe_customers, tickets, emails, offsets, now_s, seed)
    return World(seed=seed, generated_at=now, owners=owners, companies=companies, tickets=tickets,
                 stripe_customers=stripe_customers, usage=usage, tech=tech, competitors=list(P.COMPETITORS),
                 own_technology=P.OWN_TECHNOLOGY)


def _tickets(rng: np.random.Generator, companies: Sequence[Company], health: np.ndarray, seg: np.ndarray,
             engagement: np.ndarray, eligible: np.ndarray, emails: list[str], offsets: np.ndarray,
             now_s: int) -> list[Ticket]:
    """0–30 tickets per company over the last 180 days, resolution and status following health."""
    lam = M.ticket_rate(health, engagement, seg) * eligible
    counts = np.minimum(rng.poisson(lam), M.MAX_TICKETS)
    t_company = np.repeat(np.arange(len(companies)), counts)
    t = len(t_company)
    created = now_s - rng.integers(0, M.TICKET_WINDOW_DAYS * M.DAY, t)
    n_cont = np.diff(offsets)
    requester = offsets[t_company] + (rng.random(t) * n_cont[t_company]).astype(np.int64)
    d = M.draw_tickets(rng, health[t_company], len(P.TICKET_TOPICS))
    return make_tickets(companies, t_company, created, d, requester, emails, now_s, first_id=1)
