"""Stripe REST API emulator: customers, subscriptions, invoices, payment methods and the events log.

``create_emulator(clock, world)`` returns an :class:`~connector.sandbox.core.Emulator` that
:mod:`connector.clients.stripe` reads over TLS exactly as it reads ``https://api.stripe.com``.  The
test-mode rate limit (25 requests per second, https://docs.stripe.com/rate-limits) is an argument so
tests can make it small; the backend's mutation helpers (``fail_payment``, ``pay_invoice``,
``change_card``, ``cancel_subscription``) let tests and the demo change the world between runs.
"""

from __future__ import annotations

from starlette.responses import Response

from connector.sandbox.core import Emulator, EmulatorContext, SandboxClock, WindowLimiter, build_app
from connector.sandbox.stripe.app import StripeRoutes, error_response, rate_limited_response
from connector.sandbox.stripe.backend import StripeBackend, StripeError
from connector.sandbox.world import World

__all__ = ["SANDBOX_KEY", "StripeBackend", "StripeError", "create_emulator"]

#: The secret key the sandbox accepts.
SANDBOX_KEY = "sk_test_sandbox0000000000000000001234"
TEST_MODE_RPS = 25


def create_emulator(clock: SandboxClock, world: World | None = None, *, secret_key: str = SANDBOX_KEY,
                    requests_per_second: int | None = TEST_MODE_RPS, rate_window_seconds: float = 1.0) -> Emulator:
    """A Stripe emulator loaded with ``world`` (if given); ``requests_per_second=None`` disables the limit."""
    backend = StripeBackend(clock)
    if world is not None:
        backend.load_world(world)
    limiter = WindowLimiter(requests_per_second, rate_window_seconds)

    def rate_limited() -> Response | None:
        return None if limiter.hit() is None else rate_limited_response()

    def fault_response(kind: str) -> Response:
        if kind == "429":
            return rate_limited_response()
        return error_response(StripeError(500, "An unknown error occurred (sandbox fault).", type_="api_error"))

    def reset() -> None:
        fresh = StripeBackend(clock)
        if world is not None:
            fresh.load_world(world)
        backend.__dict__.update(fresh.__dict__)

    ctx = EmulatorContext("stripe", clock, rate_limited=rate_limited, on_reset=reset)
    return Emulator("stripe", backend, ctx, build_app(ctx, StripeRoutes(backend, secret_key).routes(),
                                                       fault_response))
