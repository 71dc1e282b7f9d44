"""Fixtures for the HubSpot vertical: a factory that starts the emulator over TLS with chosen limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hs_kit import CLIENT_ID_ENV, CLIENT_SECRET_ENV, REFRESH_ENV, TOKEN_ENV, HsSandbox

from connector.http import HttpLayer
from connector.sandbox.core import RunningServer, SandboxClock, SandboxTLS, serve
from connector.sandbox.hubspot import (
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    OAUTH_REFRESH_TOKEN,
    PRIVATE_APP_TOKEN,
    create_emulator,
)
from connector.sandbox.world import World
from connector.store import Store

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
