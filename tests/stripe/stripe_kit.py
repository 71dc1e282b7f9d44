"""Helpers for the Stripe tests: hand-made billing worlds, a running emulator, and run shortcuts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connector.clients.stripe import StripeClient, build_client
from connector.config import Config, config_from_dict
from connector.http import Call, HttpLayer
from connector.records import Observation, Quarantined
from connector.sandbox.core import Emulator, RunningServer, SandboxClock, SandboxTLS
from connector.sandbox.world import StripeCard, StripeCustomer, StripeInvoice, StripeSubscription, World
from connector.sources.base import SourceContext
from connector.sources.stripe import StripeSource
from connector.store import Store

KEY_ENV = "STRIPE_TEST_KEY"


def customer(n: int, now: datetime, *, status: str = "active", seats: int = 10, unit: int = 5_000,
             invoices: list[StripeInvoice] | None = None, card: tuple[int, int] | None = (12, 2030),
             crm_id: str | None = None, email: str | None = None, age_days: int = 400) -> StripeCustomer:
    """Customer ``cus_test{n}`` created ``age_days`` ago with one per-seat monthly subscription."""
    created = now - timedelta(days=age_days, seconds=n)
    sub = StripeSubscription(f"sub_test{n}", status, unit, seats, created, now + timedelta(days=10))
    cards = [StripeCard(f"card_test{n}", "visa", "4242", *card)] if card else []
    return StripeCustomer(f"cus_test{n}", email if email is not None else f"billing@customer{n}.example",
                          f"Customer {n}", {"crm_account_id": crm_id} if crm_id else {}, created,
                          [sub], list(invoices or []), cards)


def invoice(n: int, k: int, now: datetime, *, status: str = "paid", attempts: int = 1, age_days: float = 20,
            due_days: float | None = None, amount: int = 50_000) -> StripeInvoice:
    created = now - timedelta(days=age_days)
    due = created + timedelta(days=due_days) if due_days is not None else None
    return StripeInvoice(f"in_test{n}x{k}", f"sub_test{n}", status, amount, attempts, created, due, status == "paid")


def make_world(now: datetime, customers: list[StripeCustomer]) -> World:
    return World(seed=0, generated_at=now, owners=[], companies=[], tickets=[], stripe_customers=customers,
                 usage=[], tech=[], competitors=[], own_technology="OurWidget")


def make_config(url: str, tls: SandboxTLS, **stripe: Any) -> Config:
    section = {"base_url": url, "api_key_env": KEY_ENV, "ca_bundle": str(tls.ca_path), **stripe}
    return config_from_dict({"salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False},
                             "stripe": section})


@dataclass
class StripeSandbox:
    """A running Stripe emulator plus what a test needs to drive it through the real client path."""

    emulator: Emulator
    server: RunningServer
    clock: SandboxClock
    store: Store
    http: HttpLayer
    config: Config
    quarantined: list[Quarantined] = field(default_factory=list)

    @property
    def ca(self) -> str:
        return str(self.config.stripe.ca_bundle if self.config.stripe else "")

    @property
    def backend(self) -> Any:
        return self.emulator.backend

    def client(self) -> StripeClient:
        assert self.config.stripe is not None
        return build_client(self.config.stripe, self.http)

    def pull(self, *, full: bool = False) -> dict[str, Observation]:
        """One source run; observations by customer id."""
        ctx = SourceContext(self.store, self.http, self.config, self.clock.now(), full)
        items = list(StripeSource(self.config).pull(ctx))
        self.quarantined += [i for i in items if isinstance(i, Quarantined)]
        return {i.entity_id: i for i in items if isinstance(i, Observation)}

    def calls(self, path_part: str = "") -> list[Call]:
        """Calls as the client's HttpLayer recorded them (synchronous, unlike the server's ledger)."""
        return [c for c in self.http.ledger.calls if path_part in c.endpoint]

    def reset_ledger(self) -> None:
        self.http.ledger.calls.clear()


StartStripe = Callable[..., StripeSandbox]
