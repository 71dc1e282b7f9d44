"""Fixtures for the Salesforce vertical: the emulator over TLS, config, HTTP layer and client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sf_kit import SfSandbox, make_config, make_world

from connector.clients.salesforce import SalesforceClient
from connector.config import Config
from connector.http import HttpLayer, RetryPolicy
from connector.sandbox.core import SandboxClock, SandboxTLS, serve
from connector.sandbox.salesforce import create_emulator
from connector.sandbox.world import World


@pytest.fixture
def world() -> World:
    return make_world(30)


@pytest.fixture
def sandbox(clock: SandboxClock, world: World, sandbox_tls: SandboxTLS, request: pytest.FixtureRequest
            ) -> Iterator[SfSandbox]:
    limits = getattr(request, "param", {})
    emulator = create_emulator(clock, world, **limits)
    server = serve(emulator.app, tls=sandbox_tls)
    try:
        yield SfSandbox(emulator, server, clock)
    finally:
        server.server.force_exit = True  # idle keep-alive connections from the clients must not hold shutdown
        server.stop()


@pytest.fixture
def config(sandbox: SfSandbox, sandbox_tls: SandboxTLS, monkeypatch: pytest.MonkeyPatch) -> Config:
    return make_config(sandbox, sandbox_tls, monkeypatch)


@pytest.fixture
def http() -> HttpLayer:
    layer = HttpLayer()
    layer.configure("salesforce", policy=RetryPolicy(max_retries=3, base_seconds=0.01, cap_seconds=0.05))
    return layer


@pytest.fixture
def client(config: Config, http: HttpLayer) -> SalesforceClient:
    assert config.salesforce is not None
    return SalesforceClient(config.salesforce, http)


