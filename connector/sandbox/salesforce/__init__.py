"""Salesforce emulator: REST, SOQL, sObject Collections, Bulk API 2.0 ingest, Tooling custom fields.

``create_emulator`` wires :class:`SalesforceBackend` (state and rules) to the Starlette routes in
:mod:`.app` and the shared sandbox machinery (ledger, faults, clock, control API).
"""

from __future__ import annotations

from datetime import timedelta

from connector.sandbox.core import Emulator, EmulatorContext, SandboxClock, build_app
from connector.sandbox.salesforce.app import SalesforceRoutes, fault_response
from connector.sandbox.salesforce.backend import SalesforceBackend
from connector.sandbox.salesforce.bulk import BulkIngest
from connector.sandbox.world import World

__all__ = ["SalesforceBackend", "create_emulator"]


def create_emulator(clock: SandboxClock, world: World | None = None, *, daily_api_limit: int = 100_000,
                    session_lifetime_seconds: float = 7200, api_version: str = "59.0",
                    bulk_queue_seconds: float = 0.0, bulk_seconds_per_10k: float = 10.0) -> Emulator:
    """An emulated org; ``world`` seeds it.  Limits (and Bulk 2.0 processing time) are parameters so tests
    can make them small."""
    backend = SalesforceBackend(clock, api_version=api_version, daily_api_limit=daily_api_limit,
                                session_lifetime=timedelta(seconds=session_lifetime_seconds))
    if world is not None:
        backend.load_world(world)
    ctx = EmulatorContext("salesforce", clock)
    bulk = BulkIngest(backend, bulk_queue_seconds, bulk_seconds_per_10k)
    app = build_app(ctx, SalesforceRoutes(backend, bulk).routes(), fault_response)
    return Emulator("salesforce", backend, ctx, app)
