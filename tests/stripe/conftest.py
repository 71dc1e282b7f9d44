"""Fixtures for the Stripe vertical: start the emulator over TLS with chosen limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connector.http import HttpLayer, RetryPolicy
from connector.sandbox.core import RunningServer, SandboxClock, SandboxTLS, serve
from connector.sandbox.stripe import SANDBOX_KEY, create_emulator
from connector.sandbox.world import World
from connector.store import Store

from .stripe_kit import KEY_ENV, StartStripe, StripeSandbox, make_config


@pytest.fixture
def start_stripe(clock: SandboxClock, sandbox_tls: SandboxTLS, store: Store,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[StartStripe]:
    """``start_stripe(world, limits={...}, config={...}, max_retries=3)`` → a running :class:`StripeSandbox`."""
    monkeypatch.setenv(KEY_ENV, SANDBOX_KEY)
    servers: list[RunningServer] = []

    def start(world: World | None = None, *, limits: dict[str, Any] | None = None,
              config: dict[str, Any] | None = None, max_retries: int = 3) -> StripeSandbox:
        emulator = create_emulator(clock, world, **{"requests_per_second": None, **(limits or {})})
        server = serve(emulator.app, tls=sandbox_tls)
        servers.append(server)
        http = HttpLayer()
        http.configure("stripe", policy=RetryPolicy(max_retries=max_retries, base_seconds=0.05, cap_seconds=1.0))
        return StripeSandbox(emulator, server, clock, store, http, make_config(server.url, sandbox_tls,
                                                                              **(config or {})))

    yield start
    for server in servers:
        server.server.force_exit = True
        server.stop()
