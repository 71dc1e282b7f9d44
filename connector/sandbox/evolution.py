"""Move a running sandbox forward in time: the world evolves and every emulator shows the change.

:func:`connector.sandbox.dataset_evolve.evolve` changes the :class:`World` in place, but each emulator
backend copied its part of the world when it loaded it, so an evolved world alone is invisible to the
connector.  :func:`advance` therefore snapshots what the connector can observe, evolves the world, and
pushes the differences into each backend through the same paths a real change would take, so the
connector picks them up through the APIs exactly as it would in production:

* Zendesk — changed and new tickets are stored with a fresh ``updated_at`` (the incremental export reads
  by it); tags the connector wrote on a ticket survive, as they would in Zendesk.
* Stripe — the backend's mutation helpers (``open_invoice``, ``pay_invoice``, ``fail_invoice``,
  ``change_card``, ``change_quantity``, ``cancel_subscription``), so the event log the source reads has the
  events Stripe would have emitted.
* Tech lookup — every technology still detected is re-detected now; the ones no longer detected keep
  their old ``last_detected`` (which is how a crawl index shows a removal), new competitors appear.
* Usage — the CSV export is rewritten, as the nightly warehouse job would.
* Salesforce / HubSpot — NPS, churn, ARR (seats bought or dropped), champion changes and e-mail opt-outs
  are record updates that bump
  ``SystemModstamp`` / ``hs_lastmodifieddate``, the fields the incremental reads filter on.
* CSMs (Salesforce, mid-way through the step) work the connector's open tasks as people do: complete
  some, leave the rest, reassign one, delete one, move one's due date
  (:func:`connector.sandbox.csm.simulate_csms`), so the read-back has real evidence to respect.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from connector.sandbox.csm import simulate_csms
from connector.sandbox.dataset import write_usage_csv
from connector.sandbox.dataset_evolve import evolve
from connector.sandbox.world import Company, Contact, World
from connector.sandbox.zendesk.backend import iso

if TYPE_CHECKING:
    from connector.sandbox.cluster import Cluster
    from connector.sandbox.hubspot.backend import HubSpotBackend
    from connector.sandbox.salesforce.backend import SalesforceBackend
    from connector.sandbox.stripe.backend import StripeBackend
    from connector.sandbox.techlookup.backend import TechLookupBackend
    from connector.sandbox.zendesk.backend import ZendeskBackend

#: What :func:`advance` pushed, per system: change kind → count (e.g. ``{"zendesk": {"new_tickets": 12}}``).
Changes = dict[str, Counter[str]]


@dataclass(frozen=True)
class _People:
    """The CRM-visible state of one company before the step."""

    nps: int | None
    champion_changed_at: date | None
    contacts: int
    opted_out: frozenset[str]
    arr: float
    churned: bool


@dataclass(frozen=True)
class _Snapshot:
    """What the connector can observe of the world, taken before :func:`evolve` mutates it."""

    tickets: dict[int, tuple[str, str | None, datetime]]
    invoices: dict[str, tuple[str, int]]
    cards: dict[str, tuple[int, int]]
    tech: dict[str, dict[str, datetime]]
    people: dict[int, _People]

    @classmethod
    def take(cls, world: World) -> _Snapshot:
        return cls(
            tickets={t.id: (t.status, t.priority, t.updated_at) for t in world.tickets},
            invoices={i.id: (i.status, i.attempt_count) for cu in world.stripe_customers for i in cu.invoices},
            cards={c.id: (c.exp_month, c.exp_year) for cu in world.stripe_customers for c in cu.cards},
            tech={p.domain: {t.name: t.last_detected for t in p.technologies} for p in world.tech},
            people={c.index: _People(c.nps, c.champion_changed_at, len(c.contacts),
                                     frozenset(ct.email for ct in c.contacts if ct.email_opt_out), c.arr,
                                     c.churned)
                    for c in world.companies},
        )


def advance(cluster: Cluster, days: float, seed: int = 0) -> Changes:
    """Advance the sandbox clock and the world by ``days`` and push the changes into every emulator.

    Deterministic for the same world, ``days`` and ``seed`` (see :func:`evolve`).  Returns what was pushed,
    per system, so a demo can say what happened between two syncs.
    """
    world = cluster.world
    before = _Snapshot.take(world)
    floor = cluster.clock.now()  # no pushed change may predate what the connector may already have read
    backends = {name: emulator.backend for name, emulator in cluster.emulators.items()}
    changes: Changes = {name: Counter() for name in (*backends, "usage")}
    cluster.clock.advance(timedelta(days=days / 2))
    if "salesforce" in backends:  # mid-week, the CSMs work their task lists
        simulate_csms(backends["salesforce"], seed, changes["salesforce"])
    cluster.clock.advance(timedelta(days=days / 2))
    evolve(world, days, seed)
    if "zendesk" in backends:
        _push_tickets(backends["zendesk"], world, before, floor, changes["zendesk"])
    if "stripe" in backends:
        _push_billing(backends["stripe"], world, before, changes["stripe"])
    if "techlookup" in backends:
        _push_tech(backends["techlookup"], world, before, changes["techlookup"])
    moved = [c for c in world.companies if _people_changed(c, before.people[c.index])]
    if "salesforce" in backends:
        _push_salesforce(backends["salesforce"], moved, before, changes["salesforce"])
    if "hubspot" in backends:
        _push_hubspot(backends["hubspot"], moved, before, changes["hubspot"])
    changes["usage"]["rows_rewritten"] = write_usage_csv(world, cluster.usage_path)
    return {name: counts for name, counts in changes.items() if counts}


# -- Zendesk -----------------------------------------------------------------------------------------------


def _push_tickets(backend: ZendeskBackend, world: World, before: _Snapshot, floor: datetime,
                  changes: Counter[str]) -> None:
    for ticket in world.tickets:
        previous = before.tickets.get(ticket.id)
        if previous is not None and previous == (ticket.status, ticket.priority, ticket.updated_at):
            continue
        # A change always happens after the last read; the world may date a late status flip earlier.
        updated = iso(max(ticket.updated_at, floor))
        stored = backend.tickets.get(ticket.id)
        if stored is None:
            requester = backend.user_for(ticket.requester_email, ticket.organization_id)
            stored = {"id": ticket.id, "subject": ticket.subject, "requester_id": requester,
                      "organization_id": ticket.organization_id, "tags": list(ticket.tags),
                      "created_at": iso(ticket.created_at)}
            changes["new_tickets"] += 1
        else:
            changes["updated_tickets"] += 1
        backend.put_ticket({**stored, "status": ticket.status, "priority": ticket.priority,
                            "updated_at": updated}, solved_at=ticket.solved_at)


# -- Stripe ------------------------------------------------------------------------------------------------


def _push_billing(backend: StripeBackend, world: World, before: _Snapshot, changes: Counter[str]) -> None:
    for customer in world.stripe_customers:
        if customer.id not in backend.customers:
            continue
        for invoice in customer.invoices:
            _push_invoice(backend, invoice.id, invoice.subscription_id, invoice.paid, invoice.attempt_count,
                          before.invoices.get(invoice.id), changes)
        for sub in customer.subscriptions:
            stored = backend.subscriptions.get(sub.id)
            if sub.status == "canceled" and stored is not None and stored["status"] != "canceled":
                backend.cancel_subscription(sub.id)
                changes["subscriptions_canceled"] += 1
            elif stored is not None and stored["status"] != "canceled" and stored.get("quantity") != sub.quantity:
                backend.change_quantity(sub.id, sub.quantity)
                changes["seats_changed"] += 1
        for card in customer.cards:
            if before.cards.get(card.id, (card.exp_month, card.exp_year)) != (card.exp_month, card.exp_year):
                backend.change_card(customer.id, card.exp_month, card.exp_year, brand=card.brand,
                                    last4=card.last4)
                changes["cards_replaced"] += 1


def _push_invoice(backend: StripeBackend, invoice_id: str, subscription_id: str, paid: bool, attempts: int,
                  previous: tuple[str, int] | None, changes: Counter[str]) -> None:
    """Replay one invoice's charge attempts since the snapshot, as payment events."""
    if previous is None:
        if subscription_id not in backend.subscriptions:
            return
        backend.open_invoice(subscription_id, invoice_id)
        changes["invoices_issued"] += 1
        previous = ("open", 0)
    stored = backend.invoices.get(invoice_id)
    if stored is None or stored["status"] != "open":
        return
    failures = attempts - previous[1] - (1 if paid else 0)
    for _ in range(max(0, failures)):
        backend.fail_invoice(invoice_id)
        changes["payments_failed"] += 1
    if paid:
        backend.pay_invoice(invoice_id)
        changes["invoices_paid"] += 1


# -- tech lookup -------------------------------------------------------------------------------------------


def _push_tech(backend: TechLookupBackend, world: World, before: _Snapshot, changes: Counter[str]) -> None:
    for profile in world.tech:
        seen = before.tech.get(profile.domain, {})
        for tech in profile.technologies:
            if tech.name not in seen:
                backend.install(profile.domain, tech.name, tech.tag)
                changes["technologies_detected"] += 1
            elif tech.last_detected != seen[tech.name]:
                backend.install(profile.domain, tech.name, tech.tag)  # re-detected now
            else:
                changes["technologies_not_redetected"] += 1


# -- CRMs --------------------------------------------------------------------------------------------------


def _people_changed(company: Company, before: _People) -> bool:
    opted_out = {ct.email for ct in company.contacts if ct.email_opt_out}
    return (company.nps, company.champion_changed_at, len(company.contacts), frozenset(opted_out), company.arr,
            company.churned) != (before.nps, before.champion_changed_at, before.contacts, before.opted_out,
                                 before.arr, before.churned)


def _push_salesforce(backend: SalesforceBackend, companies: list[Company], before: _Snapshot,
                     changes: Counter[str]) -> None:
    contacts = {(r.get("AccountId"), r.get("Email")): r for r in backend.records["Contact"].values()}
    for company in companies:
        if not company.salesforce_id or company.salesforce_id not in backend.records["Account"]:
            continue
        if company.nps != before.people[company.index].nps:
            _sf_update(backend, "Account", {"Id": company.salesforce_id, "NPS__c": company.nps})
            changes["nps_updated"] += 1
        if company.churned != before.people[company.index].churned:
            _sf_update(backend, "Account", {"Id": company.salesforce_id, "Churned__c": company.churned,
                                            "Churn_Reason__c": company.churn_reason})
            changes["accounts_churned"] += 1
        if company.arr != before.people[company.index].arr:
            _sf_update(backend, "Account", {"Id": company.salesforce_id, "ARR__c": company.arr})
            changes["arr_changed"] += 1
        since = company.champion_changed_at or company.contract_start
        for person in company.contacts:
            wanted = {"HasOptedOutOfEmail": person.email_opt_out, "Is_Champion__c": person.is_champion,
                      "Champion_Since__c": since.isoformat() if person.is_champion else None}
            record = contacts.get((company.salesforce_id, person.email))
            if record is None:
                backend.put("Contact", {**({"Id": person.salesforce_id} if person.salesforce_id else {}),
                                        "AccountId": company.salesforce_id, "FirstName": person.first_name,
                                        "LastName": person.last_name, "Email": person.email, **wanted})
                changes["contacts_created"] += 1
                continue
            diff = {k: v for k, v in wanted.items() if record.get(k) != v}
            if diff:
                _sf_update(backend, "Contact", {"Id": record["Id"], **diff})
                changes["contacts_updated"] += 1


def _sf_update(backend: SalesforceBackend, obj: str, body: dict[str, Any]) -> None:
    result = backend.update(obj, body)
    if not result["success"]:
        raise RuntimeError(f"sandbox evolution: salesforce {obj} {body['Id']} update refused: {result['errors']}")


def _push_hubspot(backend: HubSpotBackend, companies: list[Company], before: _Snapshot,
                  changes: Counter[str]) -> None:
    for company in companies:
        if not company.hubspot_id or backend.find("companies", company.hubspot_id) is None:
            continue
        previous = before.people[company.index]
        props: dict[str, Any] = {}
        if company.nps != previous.nps:
            props["nps_score"] = company.nps
        if company.champion_changed_at != previous.champion_changed_at and company.champion_changed_at:
            props["champion_changed_date"] = company.champion_changed_at.isoformat()
        if company.churned != previous.churned:
            props.update(churned=company.churned, churn_reason=company.churn_reason)
        if company.arr != previous.arr:
            props["arr"] = round(company.arr, 2)
        if props:
            backend.update("companies", company.hubspot_id, {"properties": props})
            changes["companies_updated"] += 1
        for person in company.contacts:
            _push_hubspot_contact(backend, company, person, changes)


def _push_hubspot_contact(backend: HubSpotBackend, company: Company, person: Contact,
                          changes: Counter[str]) -> None:
    optout = "true" if person.email_opt_out else "false"
    if person.hubspot_id and backend.find("contacts", person.hubspot_id) is None:
        backend.insert("contacts", {"email": person.email, "firstname": person.first_name,
                                    "lastname": person.last_name, "hs_email_optout": optout,
                                    "associatedcompanyid": company.hubspot_id}, object_id=person.hubspot_id)
        changes["contacts_created"] += 1
        return
    record = backend.find("contacts", person.email, "email")
    if record is not None and record.properties.get("hs_email_optout") != optout:
        backend.update("contacts", record.id, {"properties": {"hs_email_optout": optout}})
        changes["contacts_updated"] += 1
