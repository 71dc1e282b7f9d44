"""Tests for the synthetic world generator: determinism, ids, coherence, mess, evolve, usage exports."""

from __future__ import annotations

import copy
import csv
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from statistics import mean

import pytest
from sqlalchemy import create_engine, text

from connector.sandbox.dataset import (
    MESS_FLAGS,
    USAGE_COLUMNS,
    evolve,
    generate_world,
    write_usage_csv,
    write_usage_sql,
)
from connector.sandbox.dataset_ids import salesforce_checksum_ok
from connector.sandbox.world import World

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SF_RE = re.compile(r"^[0-9A-Za-z]{18}$")


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(1000, seed=7, now=NOW)


@pytest.fixture(scope="module")
def big() -> World:
    """Large enough that coherence statistics are not luck."""
    return generate_world(5000, seed=11, now=NOW)


def test_same_seed_same_world_and_other_seed_differs() -> None:
    a, b = generate_world(200, seed=3, now=NOW), generate_world(200, seed=3, now=NOW)
    assert a == b
    c = generate_world(200, seed=4, now=NOW)
    assert [x.health for x in c.companies] != [x.health for x in a.companies]


@pytest.mark.parametrize("n", [10, 1000])
def test_sizes(n: int) -> None:
    w = generate_world(n, seed=1, now=NOW)
    assert len(w.companies) == n
    assert len(w.owners) == max(3, -(-n // 40))
    assert w.generated_at == NOW
    assert all(c.salesforce_id for c in w.companies)
    assert w.tickets and w.stripe_customers and w.usage and w.tech
    for c in w.companies:
        assert 2 <= len(c.contacts) <= 6
        assert sum(ct.is_champion for ct in c.contacts) == 1
        assert c.segment in {"Enterprise", "Mid-Market", "SMB", ""}
        assert c.segment or "no_segment" in c.mess
        assert NOW.date() - timedelta(days=3 * 365 + 1) <= c.contract_start <= NOW.date()
        assert NOW.date() < c.renewal_date <= NOW.date() + timedelta(days=366)
        assert (c.renewal_date.month, c.renewal_date.day) == (c.contract_start.month, c.contract_start.day) \
            or c.contract_start.day == 29
        assert 0.0 <= c.health <= 1.0 and -1.0 <= c.trend <= 1.0
        assert c.nps is None or 0 <= c.nps <= 10
        assert set(c.mess) <= set(MESS_FLAGS)


def test_rejects_empty() -> None:
    with pytest.raises(ValueError):
        generate_world(0)


def test_ids_unique_and_formatted(world: World) -> None:
    sf = [c.salesforce_id for c in world.companies]
    assert len(set(sf)) == len(sf)
    for s in sf:
        assert s is not None and SF_RE.match(s) and s.startswith("001") and salesforce_checksum_ok(s)
    contacts = [ct for c in world.companies for ct in c.contacts]
    csf = [ct.salesforce_id for ct in contacts]
    assert len(set(csf)) == len(csf) and all(s and s.startswith("003") and salesforce_checksum_ok(s) for s in csf)
    assert all(ct.hubspot_id is None or ct.hubspot_id.isdigit() for ct in contacts)
    for o in world.owners:
        assert o.salesforce_id.startswith("005") and len(o.salesforce_id) == 18 and o.hubspot_id.isdigit()
    hs = [c.hubspot_id for c in world.companies if c.hubspot_id]
    assert len(set(hs)) == len(hs) and all(h.isdigit() for h in hs)
    zd = [c.zendesk_org_id for c in world.companies if c.zendesk_org_id is not None]
    assert len(set(zd)) == len(zd) and all(isinstance(z, int) for z in zd)
    cus = [c.stripe_customer_id for c in world.companies if c.stripe_customer_id]
    assert len(set(cus)) == len(cus) and all(x.startswith("cus_") for x in cus)
    assert {s.id for s in world.stripe_customers} == set(cus)
    assert all(re.match(r"^ERP-\d{6,}$", c.external_id) for c in world.companies if c.external_id)
    ticket_ids = [t.id for t in world.tickets]
    assert len(set(ticket_ids)) == len(ticket_ids)
    inv = [i.id for s in world.stripe_customers for i in s.invoices]
    assert len(set(inv)) == len(inv) and all(i.startswith("in_") for i in inv)
    # Ids depend on the index, not the seed: account 0 is the same everywhere.
    assert generate_world(10, seed=99, now=NOW).companies[0].salesforce_id == sf[0]


def test_presence_shares(big: World) -> None:
    n = len(big.companies)
    share = lambda k: sum(getattr(c, k) is not None for c in big.companies) / n  # noqa: E731
    assert 0.55 < share("hubspot_id") < 0.65
    assert 0.87 < share("zendesk_org_id") < 0.93
    assert 0.82 < share("stripe_customer_id") < 0.88
    linked = [s for s in big.stripe_customers if s.metadata.get("crm_account_id")]
    assert 0.8 < len(linked) / len(big.stripe_customers) < 0.9
    by_sf = {c.salesforce_id: c for c in big.companies}
    assert all(by_sf[s.metadata["crm_account_id"]].stripe_customer_id == s.id for s in linked)


def test_tickets_shape(world: World) -> None:
    assert {t.status for t in world.tickets} == {"new", "open", "pending", "hold", "solved", "closed"}
    by_org = {c.zendesk_org_id: c for c in world.companies if c.zendesk_org_id is not None}
    per_org = Counter(t.organization_id for t in world.tickets if t.organization_id is not None)
    assert max(per_org.values()) <= 30
    assert any("escalated" in t.tags for t in world.tickets)
    for t in world.tickets:
        assert NOW - timedelta(days=180) <= t.created_at <= t.updated_at <= NOW
        assert (t.solved_at is not None) == (t.status in {"solved", "closed"})
        if t.organization_id is not None:
            dom = by_org[t.organization_id].domain
            assert dom is None or t.requester_email.endswith("@" + dom)


def _resolution_hours(w: World, healthy: bool) -> float:
    h = {c.zendesk_org_id: c.health for c in w.companies if c.zendesk_org_id is not None}
    xs = [(t.solved_at - t.created_at).total_seconds() / 3600 for t in w.tickets
          if t.solved_at and t.organization_id in h and (h[t.organization_id] > 0.7) == healthy]
    return mean(xs)


def test_coherence_tickets(big: World) -> None:
    assert _resolution_hours(big, True) * 2 < _resolution_hours(big, False)
    h = {c.zendesk_org_id: c.health for c in big.companies if c.zendesk_org_id is not None}
    unresolved = [h[t.organization_id] for t in big.tickets
                  if t.organization_id in h and t.status in {"open", "pending", "hold"}]
    assert mean(unresolved) < mean(h.values()) - 0.05
    # Volume alone is not sickness: plenty of healthy companies file many tickets.
    busy = Counter(t.organization_id for t in big.tickets if t.organization_id is not None)
    assert sum(1 for org, k in busy.items() if k >= 10 and h.get(org, 0.0) > 0.75) >= 10


def test_coherence_billing(big: World) -> None:
    health = {c.stripe_customer_id: c.health for c in big.companies}
    by_status: dict[str, list[float]] = {}
    for s in big.stripe_customers:
        by_status.setdefault(s.subscriptions[0].status, []).append(health[s.id])
    assert mean(by_status["past_due"]) + 0.1 < mean(by_status["active"])
    assert mean(by_status["unpaid"]) < mean(by_status["active"])
    failing = [health[s.id] for s in big.stripe_customers
               if any(i.status == "open" and i.attempt_count > 0 for i in s.invoices)]
    assert failing and mean(failing) + 0.1 < mean(health.values())
    for s in big.stripe_customers:
        if s.subscriptions[0].status == "past_due":
            assert any(i.status == "open" and i.attempt_count > 0 and not i.paid for i in s.invoices)
    soon = (NOW.year * 12 + NOW.month - 1) + 2
    expiring = [health[s.id] for s in big.stripe_customers for c in s.cards
                if c.exp_year * 12 + c.exp_month - 1 <= soon]
    assert mean(expiring) < mean(health.values())


def test_coherence_usage_people_tech(big: World) -> None:
    comp = {c.salesforce_id: c for c in big.companies}
    rows = [(r, comp[r.account_key]) for r in big.usage if r.meaningful_events_30d is not None
            and r.active_users is not None and r.features_adopted is not None and not comp[r.account_key].churned]
    hi = [r for r, c in rows if c.health > 0.7]
    lo = [r for r, c in rows if c.health < 0.35]
    util = lambda rs: mean((r.active_users or 0) / r.licensed_seats for r in rs if r.licensed_seats)  # noqa: E731
    assert util(hi) > util(lo) + 0.2
    assert mean(r.features_adopted or 0 for r in hi) > mean(r.features_adopted or 0 for r in lo) + 2
    # Active customers still churn: some sick companies have near-full seat utilisation.
    assert any(r.licensed_seats and (r.active_users or 0) / r.licensed_seats > 0.8 for r in lo)
    cs = big.companies
    changed = [c.health for c in cs if c.champion_changed_at]
    assert mean(changed) < mean(c.health for c in cs)
    adv = [c.health for c in cs if c.advocacy]
    assert mean(adv) > mean(c.health for c in cs) + 0.1
    nps_hi = [c.nps for c in cs if c.nps is not None and c.health > 0.7]
    nps_lo = [c.nps for c in cs if c.nps is not None and c.health < 0.35]
    assert mean(nps_hi) > mean(nps_lo) + 2
    by_dom = {c.domain: c for c in reversed(cs) if c.domain}
    with_comp = [by_dom[p.domain].health for p in big.tech
                 if any(t.name in big.competitors for t in p.technologies)]
    removed = [by_dom[p.domain].health for p in big.tech for t in p.technologies
               if t.name == big.own_technology and t.last_detected < NOW - timedelta(days=40)]
    assert with_comp and removed
    assert mean(with_comp) < mean(c.health for c in cs) - 0.05
    assert mean(removed) < mean(c.health for c in cs) - 0.05
    assert set(big.competitors) == {"RivalCS", "ChurnGuard", "PulseMetrics", "HealthDeck"}


@pytest.mark.parametrize("n", [10, 1000])
def test_mess_present(n: int) -> None:
    w = generate_world(n, seed=5, now=NOW)
    flags = Counter(f for c in w.companies for f in c.mess)
    for f in ("html_name", "soql_metachar", "unicode_name", "no_domain", "no_segment", "stripe_freemail"):
        assert flags[f] >= 1, f
    assert flags["duplicate_domain"] >= 2 and flags["shared_external_id"] >= 2
    names = {c.name for c in w.companies}
    assert "<script>alert(1)</script> Ltd" in names
    assert any("'" in x or "\\" in x for x in names)
    assert any(any(ord(ch) > 127 for ch in x) for x in names)
    for c in w.companies:
        if "no_domain" in c.mess:
            assert c.domain is None
        if "no_segment" in c.mess:
            assert c.segment == ""
        if "no_zendesk" in c.mess:
            assert c.zendesk_org_id is None
        if "no_stripe" in c.mess:
            assert c.stripe_customer_id is None
    doms = Counter(c.domain for c in w.companies if c.domain)
    assert {d for d, k in doms.items() if k > 1} == {c.domain for c in w.companies if "duplicate_domain" in c.mess}
    exts = Counter(c.external_id for c in w.companies if c.external_id)
    shared = [c for c in w.companies if "shared_external_id" in c.mess]
    assert all(c.external_id and exts[c.external_id] == 2 and c.zendesk_org_id is not None for c in shared)
    free = [s for s in w.stripe_customers if s.email and s.email.split("@")[1] in {"gmail.com", "yahoo.com",
            "outlook.com", "gmx.de"} and not s.metadata]
    assert free


def test_mess_at_scale(world: World) -> None:
    flags = Counter(f for c in world.companies for f in c.mess)
    assert 5 <= flags["unicode_name"] <= 20
    assert flags["no_usage"] > 10 and flags["usage_nulls"] > 3 and flags["stripe_by_domain"] > 50
    assert flags["tickets_without_org"] >= 1
    assert any(t.organization_id is None for t in world.tickets)
    assert len(world.usage) == sum(1 for c in world.companies if "no_usage" not in c.mess)


def test_evolve_moves_time_and_changes_things() -> None:
    w = generate_world(1500, seed=2, now=NOW)
    before = copy.deepcopy(w)
    out = evolve(w, 30, seed=1)
    assert out is w and w.generated_at == NOW + timedelta(days=30)
    assert len(w.tickets) > len(before.tickets)
    assert all(t.created_at > NOW for t in w.tickets[len(before.tickets):])
    assert max(t.updated_at for t in w.tickets) > NOW
    old_open = {t.id for t in before.tickets if t.status in {"new", "open", "pending", "hold"}}
    assert any(t.id in old_open and t.status in {"solved", "closed"} for t in w.tickets)
    assert sum(a.health != b.health for a, b in zip(w.companies, before.companies, strict=True)) > 1000
    # Health moves along trend on average.
    up = [a.health - b.health for a, b in zip(w.companies, before.companies, strict=True) if b.trend > 0.4]
    down = [a.health - b.health for a, b in zip(w.companies, before.companies, strict=True) if b.trend < -0.4]
    assert mean(up) > 0 > mean(down)
    assert sum(len(s.invoices) for s in w.stripe_customers) > sum(len(s.invoices) for s in before.stripe_customers)
    assert all(r.as_of == w.generated_at for r in w.usage)
    assert [r.active_users for r in w.usage] != [r.active_users for r in before.usage]
    assert sum(c.champion_changed_at == w.generated_at.date() for c in w.companies) >= 1
    for c in w.companies:
        assert sum(ct.is_champion for ct in c.contacts) == 1
    sf = [ct.salesforce_id for c in w.companies for ct in c.contacts]
    assert len(set(sf)) == len(sf)
    ids = [t.id for t in w.tickets]
    assert len(set(ids)) == len(ids)
    inv = [i.id for s in w.stripe_customers for i in s.invoices]
    assert len(set(inv)) == len(inv)
    # Deterministic replay.
    again = evolve(copy.deepcopy(before), 30, seed=1)
    assert again == w


def test_usage_csv_round_trip(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "usage.csv"
    assert write_usage_csv(world, path) == len(world.usage)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == USAGE_COLUMNS and len(rows) == len(world.usage)
    for got, want in zip(rows, world.usage, strict=True):
        assert got["account_key"] == want.account_key
        assert datetime.fromisoformat(got["as_of"]) == want.as_of
        for col in USAGE_COLUMNS[2:]:
            v = getattr(want, col)
            assert got[col] == ("" if v is None else str(v))
    assert any(r["active_users"] == "" or r["meaningful_events_30d"] == "" for r in rows)


def test_usage_sql_round_trip(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'u.db'}"
    assert write_usage_sql(world, url) == len(world.usage)
    assert write_usage_sql(world, url) == len(world.usage)  # re-runnable (table replaced)
    eng = create_engine(url)
    with eng.connect() as conn:
        got = {r[0]: r for r in conn.execute(text(f"SELECT {', '.join(USAGE_COLUMNS)} FROM usage_summary"))}
    eng.dispose()
    assert len(got) == len(world.usage)
    for want in world.usage:
        r = got[want.account_key]
        assert tuple(r[2:]) == (want.active_users, want.licensed_seats, want.features_adopted,
                                want.key_features_total, want.meaningful_events_30d)
        as_of = r[1] if isinstance(r[1], datetime) else datetime.fromisoformat(r[1])
        assert as_of.replace(tzinfo=UTC) == want.as_of
