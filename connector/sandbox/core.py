"""What every emulator shares: simulated clock, call ledger, fault injection, control API, TLS serving.

Design after moto: each service is a *backend* (its data model and rules, no HTTP) plus a thin Starlette
layer that speaks the wire format.  This module is the part that is the same for all of them:

* :class:`SandboxClock` — one simulated "now" for the whole sandbox, so a demo can advance weeks.
* :class:`SandboxLedger` — every call (method, path, status, records); benchmarks count API calls from it.
* :class:`Faults` — latency (fixed range plus a share growing with the payload), a share of 429s / 5xx /
  dropped connections / timeouts, seeded.
* :func:`build_app` — wraps an emulator's routes with the ledger, the faults and ``/__sandbox/`` control
  routes (``GET ledger``, ``POST reset``, ``GET|PUT faults``, ``GET|POST clock``).
* :class:`SandboxTLS` / :func:`serve` — a generated CA (trustme) and uvicorn in a background thread.

Handlers report how many records a call carried by setting ``request.state.records``.
"""

from __future__ import annotations

import asyncio
import random
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTROL_PREFIX = "/__sandbox"


class SandboxClock:
    """Simulated time: real time plus an offset that the control API (or the demo) can advance.

    A ``frozen`` clock has no real-time part: it shows ``start`` until :meth:`advance` or :meth:`set` moves
    it.  The demo uses one so that what it prints depends on the seed, not on how busy the machine was
    (a run that took 40 s instead of 30 s must not shift a delay or a cooldown past its boundary).
    """

    def __init__(self, start: datetime | None = None, *, frozen: bool = False):
        self._frozen_at = (start or datetime.now(UTC)) if frozen else None
        self._offset = timedelta(0) if start is None or frozen else start - datetime.now(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return (self._frozen_at if self._frozen_at is not None else datetime.now(UTC)) + self._offset

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._offset += delta
        return self.now()

    def set(self, when: datetime) -> None:
        with self._lock:
            self._offset = when - (self._frozen_at if self._frozen_at is not None else datetime.now(UTC))


@dataclass
class LedgerEntry:
    method: str
    path: str
    status: int
    records: int | None
    at: float
    fault: str | None = None


class SandboxLedger:
    """Every request an emulator answered; what the benchmarks count and the tests assert on."""

    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []
        self._lock = threading.Lock()

    def add(self, entry: LedgerEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LedgerEntry]:
        with self._lock:
            return list(self._entries)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class Faults:
    """Per-emulator fault settings; shares are probabilities per call (0–1), seeded for repeatability."""

    latency_ms: tuple[float, float] = (0.0, 0.0)
    #: Added per KiB of request and of response body: a 1,000-record batch must not cost what a 1-record
    #: call costs (transfer and the server's per-record work both grow with the payload).
    latency_per_kb_ms: float = 0.0
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_drop: float = 0.0
    rate_timeout: float = 0.0
    timeout_seconds: float = 5.0
    retry_after_seconds: float = 1.0
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_rng", None)
        return data

    def update(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            if key.startswith("_") or not hasattr(self, key):
                raise ValueError(f"unknown fault setting {key!r}")
            setattr(self, key, tuple(value) if key == "latency_ms" else type(getattr(self, key))(value))
        if "seed" in changes:
            self._rng.seed(self.seed)

    def draw(self) -> str | None:
        """Which fault (if any) hits this call."""
        r = self._rng.random()
        for name, share in (
            ("429", self.rate_429),
            ("5xx", self.rate_5xx),
            ("drop", self.rate_drop),
            ("timeout", self.rate_timeout),
        ):
            if r < share:
                return name
            r -= share
        return None

    def latency(self) -> float:
        low, high = self.latency_ms
        return self._rng.uniform(low, high) / 1000 if high > 0 else 0.0

    def payload_delay(self, size: int) -> float:
        """Seconds for ``size`` bytes of body under :attr:`latency_per_kb_ms`."""
        return self.latency_per_kb_ms * size / 1024 / 1000


@dataclass
class EmulatorContext:
    """Shared state handed to an emulator's routes: the clock, ledger and faults of that emulator."""

    name: str
    clock: SandboxClock
    ledger: SandboxLedger = field(default_factory=SandboxLedger)
    faults: Faults = field(default_factory=Faults)
    rate_limited: Callable[[], Response | None] | None = None
    on_reset: Callable[[], None] | None = None


class _FaultAndLedgerMiddleware:
    """Applies latency and injected faults, then records the call in the ledger (control calls excluded)."""

    def __init__(self, app: ASGIApp, ctx: EmulatorContext, fault_response: Callable[[str], Response]):
        self.app, self.ctx, self.fault_response = app, ctx, fault_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        faults, status_box = self.ctx.faults, {"status": 0, "recorded": False}
        scope.setdefault("state", {})
        delay = faults.latency() + faults.payload_delay(_content_length(scope))
        if delay:
            await asyncio.sleep(delay)
        fault = faults.draw()

        def record(status: int) -> None:
            if not status_box["recorded"]:
                status_box["recorded"] = True
                self.ctx.ledger.add(LedgerEntry(scope["method"], scope["path"], status,
                                                scope["state"].get("records"), time.time(), fault))

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Recorded before the client can see the response, so a test counting calls right after
                # its request returns never misses the last one.
                record(0 if fault == "drop" else message["status"])
            elif message["type"] == "http.response.body" and faults.latency_per_kb_ms:
                await asyncio.sleep(faults.payload_delay(len(message.get("body", b""))))
            await send(message)

        try:
            if fault == "timeout":
                await asyncio.sleep(faults.timeout_seconds)
                await self.fault_response("5xx")(scope, receive, recording_send)
            elif fault == "drop":
                await _drop_connection(recording_send)
            elif fault in ("429", "5xx"):
                await self.fault_response(fault)(scope, receive, recording_send)
            elif self.ctx.rate_limited and (limited := self.ctx.rate_limited()) is not None:
                fault = "rate_limit"
                await limited(scope, receive, recording_send)
            else:
                await self.app(scope, receive, recording_send)
        finally:
            record(0)


def _content_length(scope: Scope) -> int:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            return int(value or 0)
    return 0


async def _drop_connection(send: Send) -> None:
    """Start a response that promises a body, then fail: the server closes the socket mid-response."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"partial":', "more_body": True})
    raise ConnectionAbortedError("sandbox fault: connection dropped")


@dataclass
class Emulator:
    """One emulated service: its backend (state and rules), its context, and its ASGI app."""

    name: str
    backend: Any
    ctx: EmulatorContext
    app: ASGIApp


def control_routes(ctx: EmulatorContext) -> list[BaseRoute]:
    """``/__sandbox/*``: ledger, reset, faults and clock for one emulator."""

    async def ledger(request: Request) -> Response:
        entries = [asdict(e) for e in ctx.ledger.entries()]
        return JSONResponse({"emulator": ctx.name, "calls": entries, "count": len(entries)})

    async def reset(request: Request) -> Response:
        ctx.ledger.reset()
        if ctx.on_reset and request.query_params.get("data") == "1":
            ctx.on_reset()
        return JSONResponse({"ok": True})

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            try:
                ctx.faults.update(await request.json())
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(ctx.faults.to_json())

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            if "set" in body:
                ctx.clock.set(datetime.fromisoformat(body["set"]))
            else:
                ctx.clock.advance(
                    timedelta(days=float(body.get("advance_days", 0)), seconds=float(body.get("advance_seconds", 0)))
                )
        return JSONResponse({"now": ctx.clock.now().isoformat()})

    return [
        Route(f"{CONTROL_PREFIX}/ledger", ledger, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/faults", faults, methods=["GET", "PUT"]),
        Route(f"{CONTROL_PREFIX}/clock", clock, methods=["GET", "POST"]),
    ]


def build_app(ctx: EmulatorContext, routes: Sequence[BaseRoute], fault_response: Callable[[str], Response]) -> ASGIApp:
    """The emulator's Starlette app wrapped with faults, ledger and the control API.

    ``fault_response("429" | "5xx")`` returns the service's own error shape for an injected fault, so a
    client sees exactly what the real service would send.
    """
    app = Starlette(routes=[*control_routes(ctx), *routes])
    return _FaultAndLedgerMiddleware(app, ctx, fault_response)


# ---------------------------------------------------------------------------------------------------------
# TLS and serving
# ---------------------------------------------------------------------------------------------------------


class SandboxTLS:
    """A throwaway CA and one server certificate for 127.0.0.1/localhost, written to ``directory``.

    Clients trust the sandbox by pointing their CA bundle at :attr:`ca_path`, exactly as an admin would
    for a corporate proxy; verification is never switched off.
    """

    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory or tempfile.mkdtemp(prefix="connector-sandbox-tls-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            import trustme  # the sandbox extra: only the sandbox needs a CA of its own
        except ModuleNotFoundError:
            raise RuntimeError("the sandbox needs its extra: pip install 'cs-connector[sandbox]' "
                               "(make demo and make test install it)") from None
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        self.ca_path = self.directory / "sandbox-ca.pem"
        self.cert_path = self.directory / "sandbox-server.pem"
        self.key_path = self.directory / "sandbox-server.key"
        ca.cert_pem.write_to_path(str(self.ca_path))
        cert.cert_chain_pems[0].write_to_path(str(self.cert_path))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(self.cert_path), append=True)
        cert.private_key_pem.write_to_path(str(self.key_path))


@dataclass
class RunningServer:
    """A uvicorn server on a background thread; ``url`` is where clients reach it."""

    url: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.server.force_exit = True  # do not wait for idle keep-alive connections
        self.thread.join(timeout)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve(app: ASGIApp, *, tls: SandboxTLS | None, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start ``app`` on ``host:port`` (0 → a free port) and return once it accepts connections."""
    port = port or free_port(host)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ssl_certfile=str(tls.cert_path) if tls else None,
        ssl_keyfile=str(tls.key_path) if tls else None,
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"sandbox-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"sandbox server on {host}:{port} did not start")
        time.sleep(0.01)
    scheme = "https" if tls else "http"
    return RunningServer(f"{scheme}://{host}:{port}", port, server, thread)


class WindowLimiter:
    """Counts calls in fixed windows (as the vendors do) and says how long until the next window.

    ``limit=None`` disables it.  Used by emulators to answer 429 with the vendor's own shape.
    """

    def __init__(self, limit: int | None, window_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self._clock = limit, window_seconds, clock
        self._start, self._count = clock(), 0
        self._lock = threading.Lock()

    def hit(self) -> float | None:
        """Record a call; ``None`` if allowed, else seconds until the window resets."""
        if not self.limit:
            return None
        with self._lock:
            now = self._clock()
            if now - self._start >= self.window:
                self._start, self._count = now, 0
            self._count += 1
            if self._count > self.limit:
                return max(0.001, self.window - (now - self._start))
            return None

    def remaining(self) -> int:
        return max(0, (self.limit or 0) - self._count)

