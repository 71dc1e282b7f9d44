"""Fixtures for the Zendesk vertical: a factory starting the emulator over TLS with chosen limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connector.http import HttpLayer, RetryPolicy
from connector.sandbox.core import RunningServer, SandboxClock, SandboxTLS, serve
from connector.sandbox.world import World
from connector.sandbox.zendesk import SANDBOX_TOKEN, create_emulator
from connector.store import Store

from .zd_kit import TOKEN_ENV, StartZendesk, ZdSandbox, make_config


@pytest.fixture
def start_zendesk(clock: SandboxClock, sandbox_tls: SandboxTLS, store: Store,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[StartZendesk]:
    """``start_zendesk(world, limits={...}, config={...}, layer_limit=None)`` → a running :class:`ZdSandbox`."""
    monkeypatch.setenv(TOKEN_ENV, SANDBOX_TOKEN)
    servers: list[RunningServer] = []

    def start(world: World | None = None, *, limits: dict[str, Any] | None = None,
              config: dict[str, Any] | None = None, max_retries: int = 3) -> ZdSandbox:
        emulator = create_emulator(clock, world, **(limits or {}))
        server = serve(emulator.app, tls=sandbox_tls)
        servers.append(server)
        http = HttpLayer()
        http.configure("zendesk", limit=None, window=60.0,
                       policy=RetryPolicy(max_retries=max_retries, base_seconds=0.01, cap_seconds=2.0))
        return ZdSandbox(emulator, server, clock, sandbox_tls, store, http,
                         make_config(server.url, sandbox_tls, **(config or {})))

    yield start
    for server in servers:
        server.server.force_exit = True  # keep-alive client connections must not hold the shutdown
        server.stop()
