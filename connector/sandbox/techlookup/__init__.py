"""BuiltWith-style technology-lookup emulator (the Domain API's multi-domain JSON lookup).

``create_emulator(clock, world)`` serves ``world.tech``; the backend's ``install``/``remove`` change what
a domain shows between runs.  Credits are counted per domain in the sandbox ledger (``records``).
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from connector.sandbox.core import Emulator, EmulatorContext, SandboxClock, WindowLimiter, build_app
from connector.sandbox.techlookup.app import MAX_DOMAINS, TechLookupRoutes, error_body
from connector.sandbox.techlookup.backend import TechLookupBackend
from connector.sandbox.world import World

__all__ = ["MAX_DOMAINS", "SANDBOX_KEY", "TechLookupBackend", "create_emulator"]

SANDBOX_KEY = "00000000-0000-4000-8000-sandbox00001"


def create_emulator(clock: SandboxClock, world: World | None = None, *, key: str = SANDBOX_KEY,
                    requests_per_second: int | None = 10) -> Emulator:
    backend = TechLookupBackend(clock)
    if world is not None:
        backend.load_world(world)
    limiter = WindowLimiter(requests_per_second, 1.0)

    def limited_response() -> Response:
        return JSONResponse(error_body("Too many requests, slow down", code=-429), status_code=429,
                            headers={"Retry-After": "1"})

    def rate_limited() -> Response | None:
        return None if limiter.hit() is None else limited_response()

    def fault_response(kind: str) -> Response:
        if kind == "429":
            return limited_response()
        return JSONResponse(error_body("Internal error (sandbox fault)", code=-500), status_code=503)

    def reset() -> None:
        backend.profiles.clear()
        if world is not None:
            backend.load_world(world)

    ctx = EmulatorContext("techlookup", clock, rate_limited=rate_limited, on_reset=reset)
    return Emulator("techlookup", backend, ctx, build_app(ctx, TechLookupRoutes(backend, key).routes(),
                                                           fault_response))
