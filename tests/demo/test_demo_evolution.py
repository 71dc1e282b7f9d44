"""advance(): a change in the world reaches every emulator and shows up in the signals after the next sync."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.config import Config, load_config
from connector.runtime import open_store, run_setup, run_sync
from connector.sandbox import evolution
from connector.sandbox.cluster import Cluster, start_cluster
from connector.sandbox.salesforce.backend import salesforce_id
from connector.sandbox.world import Company, Contact, StripeInvoice, Technology, Ticket, World


@dataclass
class Synced:
    cluster: Cluster
    config: Config


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[Synced]:
    cluster = start_cluster(tmp_path / "sandbox", accounts=40, seed=11)
    try:
        config = load_config(cluster.write_config(tmp_path / "connector.toml"))
        run_setup(config, dry_run=False)
        assert run_sync(config, now=cluster.clock.now()).status == "ok"
        yield Synced(cluster, config)
    finally:
        cluster.stop()


def _signals(config: Config, account_id: str) -> dict[str, Any]:
    store = open_store(config)
    try:
        return {s.name: s.value for s in store.signals([account_id])}
    finally:
        store.close()


def _target(world: World) -> Company:
    """A company present everywhere, without deliberate mess and without a competitor yet."""
    domains = {p.domain: p for p in world.tech}
    return next(c for c in world.companies
                if c.salesforce_id and c.hubspot_id and c.zendesk_org_id and c.stripe_customer_id and not c.mess
                and c.domain in domains and not any(t.name in world.competitors for t in domains[c.domain].technologies)
                and any(s.status == "active" for cu in world.stripe_customers if cu.id == c.stripe_customer_id
                        for s in cu.subscriptions))


def _scripted(company: Company) -> object:
    """An ``evolve`` stand-in that makes one known change per system for ``company``."""

    def evolve(world: World, days: float, seed: int = 0) -> World:
        now = world.generated_at + timedelta(days=days)
        world.tickets.append(Ticket(max(t.id for t in world.tickets) + 1, company.zendesk_org_id,
                                    company.contacts[0].email, "Everything is down", "open", "urgent",
                                    now - timedelta(days=1), now - timedelta(days=1), None))
        customer = next(cu for cu in world.stripe_customers if cu.id == company.stripe_customer_id)
        sub = next(s for s in customer.subscriptions if s.status == "active")
        customer.invoices.append(StripeInvoice("in_evolution_test", sub.id, "open", 5000, 1, now, None, False))
        profile = next(p for p in world.tech if p.domain == company.domain)
        profile.technologies.append(Technology(world.competitors[0], "cs", now, now))
        next(r for r in world.usage if r.account_key == company.salesforce_id).active_users = 1
        company.nps = 0 if company.nps != 0 else 10
        for person in company.contacts:
            person.is_champion = False
        company.contacts.append(Contact(f"new.champion@{company.domain}", "New", "Champion", True, False,
                                        salesforce_id("003", 990_001), "990001"))
        company.champion_changed_at = now.date()
        world.generated_at = now
        return world

    return evolve


def test_a_change_in_each_system_reaches_the_signals(synced: Synced, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, config = synced.cluster, synced.config
    company = _target(cluster.world)
    account = str(company.salesforce_id)
    before = _signals(config, account)
    monkeypatch.setattr(evolution, "evolve", _scripted(company))
    hs_before = cluster.emulators["hubspot"].backend.existing("companies", company.hubspot_id).updated_at

    changes = evolution.advance(cluster, 31, seed=1)  # past the 30-day lookup cache, so the index is asked again
    result = run_sync(config, now=cluster.clock.now())

    assert result.status == "ok", (result.source_errors, result.sink_errors)
    assert changes["zendesk"]["new_tickets"] == 1 and changes["stripe"]["payments_failed"] == 1
    after = _signals(config, account)
    assert float(after["tickets_urgent_open"] or 0) == float(before.get("tickets_urgent_open") or 0) + 1
    assert float(after["payments_failed_90d"] or 0) > float(before.get("payments_failed_90d") or 0)
    assert after["subscription_status"] == "past_due"
    assert after["competitor_detected"] == 1
    assert after["active_users"] == 1
    assert after["nps"] == company.nps
    assert after["champion_changed_90d"] == 1
    hubspot = cluster.emulators["hubspot"].backend.existing("companies", company.hubspot_id)
    assert hubspot.updated_at > hs_before and hubspot.properties["nps_score"] == str(company.nps)
    assert result.pulled["hubspot"]["observations"] >= 1


def test_real_evolution_moves_clock_and_emits_events(synced: Synced) -> None:
    cluster = synced.cluster
    stripe = cluster.emulators["stripe"].backend
    start, events = cluster.clock.now(), len(stripe.events)

    changes = evolution.advance(cluster, 7, seed=3)

    assert cluster.clock.now() - start >= timedelta(days=7)
    assert changes["zendesk"]["new_tickets"] + changes["zendesk"]["updated_tickets"] > 0
    assert len(stripe.events) > events
    assert changes["usage"]["rows_rewritten"] == len(cluster.world.usage)
    assert run_sync(synced.config, now=cluster.clock.now()).status == "ok"
