"""Fixtures for the HubSpot vertical: the emulator over TLS with chosen limits, and helpers on it.

Helpers live here (not in a sibling module) because the suite runs with ``--import-mode=importlib``:
tests reach them through the ``start_hubspot`` fixture and the :class:`HsSandbox` it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.clients.hubspot import HubSpotClient
from connector.config import Config, ConnectorSection, HubSpotConfig, SalesforceConfig
from connector.http import HttpLayer
from connector.records import AccountOutput, TaskSpec
from connector.sandbox.core import Emulator, RunningServer, SandboxClock, SandboxTLS, serve
from connector.sandbox.hubspot import (
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    OAUTH_REFRESH_TOKEN,
    PRIVATE_APP_TOKEN,
    HubSpotBackend,
    create_emulator,
)
from connector.sandbox.world import World
from connector.sinks.base import SinkContext, SinkReport
from connector.sinks.hubspot import HubSpotSink
from connector.sources.base import SourceContext, SourceItem
from connector.sources.hubspot import HubSpotSource
from connector.store import Store

MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "hubspot.toml"
TOKEN_ENV, CLIENT_ID_ENV, CLIENT_SECRET_ENV, REFRESH_ENV = ("HS_TEST_TOKEN", "HS_TEST_CLIENT_ID",
                                                            "HS_TEST_CLIENT_SECRET", "HS_TEST_REFRESH")


def add_companies(backend: HubSpotBackend, count: int, start: datetime, step: timedelta = timedelta(seconds=1),
                  **props: Any) -> list[str]:
    """``count`` companies modified one ``step`` apart from ``start``; returns their ids."""
    ids = []
    for i in range(count):
        obj = backend.insert("companies", {"name": f"Company {i}", "domain": f"company{i}.example",
                                           "erp_id": f"ERP-{i:06d}", **props})
        backend.stamp(obj, start + step * i)
        ids.append(obj.id)
    return ids


def output(account_id: str, vector: float = 60.0, **fields: Any) -> AccountOutput:
    values = {"success_vector": vector, "vector_velocity": 1.5, "vector_direction": "Positive",
              "vector_confidence": 80, "vector_drivers": "Adoption is broad; tickets resolve fast.",
              "current_stage": "Onboarded", "next_milestone": "First value", "next_milestone_due": date(2026, 12, 1),
              "next_milestone_status": "On track", "ttfv_days": 21, "quadrant": "Success",
              "risk_flags": "payment_failed;competitor_detected", "priority_band": "P3",
              "vector_updated_at": datetime(2026, 11, 2, 9, 0, tzinfo=UTC), **fields}
    return AccountOutput(account_id, values, name=f"Account {account_id}")


def task(account_id: str, step: int = 1, status: str = "open", owner_id: str | None = None) -> TaskSpec:
    return TaskSpec(key=f"{account_id}:onboarding:{step}", account_id=account_id, play="onboarding", step=step,
                    channel="call", subject=f"Onboarding step {step}: book the kickoff call",
                    body="Why: no kickoff yet. Next milestone: First value by 2026-12-01. Bring: the plan.",
                    due_date=date(2026, 11, 9), priority="High", owner_id=owner_id,
                    status=status)  # type: ignore[arg-type]


@dataclass
class HsSandbox:
    """A running emulator plus what the connector needs to talk to it."""

    emulator: Emulator
    server: RunningServer
    clock: SandboxClock
    tls: SandboxTLS
    store: Store
    http: HttpLayer
    primary: str = "hubspot"
    oauth: bool = False
    max_retries: int = 6

    output = staticmethod(output)
    task = staticmethod(task)

    def add_companies(self, count: int, start: datetime, step: timedelta = timedelta(seconds=1),
                      **props: Any) -> list[str]:
        return add_companies(self.backend, count, start, step, **props)

    @property
    def backend(self) -> HubSpotBackend:
        return self.emulator.backend  # type: ignore[no-any-return]

    def hubspot_config(self, **overrides: Any) -> HubSpotConfig:
        auth = ({"refresh_token_env": REFRESH_ENV, "client_id_env": CLIENT_ID_ENV,
                 "client_secret_env": CLIENT_SECRET_ENV} if self.oauth else {"access_token_env": TOKEN_ENV})
        settings: dict[str, Any] = {"base_url": self.server.url, "ca_bundle": self.tls.ca_path, "mapping": MAPPING,
                                    "max_retries": self.max_retries, **auth, **overrides}
        return HubSpotConfig(**settings)

    def config(self, **overrides: Any) -> Config:
        salesforce = SalesforceConfig(base_url="https://sf.invalid", enabled=False) \
            if self.primary == "salesforce" else None  # only there to be the primary CRM
        return Config(connector=ConnectorSection(primary_crm=self.primary),  # type: ignore[arg-type]
                      hubspot=self.hubspot_config(**overrides), salesforce=salesforce)

    def client(self, **overrides: Any) -> HubSpotClient:
        return HubSpotClient(self.hubspot_config(**overrides), self.http)

    def pull(self, source: HubSpotSource | None = None, full: bool = False) -> list[SourceItem]:
        config = self.config()
        ctx = SourceContext(self.store, self.http, config, self.clock.now(), full)
        return list((source or HubSpotSource(config)).pull(ctx))

    def sink_ctx(self, dry_run: bool = False) -> SinkContext:
        return SinkContext(self.store, self.http, self.config(), self.clock.now(), None, dry_run)

    def write(self, outputs: list[AccountOutput], tasks: list[TaskSpec] | None = None,
              dry_run: bool = False) -> SinkReport:
        return HubSpotSink(self.config()).write(self.sink_ctx(dry_run), outputs, tasks or [])

    def calls(self, method: str, endpoint: str) -> int:
        """Calls the connector made (first attempts only) to ``method endpoint``."""
        return sum(1 for c in self.http.ledger.calls
                   if (c.method, c.endpoint) == (method, endpoint) and c.attempt == 1)

    def writes(self) -> int:
        """Every call that changes HubSpot data."""
        return sum(1 for c in self.http.ledger.calls if c.method in ("POST", "PATCH", "PUT")
                   and not c.endpoint.endswith(("/search", "/batch/read")))


StartHubSpot = Callable[..., HsSandbox]


@pytest.fixture
def start_hubspot(clock: SandboxClock, sandbox_tls: SandboxTLS, store: Store,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[StartHubSpot]:
    """``start_hubspot(world=None, primary="hubspot", oauth=False, max_retries=6, **limits)`` → HsSandbox."""
    for env, value in ((TOKEN_ENV, PRIVATE_APP_TOKEN), (CLIENT_ID_ENV, OAUTH_CLIENT_ID),
                       (CLIENT_SECRET_ENV, OAUTH_CLIENT_SECRET), (REFRESH_ENV, OAUTH_REFRESH_TOKEN)):
        monkeypatch.setenv(env, value)
    servers: list[RunningServer] = []

    def start(world: World | None = None, *, primary: str = "hubspot", oauth: bool = False,
              max_retries: int = 6, **limits: Any) -> HsSandbox:
        emulator = create_emulator(clock, world, **limits)
        server = serve(emulator.app, tls=sandbox_tls)
        servers.append(server)
        return HsSandbox(emulator, server, clock, sandbox_tls, store, HttpLayer(), primary, oauth, max_retries)

    yield start
    for server in servers:
        server.server.force_exit = True  # keep-alive client connections must not hold the shutdown
        server.stop()
