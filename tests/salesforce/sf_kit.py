"""Helpers for the Salesforce tests: a hand-built World, the running sandbox, config and contexts.

The World is built here (not by the dataset generator) so each test states exactly the accounts it needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from connector.config import Config, config_from_dict
from connector.http import HttpLayer
from connector.sandbox.core import Emulator, RunningServer, SandboxClock, SandboxTLS
from connector.sandbox.salesforce import SalesforceBackend
from connector.sandbox.world import Company, Contact, Owner, World
from connector.sinks.base import SinkContext
from connector.sources.base import SourceContext
from connector.store import Store

REPO = Path(__file__).resolve().parents[2]


def sf_id(prefix: str, n: int) -> str:
    from connector.sandbox.salesforce.backend import salesforce_id

    return salesforce_id(prefix, n)


def make_world(accounts: int, *, now: datetime = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)) -> World:
    """``accounts`` companies in Salesforce, two owners, a champion and a regular contact each."""
    owners = [Owner(i, f"Owner {i}", f"owner{i}@vendor.test", sf_id("005", i + 1), str(100 + i)) for i in range(2)]
    companies = []
    for i in range(accounts):
        contacts = [Contact(f"champ{i}@c{i}.test", "Cham", f"Pion{i}", is_champion=True, email_opt_out=i % 7 == 0),
                    Contact(f"user{i}@c{i}.test", "Us", f"Er{i}")]
        companies.append(Company(
            index=i, name=f"Company {i}", domain=f"c{i}.test", segment=("Enterprise", "Mid-Market", "SMB")[i % 3],
            owner=owners[i % 2], contract_start=date(2025, 1, 1), renewal_date=date(2027, 1, 1),
            arr=10_000.0 + i, seats=10, health=0.5, trend=0.0, contacts=contacts,
            champion_changed_at=date(2026, 10, 1) if i % 5 == 0 else None, training_completed=i % 4,
            services_purchased=i % 2 == 0, upsells_taken=i % 3, advocacy=i % 6 == 0, nps=i % 11,
            churned=i % 13 == 12, churn_reason="Budget cut" if i % 13 == 12 else None,
            salesforce_id=sf_id("001", i + 1), external_id=f"ERP-{i:05d}"))
    return World(seed=0, generated_at=now, owners=owners, companies=companies, tickets=[], stripe_customers=[],
                 usage=[], tech=[], competitors=[], own_technology="OurWidget")


@dataclass
class SfSandbox:
    emulator: Emulator
    server: RunningServer
    clock: SandboxClock

    @property
    def backend(self) -> SalesforceBackend:
        return self.emulator.backend  # type: ignore[no-any-return]

    @property
    def url(self) -> str:
        return self.server.url

    def calls(self, method: str | None = None, contains: str = "") -> list[str]:
        """``METHOD path`` of every API call the emulator answered (control routes excluded)."""
        return [f"{e.method} {e.path}" for e in self.emulator.ctx.ledger.entries()
                if (method is None or e.method == method) and contains in e.path]

    def writes(self) -> list[str]:
        return [c for c in self.calls() if not c.startswith("GET ")]

    def reset_ledger(self) -> None:
        """Clear the emulator's ledger once it is quiet: it records a call after the response went out."""
        seen = -1
        while seen != len(self.emulator.ctx.ledger.entries()):
            seen = len(self.emulator.ctx.ledger.entries())
            time.sleep(0.02)
        self.emulator.ctx.ledger.reset()


def make_config(sandbox: SfSandbox, tls: SandboxTLS, monkeypatch: pytest.MonkeyPatch, *, primary: str = "salesforce",
                **salesforce: object) -> Config:
    backend = sandbox.backend
    monkeypatch.setenv("SF_TEST_TOKEN", backend.issue_token())
    monkeypatch.setenv("SF_TEST_REFRESH", backend.refresh_token)
    monkeypatch.setenv("SF_TEST_CLIENT_ID", backend.client_id)
    monkeypatch.setenv("SF_TEST_CLIENT_SECRET", backend.client_secret)
    monkeypatch.setenv("HS_TEST_TOKEN", "unused")
    section = {"base_url": sandbox.url, "ca_bundle": str(tls.ca_path), "session_id_env": "SF_TEST_TOKEN",
               "refresh_token_env": "SF_TEST_REFRESH", "client_id_env": "SF_TEST_CLIENT_ID",
               "client_secret_env": "SF_TEST_CLIENT_SECRET", "bulk_poll_seconds": 0, **salesforce}
    data: dict[str, object] = {"connector": {"primary_crm": primary}, "salesforce": section}
    if primary == "hubspot":
        data["hubspot"] = {"access_token_env": "HS_TEST_TOKEN"}
    return config_from_dict(data, REPO / "config.toml")


def source_ctx(store: Store, http: HttpLayer, config: Config, clock: SandboxClock, full: bool = False
               ) -> SourceContext:
    return SourceContext(store=store, http=http, config=config, now=clock.now(), full=full)


def sink_ctx(store: Store, http: HttpLayer, config: Config, clock: SandboxClock, dry_run: bool = False
             ) -> SinkContext:
    return SinkContext(store=store, http=http, config=config, now=clock.now(), dry_run=dry_run)
