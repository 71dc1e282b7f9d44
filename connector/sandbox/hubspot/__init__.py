"""HubSpot emulator: CRM v3 objects/batch/search/properties, v4 associations, owners, OAuth, rate limits.

``create_emulator(clock, world, ...)`` returns an :class:`~connector.sandbox.core.Emulator` whose app the
real ``hubspot-api-client`` can talk to unmodified (``hubspot.Client.create(access_token=..., host=url)``
with ``ssl_ca_cert`` pointing at the sandbox CA).  Limits are keyword arguments so tests can make them
small: ``requests_per_10s`` (and ``window_seconds``), ``daily_limit``, ``search_cap``,
``token_lifetime_seconds`` and ``batch_validation``.
"""

from __future__ import annotations

from typing import Literal

from starlette.responses import JSONResponse, Response

from connector.sandbox.core import Emulator, EmulatorContext, SandboxClock, build_app
from connector.sandbox.hubspot.app import build_routes, rate_limit_response
from connector.sandbox.hubspot.auth import RateLimits
from connector.sandbox.hubspot.backend import HubSpotBackend
from connector.sandbox.hubspot.errors import HubSpotError
from connector.sandbox.hubspot.loader import define_customer_properties, load_world
from connector.sandbox.world import World

PRIVATE_APP_TOKEN = "pat-sandbox-token"
OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN = (
    "sandbox-client-id", "sandbox-client-secret", "sandbox-refresh-token")

__all__ = ["OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_REFRESH_TOKEN", "PRIVATE_APP_TOKEN",
           "HubSpotBackend", "create_emulator"]


def create_emulator(clock: SandboxClock, world: World | None = None, *, requests_per_10s: int | None = 100,
                    window_seconds: float = 10.0, daily_limit: int | None = 250_000, search_cap: int = 10_000,
                    token_lifetime_seconds: float = 1800.0,
                    batch_validation: Literal["multi_status", "reject_batch"] = "multi_status") -> Emulator:
    backend = HubSpotBackend(clock, search_cap=search_cap, token_lifetime_seconds=token_lifetime_seconds,
                             batch_validation=batch_validation)
    define_customer_properties(backend)
    if world is not None:
        load_world(backend, world)
    limits = RateLimits(clock, requests_per_10s, window_seconds, daily_limit)

    def rate_limited() -> Response | None:
        hit = limits.hit()
        return rate_limit_response(hit[0], hit[1], limits) if hit else None

    def fault_response(kind: str) -> Response:
        if kind == "429":
            return rate_limit_response("SECONDLY", ctx.faults.retry_after_seconds, limits)
        error = HubSpotError(502, "INTERNAL_ERROR", "Sandbox fault: the upstream service is unavailable.")
        return JSONResponse(error.body(), status_code=502)

    ctx = EmulatorContext("hubspot", clock, rate_limited=rate_limited)
    app = build_app(ctx, build_routes(backend, limits), fault_response)
    return Emulator("hubspot", backend, ctx, app)
