"""Fixtures for the enrichment vertical: the technology-lookup emulator over TLS and a store with accounts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from connector.config import Config, config_from_dict
from connector.http import Call, HttpLayer, RetryPolicy
from connector.records import Account, Observation, Quarantined
from connector.sandbox.core import Emulator, RunningServer, SandboxClock, SandboxTLS, serve
from connector.sandbox.techlookup import SANDBOX_KEY, create_emulator
from connector.sandbox.world import Technology, TechProfile, World
from connector.sources.base import SourceContext
from connector.sources.enrichment import EnrichmentSource
from connector.store import Store

KEY_ENV = "TECHLOOKUP_TEST_KEY"
COMPETITORS = ["RivalChat", "OtherDesk"]
OWN = "OurWidget"


def profile(domain: str, now: datetime, **last_days_ago: float) -> TechProfile:
    """A profile whose technologies (``RivalChat=3``) were last detected that many days ago."""
    techs = [Technology("Google Analytics", "analytics", now - timedelta(days=900), now - timedelta(days=1))]
    for name, days in last_days_ago.items():
        techs.append(Technology(name, "widgets", now - timedelta(days=400), now - timedelta(days=days)))
    return TechProfile(domain, techs)


class Enrichment:
    """A running emulator, the store with account domains, and one-call run shortcuts."""

    def __init__(self, emulator: Emulator, server: RunningServer, clock: SandboxClock, store: Store,
                 tls: SandboxTLS, **section: Any):
        self.emulator, self.server, self.clock, self.store = emulator, server, clock, store
        self.http = HttpLayer()
        self.http.configure("enrichment", policy=RetryPolicy(max_retries=3, base_seconds=0.01, cap_seconds=0.5))
        self.config: Config = config_from_dict({
            "salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False},
            "enrichment": {"base_url": server.url, "api_key_env": KEY_ENV, "ca_bundle": str(tls.ca_path),
                           "competitors": COMPETITORS, "own_technology": OWN, **section}})

    @property
    def ca(self) -> str:
        return str(self.config.enrichment.ca_bundle if self.config.enrichment else "")

    def accounts(self, domains: Sequence[str | None]) -> None:
        self.store.upsert_accounts(Account(f"001{i:015d}", "salesforce", f"Account {i}", d)
                                   for i, d in enumerate(domains))

    def pull(self) -> tuple[dict[str, Observation], list[Quarantined]]:
        ctx = SourceContext(self.store, self.http, self.config, self.clock.now())
        items = list(EnrichmentSource(self.config).pull(ctx))
        return ({i.entity_id: i for i in items if isinstance(i, Observation)},
                [i for i in items if isinstance(i, Quarantined)])

    def lookups(self) -> list[Call]:
        calls = [c for c in self.http.ledger.calls if c.endpoint == "/v21/api.json"]
        self.http.ledger.calls.clear()
        return calls

    def credits(self, calls: int) -> list[int]:
        """Domains per call as the emulator billed them (its ledger's ``records``), once ``calls`` are in.

        The server records a call just after answering it, so the last entry may trail the client.
        """
        deadline = time.monotonic() + 2
        while True:
            entries = [e for e in self.emulator.ctx.ledger.entries() if e.path == "/v21/api.json"]
            if len(entries) >= calls or time.monotonic() > deadline:
                return [e.records or 0 for e in entries]
            time.sleep(0.01)


StartEnrichment = Callable[..., Enrichment]


@pytest.fixture
def start_enrichment(clock: SandboxClock, sandbox_tls: SandboxTLS, store: Store,
                     monkeypatch: pytest.MonkeyPatch) -> Iterator[StartEnrichment]:
    monkeypatch.setenv(KEY_ENV, SANDBOX_KEY)
    servers: list[RunningServer] = []

    def start(profiles: list[TechProfile], **section: Any) -> Enrichment:
        world = World(seed=0, generated_at=clock.now(), owners=[], companies=[], tickets=[], stripe_customers=[],
                      usage=[], tech=profiles, competitors=COMPETITORS, own_technology=OWN)
        emulator = create_emulator(clock, world, requests_per_second=None)
        server = serve(emulator.app, tls=sandbox_tls)
        servers.append(server)
        return Enrichment(emulator, server, clock, store, sandbox_tls, **section)

    yield start
    for server in servers:
        server.server.force_exit = True
        server.stop()
