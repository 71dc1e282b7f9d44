"""The synthetic world the sandbox serves: one coherent set of companies seen through every system.

The generator (:mod:`connector.sandbox.dataset`) makes a :class:`World`; each emulator backend loads the
part it owns with ``backend.load_world(world)``.  Keeping the world system-neutral is what makes it
coherent: the same company's latent health drives its tickets, its payments and its usage, so the scores
the connector computes line up with what the dataset meant — which is how the tests can tell a right
score from a lucky one.

Ids are assigned here (not by the backends) so a test can say "account 0's Salesforce id" without asking
the emulator.  Deliberate mess (accounts missing from some systems, duplicate domains, unicode names,
nulls) is part of the world, flagged per company so tests know what to expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(slots=True)
class Owner:
    """A CSM / account owner; exists in Salesforce (005… ids) and HubSpot (numeric owner ids)."""

    index: int
    name: str
    email: str
    salesforce_id: str
    hubspot_id: str


@dataclass(slots=True)
class Contact:
    email: str
    first_name: str
    last_name: str
    is_champion: bool = False
    email_opt_out: bool = False
    salesforce_id: str | None = None
    hubspot_id: str | None = None


@dataclass(slots=True)
class Company:
    """One customer.  ``health`` (0–1) is the latent truth the signals are generated from."""

    index: int
    name: str
    domain: str | None
    segment: str  # "Enterprise" | "Mid-Market" | "SMB" | None-like mess handled by generator
    owner: Owner
    contract_start: date
    renewal_date: date
    arr: float
    seats: int
    health: float
    trend: float  # −1 … +1: where health is heading as the demo clock advances
    contacts: list[Contact] = field(default_factory=list)
    champion_changed_at: date | None = None
    training_completed: int = 0
    services_purchased: bool = False
    upsells_taken: int = 0
    advocacy: bool = False
    nps: int | None = None
    churned: bool = False
    churn_reason: str | None = None
    # Where the company exists, and its id there (None = absent from that system).
    salesforce_id: str | None = None
    hubspot_id: str | None = None
    zendesk_org_id: int | None = None
    stripe_customer_id: str | None = None
    external_id: str | None = None  # e.g. an ERP number, shared across systems when present
    mess: list[str] = field(default_factory=list)  # e.g. ["duplicate_domain", "unicode_name", "no_zendesk"]


@dataclass(slots=True)
class Ticket:
    id: int
    organization_id: int | None
    requester_email: str
    subject: str
    status: str  # new | open | pending | hold | solved | closed
    priority: str | None  # low | normal | high | urgent
    created_at: datetime
    updated_at: datetime
    solved_at: datetime | None
    tags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StripeSubscription:
    id: str
    status: str  # trialing | active | past_due | unpaid | canceled | incomplete | paused
    unit_amount: int  # cents per seat per month
    quantity: int
    created: datetime
    current_period_end: datetime
    percent_off: float | None = None  # a recurring ("forever") coupon on the subscription, if any


@dataclass(slots=True)
class StripeInvoice:
    id: str
    subscription_id: str
    status: str  # draft | open | paid | uncollectible | void
    amount_due: int
    attempt_count: int
    created: datetime
    due_date: datetime | None
    paid: bool


@dataclass(slots=True)
class StripeCard:
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(slots=True)
class StripeCustomer:
    id: str
    email: str | None
    name: str
    metadata: dict[str, str]
    created: datetime
    subscriptions: list[StripeSubscription] = field(default_factory=list)
    invoices: list[StripeInvoice] = field(default_factory=list)
    cards: list[StripeCard] = field(default_factory=list)


@dataclass(slots=True)
class UsageRow:
    """One account's usage summary for a period, as a warehouse would aggregate it."""

    account_key: str  # the CRM account id (Salesforce id when present, else HubSpot id)
    as_of: datetime
    active_users: int | None
    licensed_seats: int | None
    features_adopted: int | None
    key_features_total: int | None
    meaningful_events_30d: int | None


@dataclass(slots=True)
class Technology:
    name: str
    tag: str
    first_detected: datetime
    last_detected: datetime


@dataclass(slots=True)
class TechProfile:
    domain: str
    technologies: list[Technology] = field(default_factory=list)


@dataclass(slots=True)
class World:
    """Everything the sandbox serves, plus the seed and "now" it was generated for."""

    seed: int
    generated_at: datetime
    owners: list[Owner]
    companies: list[Company]
    tickets: list[Ticket]
    stripe_customers: list[StripeCustomer]
    usage: list[UsageRow]
    tech: list[TechProfile]
    competitors: list[str]
    own_technology: str
