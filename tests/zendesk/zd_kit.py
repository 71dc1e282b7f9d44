"""Helpers for the Zendesk tests: hand-made worlds, a running emulator, config, and run shortcuts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.config import Config, config_from_dict
from connector.http import HttpLayer
from connector.records import AccountOutput, IdentityKeys, Observation, Quarantined
from connector.sandbox.core import Emulator, RunningServer, SandboxClock, SandboxTLS
from connector.sandbox.world import Company, Owner, Ticket, World
from connector.sinks.base import SinkContext, SinkReport
from connector.sinks.zendesk import ZendeskSink
from connector.sources.base import SourceContext
from connector.sources.zendesk import ZendeskSource
from connector.store import Store

MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "zendesk.toml"
TOKEN_ENV = "ZD_TEST_TOKEN"
OWNER = Owner(0, "Casey CSM", "casey@vendor.example", "005000000000001AAA", "101")


def company(index: int, org_id: int | None = None, domain: str | None = None) -> Company:
    return Company(index=index, name=f"Customer {index}", domain=domain or f"customer{index}.example",
                   segment="Mid-Market", owner=OWNER, contract_start=date(2025, 1, 1),
                   renewal_date=date(2027, 1, 1), arr=12_000.0, seats=10, health=0.5, trend=0.0,
                   zendesk_org_id=org_id if org_id is not None else 1000 + index,
                   external_id=f"ERP-{index}")


def ticket(ticket_id: int, org_id: int | None, now: datetime, *, status: str = "open", priority: str = "normal",
           age_days: float = 3, updated_days: float = 1, solved_hours: float | None = None,
           tags: list[str] | None = None, email: str | None = None) -> Ticket:
    created = now - timedelta(days=age_days)
    solved = created + timedelta(hours=solved_hours) if solved_hours is not None else None
    return Ticket(ticket_id, org_id, email or f"user{ticket_id}@customer{org_id}.example", f"Ticket {ticket_id}",
                  status, priority, created, now - timedelta(days=updated_days), solved, list(tags or []))


def make_world(now: datetime, companies: list[Company], tickets: list[Ticket]) -> World:
    return World(seed=0, generated_at=now, owners=[OWNER], companies=companies, tickets=tickets,
                 stripe_customers=[], usage=[], tech=[], competitors=[], own_technology="OurWidget")


def make_config(url: str, tls: SandboxTLS, **zendesk: Any) -> Config:
    section = {"base_url": url, "email": "agent@vendor.example", "token_env": TOKEN_ENV,
               "ca_bundle": str(tls.ca_path), "mapping": str(MAPPING), "job_poll_seconds": 0.01,
               "job_timeout_seconds": 10, **zendesk}
    return config_from_dict({"salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False},
                             "zendesk": section})


@dataclass
class ZdSandbox:
    """A running Zendesk emulator plus what a test needs to drive it with the real client."""

    emulator: Emulator
    server: RunningServer
    clock: SandboxClock
    tls: SandboxTLS
    store: Store
    http: HttpLayer
    config: Config
    quarantined: list[Quarantined] = field(default_factory=list)
    _mark: int = 0

    @property
    def backend(self) -> Any:
        return self.emulator.backend

    def pull(self, *, full: bool = False) -> list[Observation]:
        """One source run; quarantined records are kept on ``self.quarantined``."""
        ctx = SourceContext(self.store, self.http, self.config, self.clock.now(), full)
        items = list(ZendeskSource(self.config).pull(ctx))
        self.quarantined += [i for i in items if isinstance(i, Quarantined)]
        return [i for i in items if isinstance(i, Observation)]

    def sink(self) -> ZendeskSink:
        return ZendeskSink(self.config)

    def sink_ctx(self, dry_run: bool = False) -> SinkContext:
        return SinkContext(self.store, self.http, self.config, self.clock.now(), None, dry_run)

    def write(self, outputs: list[AccountOutput], sink: ZendeskSink | None = None,
              dry_run: bool = False) -> SinkReport:
        return (sink or self.sink()).write(self.sink_ctx(dry_run), outputs, [])

    def match(self, pairs: dict[str, int]) -> None:
        """Make account → org matches as identity resolution would (observation + match row)."""
        now = self.clock.now()
        self.store.upsert_observations(Observation("zendesk", "organization", str(org), IdentityKeys(), {}, now)
                                       for org in pairs.values())
        self.store.set_matches(("zendesk", "organization", str(org), account, "matched")
                               for account, org in pairs.items())

    def _settle(self) -> None:
        """The emulator records a call after its response went out, so the client can be a moment ahead:
        wait (briefly) until every call our HttpLayer made since the last reset is in the emulator's ledger."""
        deadline = time.monotonic() + 2
        while (len(self.emulator.ctx.ledger.entries()) < len(self.http.ledger.calls) - self._mark
               and time.monotonic() < deadline):
            time.sleep(0.005)

    def reset_calls(self) -> None:
        self._settle()
        self.emulator.ctx.ledger.reset()
        self._mark = len(self.http.ledger.calls)

    def calls(self, method: str | None = None, path_part: str = "") -> list[Any]:
        """Emulator ledger entries since the last reset, optionally filtered."""
        self._settle()
        return [e for e in self.emulator.ctx.ledger.entries()
                if (method is None or e.method == method) and path_part in e.path]


StartZendesk = Callable[..., ZdSandbox]


def output(account_id: str, **fields: Any) -> AccountOutput:
    base: dict[str, Any] = {"success_vector": 61.0, "vector_direction": "Flat", "priority_band": "P3",
                            "priority_reason": "P3: support backlog",
                            "vector_drivers": "Slow ticket resolution", "next_milestone": "Adoption",
                            "next_milestone_status": "On track", "risk_flags": "",
                            "vector_updated_at": date(2026, 11, 2)}
    return AccountOutput(account_id, {**base, **fields})
