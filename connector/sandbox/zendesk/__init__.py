"""Zendesk Support API v2 emulator: organizations and their fields, tickets, users, jobs, exports.

``create_emulator(clock, world)`` returns an :class:`~connector.sandbox.core.Emulator` whose app zenpy
2.0.57 talks to unmodified (point it at ``https://127.0.0.1:PORT`` as :mod:`connector.clients.zendesk`
does).  Limits are arguments so tests can make them small: the plan's requests per minute (200/400/700/
2,500; default 400), the incremental exports' 10 per minute, the export page size (1,000) and how many
polls a bulk job stays unfinished.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from connector.sandbox.core import Emulator, EmulatorContext, SandboxClock, WindowLimiter, build_app
from connector.sandbox.world import World
from connector.sandbox.zendesk.app import ZendeskRoutes, rate_limited_response
from connector.sandbox.zendesk.backend import ZendeskBackend, ZendeskError

__all__ = ["SANDBOX_TOKEN", "ZendeskBackend", "ZendeskError", "create_emulator"]

#: The API token the sandbox accepts (any agent email, ``{email}/token`` basic auth).
SANDBOX_TOKEN = "sandbox-zendesk-token"
PLAN_LIMIT = "Number of allowed API requests per minute exceeded"


def create_emulator(clock: SandboxClock, world: World | None = None, *, token: str = SANDBOX_TOKEN,
                    requests_per_minute: int | None = 400, rate_window_seconds: float = 60.0,
                    export_requests_per_minute: int | None = 10, export_window_seconds: float = 60.0,
                    export_page_size: int = 1000, job_polls: int = 2) -> Emulator:
    """A Zendesk emulator loaded with ``world`` (if given); ``*_window_seconds`` shrink windows in tests."""
    backend = ZendeskBackend(clock, job_polls=job_polls)
    if world is not None:
        backend.load_world(world)
    limiter = WindowLimiter(requests_per_minute, rate_window_seconds)

    def rate_limited() -> Response | None:
        wait = limiter.hit()
        return None if wait is None else rate_limited_response(wait, PLAN_LIMIT)

    def fault_response(kind: str) -> Response:
        if kind == "429":
            return rate_limited_response(ctx.faults.retry_after_seconds, PLAN_LIMIT)
        return JSONResponse({"error": "ServiceUnavailable", "description": "Sandbox fault"}, status_code=503)

    def reset() -> None:
        fresh = ZendeskBackend(clock, job_polls=job_polls)
        if world is not None:
            fresh.load_world(world)
        backend.__dict__.update(fresh.__dict__)

    ctx = EmulatorContext("zendesk", clock, rate_limited=rate_limited, on_reset=reset)
    routes = ZendeskRoutes(backend, token, WindowLimiter(export_requests_per_minute, export_window_seconds),
                           export_page_size)
    return Emulator("zendesk", backend, ctx, build_app(ctx, routes.routes(), fault_response))
