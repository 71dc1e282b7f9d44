"""The one HTTP layer every connector goes through: timeouts, retries, rate limits and the call ledger.

Why one place: retry policy is where integrations quietly go wrong (retrying a 400, not retrying a 429 on a
POST, sleeping blind instead of honouring ``Retry-After``).  Meltano's SDK keeps that decision in one spot;
so do we.  The real client libraries are pointed at this layer rather than reimplemented:

* simple-salesforce and zenpy accept a ``requests.Session`` → pass :class:`InstrumentedSession`;
* hubspot-api-client uses urllib3 → :func:`instrument_urllib3` wraps its pool manager's ``request``.

Both paths call :meth:`HttpLayer.execute`, which owns the loop: acquire a rate-limit slot, send, record the
call in the :class:`CallLedger`, and decide whether to retry (429 and 5xx and dropped connections, with
exponential backoff, full jitter, and ``Retry-After`` taking precedence when the server gives one).

Retries are routine, so they are logged at debug level only; a warning means a request is about to use
its last retry.  Whoever shows a run's progress subscribes an :class:`HttpObserver` and hears of every call
and every pause as it starts (a countdown needs to know before the sleep, not after).
"""

from __future__ import annotations

import json
import random
import re
import ssl
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import structlog
import urllib3

from connector.secrets import redact

log = structlog.get_logger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
#: A server asking for a longer pause than this is treated as broken rather than waited on for hours.
MAX_RETRY_AFTER = 900.0
#: A certificate that will not verify, and plain HTTP answering on a TLS port: as they read in an error's text.
CERTIFICATE_FAILURE = r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSLCertVerification|hostname mismatch"
NOT_TLS = r"WRONG_VERSION_NUMBER"
_NO_RETRY_TLS = re.compile(f"{CERTIFICATE_FAILURE}|doesn't match|{NOT_TLS}")  # + requests' hostname check


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and the ``reason`` urllib3 keeps inside ``MaxRetryError``."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        context = None if current.__suppress_context__ else current.__context__  # ``raise … from None``
        nested = [current.__cause__, context, getattr(current, "reason", None),
                  *(a for a in current.args if isinstance(a, BaseException))]
        todo.extend(e for e in nested if isinstance(e, BaseException))


def certificate_problem(exc: BaseException) -> bool:
    """True when a TLS error is about the certificate (or plain HTTP on a TLS port): retrying cannot help.
    False for a handshake cut short (``UNEXPECTED_EOF``, a reset): the connection broke, try again."""
    return any(isinstance(e, ssl.SSLCertVerificationError) or _NO_RETRY_TLS.search(str(e))
               for e in exception_chain(exc))


#: Failures where the request may not have been processed: retried like a 503.  TLS errors are among them
#: (``requests``' ``SSLError`` is a ``ConnectionError``, urllib3's an ``HTTPError``), except a certificate
#: problem (:func:`certificate_problem`).
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    OSError,
)
_TLS_ERRORS = (requests.exceptions.SSLError, urllib3.exceptions.SSLError)
_ID_SEGMENT = re.compile(r"/(?:[0-9]+|[a-zA-Z0-9]{15}|[a-zA-Z0-9]{18}|(?:cus|sub|in|pm|evt|ch)_[A-Za-z0-9]+)(?=/|$)")
_RECORD_KEYS = ("records", "inputs", "organizations", "tickets", "lookups")


@dataclass(frozen=True)
class Call:
    """One HTTP exchange as the ledger keeps it: enough to count, never enough to leak."""

    system: str
    method: str
    endpoint: str
    status: int | None
    records: int
    duration_ms: float
    attempt: int
    error: str | None = None


@dataclass(frozen=True)
class Wait:
    """A pause the layer is about to take: a server's rate limit, our own window, or a retry's backoff."""

    system: str
    seconds: float
    reason: str
    rate_limit: bool


class HttpObserver(Protocol):
    """Told of each call once it is recorded and of each pause before it starts (from any thread)."""

    def call_made(self, call: Call) -> None: ...

    def waiting(self, wait: Wait) -> None: ...


@dataclass
class CallLedger:
    """Thread-safe record of every call in a run; the run summary and metrics read from it."""

    calls: list[Call] = field(default_factory=list)
    rate_limit_wait_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    listeners: list[Callable[[Call], None]] = field(default_factory=list, repr=False)

    def add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)
        for listener in self.listeners:
            listener(call)

    def waited(self, system: str, seconds: float) -> None:
        with self._lock:
            self.rate_limit_wait_seconds[system] += seconds

    def summary(self) -> dict[str, Any]:
        """Calls per system and endpoint, retries, errors and time spent waiting on rate limits."""
        with self._lock:
            calls = list(self.calls)
        by_system: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"calls": 0, "retries": 0, "errors": 0, "records": 0, "endpoints": Counter(), "status": Counter()}
        )
        for c in calls:
            s = by_system[c.system]
            s["calls"] += 1
            s["retries"] += c.attempt > 1
            s["errors"] += c.status is None or c.status >= 400
            s["records"] += c.records
            s["endpoints"][f"{c.method} {c.endpoint}"] += 1
            s["status"][str(c.status)] += 1
        return {
            name: {
                **v,
                "endpoints": dict(v["endpoints"]),
                "status": dict(v["status"]),
                "rate_limit_wait_seconds": round(self.rate_limit_wait_seconds[name], 3),
            }
            for name, v in sorted(by_system.items())
        }

    def total(self, system: str | None = None) -> int:
        with self._lock:
            return sum(1 for c in self.calls if system is None or c.system == system)


class RateLimiter:
    """A sliding-window limiter (``limit`` calls per ``window`` seconds) that also obeys server pauses.

    Vendors state limits per window (HubSpot per 10 s, Zendesk per minute), so a window limiter wastes
    less than a token bucket tuned to the average, and a 429's ``Retry-After`` pauses every thread of the
    system, not just the one that was refused.
    """

    def __init__(self, limit: int | None, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self._clock = limit, window, clock
        self._stamps: list[float] = []
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def acquire(self, on_wait: Callable[[float], None] | None = None) -> float:
        """Block until a call may go out; return the seconds waited (each pause announced to ``on_wait``)."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = max(0.0, self._paused_until - now)
                if not delay and self.limit:
                    self._stamps = [t for t in self._stamps if t > now - self.window]
                    if len(self._stamps) >= self.limit:
                        delay = self._stamps[0] + self.window - now
                if not delay:
                    self._stamps.append(now)
                    return waited
            if on_wait is not None:
                on_wait(delay)
            time.sleep(delay)
            waited += delay

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped; ``Retry-After`` wins when present."""

    max_retries: int = 6
    base_seconds: float = 0.5
    cap_seconds: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1)))


class Response(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Any: ...


class HttpLayer:
    """Per-system limiters and policies plus the shared ledger; one per run (or per daemon)."""

    def __init__(self, ledger: CallLedger | None = None):
        self.ledger = ledger or CallLedger()
        self._limiters: dict[str, RateLimiter] = {}
        self._policies: dict[str, RetryPolicy] = {}
        self._observers: list[HttpObserver] = []

    def subscribe(self, observer: HttpObserver) -> None:
        self._observers.append(observer)

    def unsubscribe(self, observer: HttpObserver) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    def configure(
        self, system: str, *, limit: int | None = None, window: float = 1.0, policy: RetryPolicy | None = None
    ) -> None:
        self._limiters[system] = RateLimiter(limit, window)
        self._policies[system] = policy or RetryPolicy()

    def configure_default(self, system: str, *, limit: int | None = None, window: float = 1.0,
                          policy: RetryPolicy | None = None) -> None:
        """What a client does: set the retry policy, but keep an existing rate limiter.

        The policy is configuration; the limiter is state.  Replacing it when the sink builds its client
        would forget the calls the source made in the same window and walk into the server's 429s.
        """
        if system not in self._limiters:
            self.configure(system, limit=limit, window=window, policy=policy)
        elif policy is not None:
            self._policies[system] = policy

    def limiter(self, system: str) -> RateLimiter:
        return self._limiters.setdefault(system, RateLimiter(None, 1.0))

    def policy(self, system: str) -> RetryPolicy:
        return self._policies.setdefault(system, RetryPolicy())

    def execute(
        self,
        system: str,
        method: str,
        url: str,
        body: Any,
        send: Callable[[], Any],
        status_of: Callable[[Any], int],
        headers_of: Callable[[Any], Any],
    ) -> Any:
        """Send with rate limiting, ledger entries and retries; return the last response or raise.

        ``send`` performs one attempt.  Connection errors and timeouts are retried like 5xx; after the
        last attempt the final response (or exception) is passed on for the caller to interpret.
        """
        policy, limiter = self.policy(system), self.limiter(system)
        endpoint, records = normalise_endpoint(url), count_records(body)
        attempt = 0
        on_wait = self._announcer(system) if self._observers else None
        while True:
            attempt += 1
            waited = limiter.acquire(on_wait)
            if waited:
                self.ledger.waited(system, waited)
            started = time.perf_counter()
            try:
                response = send()
            except _TRANSIENT as exc:
                if isinstance(exc, _TLS_ERRORS) and certificate_problem(exc):
                    raise  # does not heal by retrying; any other TLS failure is a handshake cut short: transient
                self._record(system, method, endpoint, None, records, started, attempt, type(exc).__name__)
                if attempt > policy.max_retries:
                    raise
                self._sleep(system, policy.delay(attempt, None), f"{type(exc).__name__} on {method} {endpoint}",
                            policy.max_retries - attempt, rate_limit=False)
                continue
            status = status_of(response)
            self._record(system, method, endpoint, status, records, started, attempt, None)
            if status not in RETRYABLE_STATUS or attempt > policy.max_retries:
                return response
            retry_after = parse_retry_after(headers_of(response))
            if status == 429 and retry_after is not None:
                limiter.pause(retry_after)
            self._sleep(system, policy.delay(attempt, retry_after), f"HTTP {status} on {method} {endpoint}",
                        policy.max_retries - attempt, rate_limit=status == 429)

    def _record(
        self,
        system: str,
        method: str,
        endpoint: str,
        status: int | None,
        records: int,
        started: float,
        attempt: int,
        error: str | None,
    ) -> None:
        duration = (time.perf_counter() - started) * 1000
        call = Call(system, method, endpoint, status, records, round(duration, 2), attempt, error)
        self.ledger.add(call)
        for observer in list(self._observers):
            observer.call_made(call)

    def _announcer(self, system: str) -> Callable[[float], None]:
        """Tell the observers about a pause of ``system``'s own rate limiter (the sliding window)."""

        def announce(seconds: float) -> None:
            for observer in list(self._observers):
                observer.waiting(Wait(system, seconds, "rate limit", True))

        return announce

    def _sleep(self, system: str, seconds: float, why: str, retries_left: int, *, rate_limit: bool) -> None:
        """Wait before a retry: counted in the ledger, announced to observers, logged quietly."""
        if retries_left <= 1:
            log.warning("http.retry_budget_low", system=system, retries_left=retries_left,
                        wait_seconds=round(seconds, 3), reason=why)
        else:
            log.debug("http.retry", system=system, retries_left=retries_left, wait_seconds=round(seconds, 3),
                      reason=why)
        self.ledger.waited(system, seconds)
        for observer in list(self._observers):
            observer.waiting(Wait(system, seconds, why, rate_limit))
        time.sleep(seconds)

    def session(self, system: str, *, verify: str | bool = True, timeout: float = 30.0) -> InstrumentedSession:
        return InstrumentedSession(self, system, verify=verify, timeout=timeout)


class InstrumentedSession(requests.Session):
    """A ``requests.Session`` whose every request goes through :meth:`HttpLayer.execute`.

    Handing this to simple-salesforce (``session=``) and zenpy (``session=``) puts their traffic under our
    retry policy, rate limits and ledger without patching the libraries.
    """

    def __init__(self, layer: HttpLayer, system: str, *, verify: str | bool = True, timeout: float = 30.0):
        super().__init__()
        self.layer, self.system, self.default_timeout = layer, system, timeout
        self.verify = verify

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override,unused-ignore]
        kwargs.setdefault("timeout", self.default_timeout)
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override Session.verify; an explicit per-request
        # verify wins, so the configured CA bundle is what is actually trusted.
        kwargs.setdefault("verify", self.verify)
        body = kwargs.get("json") if kwargs.get("json") is not None else kwargs.get("data")
        method_s = method.decode() if isinstance(method, bytes) else method
        url_s = url.decode() if isinstance(url, bytes) else url

        def send() -> requests.Response:
            return super(InstrumentedSession, self).request(method_s, url_s, *args, **kwargs)

        try:
            return self.layer.execute(
                self.system, method_s.upper(), url_s, body, send, lambda r: r.status_code, lambda r: r.headers
            )
        except requests.RequestException as exc:
            raise type(exc)(redact(str(exc))) from None


def instrument_urllib3(pool_manager: Any, layer: HttpLayer, system: str) -> None:
    """Route a urllib3 ``PoolManager``'s requests (hubspot-api-client's transport) through ``layer``."""
    original = pool_manager.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("body")
        return layer.execute(
            system,
            method.upper(),
            url,
            body,
            lambda: original(method, url, *args, **kwargs),
            lambda r: r.status,
            lambda r: r.headers,
        )

    pool_manager.request = request


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from ``Retry-After`` (delta form) or HubSpot's interval header; ``None`` when absent."""
    if not headers:
        return None
    raw = headers.get("Retry-After") or headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except (TypeError, ValueError):
        return None


def normalise_endpoint(url: str) -> str:
    """``/services/data/v59.0/sobjects/Account/001…`` → ``/services/data/v59.0/sobjects/Account/{id}``."""
    path = urlsplit(url).path or "/"
    previous = None
    while previous != path:
        previous, path = path, _ID_SEGMENT.sub("/{id}", path)
    return path


def count_records(body: Any) -> int:
    """How many records a write carries, from the batch shapes of the APIs we call (0 for reads)."""
    if body is None:
        return 0
    if isinstance(body, (bytes, str)):
        # Read in place, never decoded whole: a Bulk 2.0 job's CSV of account plans is tens of MB.
        if body[:1] not in ("{", "[", b"{", b"["):
            comma = "," in body if isinstance(body, str) else b"," in body
            return _csv_rows(body) if comma else 0
        try:
            body = json.loads(body)
        except ValueError:
            return 0
    if isinstance(body, dict):
        for key in _RECORD_KEYS:
            if isinstance(body.get(key), list):
                return len(body[key])
        return 1
    if isinstance(body, list):
        return len(body)
    return 0


def _csv_rows(data: bytes | str) -> int:
    """Rows of a Bulk 2.0 CSV body, less its header: the line ends outside quoted fields (a task's
    description spans lines; a doubled quote inside a field toggles twice, so it changes nothing)."""
    quote, newline = ('"', "\n") if isinstance(data, str) else (b'"', b"\n")
    lines, start, inside = 0, 0, False
    while True:
        at = data.find(quote, start)  # type: ignore[arg-type]
        if not inside:
            lines += data.count(newline, start, len(data) if at < 0 else at)  # type: ignore[arg-type]
        if at < 0:
            return max(0, lines - 1)
        inside, start = not inside, at + 1

