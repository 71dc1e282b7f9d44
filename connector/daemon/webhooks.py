"""``POST /webhooks/{stripe,zendesk,hubspot}``: verify, de-duplicate, enqueue — and answer at once.

Order of checks, cheapest and safest first, so nothing unverified is ever parsed or reaches the pipeline:
size (413, before reading more than ``max_body_bytes``) → signature and timestamp (400/401) → replayed
signature (401) → JSON shape (400) → per event: already-seen event id (acknowledged as duplicate) →
relevant event types are queued for a targeted refresh, others acknowledged and ignored.

Every request is counted once in ``connector_webhook_http_requests`` by vendor and HTTP status, and every
refusal in ``connector_webhook_rejections`` by a short reason code (``malformed_timestamp``, ``not_json``…),
so a probe or a misconfigured vendor shows up in /metrics, not only in the log.  No input may produce a
5xx: an unexpected error is still answered (500, counted as ``internal_error``) but the fuzz test in
``tests/reliability`` holds that it never happens.

Duplicates of an event id get 200, not an error: a vendor redelivers only what it believes failed, and
answering 4xx would make it retry for days and eventually disable the endpoint.  The heavy work (account
lookup, pull, score, write) happens on the refresh worker, because vendors expect an answer within
seconds (HubSpot 5 s, Stripe's dashboard flags slow endpoints).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connector.daemon.metrics import DaemonMetrics
from connector.daemon.replay import ReplayGuard
from connector.daemon.signatures import SignatureError, verify_hubspot, verify_stripe, verify_zendesk

log = structlog.get_logger(__name__)

#: Stripe event families that move a billing signal (failed/late payments, subscription status, cards).
STRIPE_PREFIXES = ("invoice.", "customer.subscription.", "charge.", "payment_method.", "customer.source.")


@dataclass(frozen=True)
class Event:
    """A verified vendor event pointing at one source entity (Stripe customer, Zendesk org, HubSpot company)."""

    vendor: str
    event_id: str | None
    entity_id: str | None
    relevant: bool
    received_at: float = field(default_factory=time.monotonic, compare=False)


class Malformed(ValueError):
    """A verified body whose shape is not the vendor's event shape (answered 400)."""


@dataclass(frozen=True)
class WebhookSecrets:
    stripe: str | None = None
    zendesk: str | None = None
    hubspot: str | None = None


def stripe_events(payload: Any) -> list[Event]:
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise Malformed("stripe: expected an event object with a type")
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise Malformed("stripe: event has no data.object")
    customer = obj.get("customer") or (obj.get("id") if obj.get("object") == "customer" else None)
    if isinstance(customer, dict):  # expanded customer
        customer = customer.get("id")
    relevant = payload["type"].startswith(STRIPE_PREFIXES) and isinstance(customer, str)
    return [Event("stripe", _str(payload.get("id")), customer if isinstance(customer, str) else None, relevant)]


def zendesk_events(payload: Any) -> list[Event]:
    """Event webhooks carry ``detail.organization_id``; trigger webhooks the body the admin wrote, which
    must include ``"organization_id": "{{ticket.organization.id}}"`` (see docs/scaling.md)."""
    if not isinstance(payload, dict):
        raise Malformed("zendesk: expected a JSON object")
    detail = payload.get("detail")
    nested = detail.get("organization_id") if isinstance(detail, dict) else None
    org = _str(nested) or _str(payload.get("organization_id"))
    return [Event("zendesk", _str(payload.get("id")), org, org is not None)]


def hubspot_events(payload: Any) -> list[Event]:
    """HubSpot sends a JSON array of up to 100 events; company events name the company in ``objectId``.

    Contact-level events (a champion's contact record changing) carry no company id; they are picked up
    by the next scheduled cycle.
    """
    if not isinstance(payload, list) or not all(isinstance(e, dict) for e in payload):
        raise Malformed("hubspot: expected a JSON array of events")
    events = []
    for e in payload:
        kind = e.get("subscriptionType")
        if not isinstance(kind, str):
            raise Malformed("hubspot: event without subscriptionType")
        company = _str(e.get("objectId")) if kind.startswith("company.") else None
        events.append(Event("hubspot", _str(e.get("eventId")), company, company is not None))
    return events


def _str(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "" else None


class TooLarge(Exception):
    pass


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing (before reading it all) anything over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and (re.fullmatch(r"[0-9]{1,19}", declared, re.ASCII) is None or int(declared) > limit):
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class WebhookEndpoints:
    """The three routes, sharing limits, replay guard, metrics and the queue they feed."""

    def __init__(
        self,
        secrets: WebhookSecrets,
        enqueue: Callable[[Event], None],
        metrics: DaemonMetrics,
        *,
        max_body_bytes: int,
        tolerance_seconds: float,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.secrets, self.enqueue, self.metrics = secrets, enqueue, metrics
        self.max_body, self.tolerance, self.public_url, self.clock = (
            max_body_bytes,
            tolerance_seconds,
            public_url,
            clock,
        )
        self.replay = ReplayGuard(2 * tolerance_seconds)

    def routes(self) -> list[Route]:
        handlers = {"stripe": self.stripe, "zendesk": self.zendesk, "hubspot": self.hubspot}
        return [
            Route(f"/webhooks/{vendor}", handler, methods=["POST"])
            for vendor, handler in handlers.items()
            if getattr(self.secrets, vendor)
        ]

    async def stripe(self, request: Request) -> JSONResponse:
        def verify(body: bytes) -> str:
            assert self.secrets.stripe
            return verify_stripe(
                body, request.headers.get("stripe-signature"), self.secrets.stripe,
                tolerance=self.tolerance, now=self.clock(),
            )

        return await self._handle("stripe", request, verify, stripe_events)

    async def zendesk(self, request: Request) -> JSONResponse:
        def verify(body: bytes) -> str:
            assert self.secrets.zendesk
            return verify_zendesk(
                body,
                request.headers.get("x-zendesk-webhook-signature"),
                request.headers.get("x-zendesk-webhook-signature-timestamp"),
                self.secrets.zendesk,
                tolerance=self.tolerance,
                now=self.clock(),
            )

        return await self._handle("zendesk", request, verify, zendesk_events)

    async def hubspot(self, request: Request) -> JSONResponse:
        def verify(body: bytes) -> str:
            assert self.secrets.hubspot
            uri = f"{self.public_url.rstrip('/')}{request.url.path}" if self.public_url else str(request.url)
            if self.public_url and request.url.query:
                uri += f"?{request.url.query}"
            return verify_hubspot(
                request.method,
                uri,
                body,
                request.headers.get("x-hubspot-signature-v3"),
                request.headers.get("x-hubspot-request-timestamp"),
                self.secrets.hubspot,
                tolerance=self.tolerance,
                now=self.clock(),
            )

        return await self._handle("hubspot", request, verify, hubspot_events)

    async def _handle(
        self,
        vendor: str,
        request: Request,
        verify: Callable[[bytes], str],
        parse: Callable[[Any], list[Event]],
    ) -> JSONResponse:
        try:
            response = await self._checked(vendor, request, verify, parse)
        except Exception as exc:  # a bug, not an input: answered and counted, never a traceback to the client
            log.error("webhook.error", vendor=vendor, error=type(exc).__name__)
            response = self._refuse(vendor, "error", 500, "internal error", "internal_error")
        self.metrics.webhook_requests.labels(vendor, str(response.status_code)).inc()
        return response

    async def _checked(
        self,
        vendor: str,
        request: Request,
        verify: Callable[[bytes], str],
        parse: Callable[[Any], list[Event]],
    ) -> JSONResponse:
        try:
            body = await read_limited(request, self.max_body)
        except TooLarge:
            return self._refuse(vendor, "oversized", 413, f"body over {self.max_body} bytes", "oversized")
        try:
            signature = verify(body)
        except SignatureError as exc:
            outcome = "forged" if exc.status == 401 else "malformed"
            return self._refuse(vendor, outcome, exc.status, exc.reason, exc.code)
        if not self.replay.first_time(f"{vendor}:sig:{signature}"):
            return self._refuse(vendor, "replayed", 401, "this signature was already used", "replayed")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past the parser's depth
            return self._refuse(vendor, "malformed", 400, "body is not JSON", "not_json")
        try:
            events = parse(payload)
        except Malformed as exc:
            return self._refuse(vendor, "malformed", 400, str(exc), "unexpected_shape")
        return JSONResponse(self._accept(vendor, events))

    def _accept(self, vendor: str, events: Iterable[Event]) -> dict[str, int]:
        counts = {"accepted": 0, "duplicates": 0, "ignored": 0}
        for event in events:
            if event.event_id is not None and not self.replay.first_time(f"{vendor}:event:{event.event_id}"):
                outcome = "duplicates"
            elif event.relevant:
                self.enqueue(event)
                outcome = "accepted"
            else:
                outcome = "ignored"
            counts[outcome] += 1
            self.metrics.webhooks.labels(vendor, outcome).inc()
        return counts

    def _refuse(self, vendor: str, outcome: str, status: int, reason: str, code: str) -> JSONResponse:
        self.metrics.webhooks.labels(vendor, outcome).inc()
        self.metrics.webhook_rejections.labels(vendor, code).inc()
        log.warning("webhook.refused", vendor=vendor, status=status, reason=reason, code=code)
        return JSONResponse({"error": reason}, status_code=status)
