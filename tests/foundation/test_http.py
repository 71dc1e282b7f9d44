"""The shared HTTP layer over real HTTP(S): retries, Retry-After, rate limits, the ledger, dropped connections."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import urllib3
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector.http import (
    HttpLayer,
    RateLimiter,
    RetryPolicy,
    certificate_problem,
    count_records,
    normalise_endpoint,
)
from connector.sandbox.core import EmulatorContext, Faults, RunningServer, SandboxClock, build_app, serve


class Script:
    """Answers each call with the next scripted status (then 200)."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.retry_after: str | None = None
        self.seen = 0

    async def handle(self, request: Request) -> Response:
        self.seen += 1
        request.state.records = len((await request.json()).get("records", [])) if request.method == "POST" else None
        status = self.statuses.pop(0) if self.statuses else 200
        headers = {"Retry-After": self.retry_after} if status == 429 and self.retry_after else {}
        return JSONResponse({"status": status}, status_code=status, headers=headers)


@pytest.fixture
def server(sandbox_tls) -> Iterator[tuple[RunningServer, Script, EmulatorContext]]:  # type: ignore[no-untyped-def]
    script = Script()
    ctx = EmulatorContext("test", SandboxClock())
    app = build_app(
        ctx,
        [Route("/api/{rest:path}", script.handle, methods=["GET", "POST"])],
        lambda kind: JSONResponse(
            {"error": kind},
            status_code=429 if kind == "429" else 503,
            headers={"Retry-After": "0"} if kind == "429" else {},
        ),
    )
    running = serve(app, tls=sandbox_tls)
    yield running, script, ctx
    running.stop()


def _layer(retries: int = 4) -> HttpLayer:
    layer = HttpLayer()
    layer.configure("test", policy=RetryPolicy(max_retries=retries, base_seconds=0.01, cap_seconds=0.05))
    return layer


def test_retries_429_and_5xx_then_succeeds(server, sandbox_tls) -> None:  # type: ignore[no-untyped-def]
    running, script, _ = server
    script.statuses = [429, 503, 500]
    layer = _layer()
    response = layer.session("test", verify=str(sandbox_tls.ca_path)).post(
        f"{running.url}/api/items", json={"records": [1, 2, 3]}
    )
    assert response.status_code == 200
    summary = layer.ledger.summary()["test"]
    assert summary["calls"] == 4 and summary["retries"] == 3
    assert summary["records"] == 12, "each attempt carries the batch"


def test_retry_after_is_honoured_and_pauses_the_system(server, sandbox_tls) -> None:  # type: ignore[no-untyped-def]
    running, script, _ = server
    script.statuses, script.retry_after = [429], "0.4"
    layer = _layer()
    started = time.monotonic()
    layer.session("test", verify=str(sandbox_tls.ca_path)).get(f"{running.url}/api/x")
    assert time.monotonic() - started >= 0.4
    assert layer.ledger.rate_limit_wait_seconds["test"] >= 0.39


def test_gives_up_after_budget_and_returns_last_response(server, sandbox_tls) -> None:  # type: ignore[no-untyped-def]
    running, script, _ = server
    script.statuses = [503] * 10
    layer = _layer(retries=2)
    response = layer.session("test", verify=str(sandbox_tls.ca_path)).get(f"{running.url}/api/x")
    assert response.status_code == 503 and script.seen == 3


def test_client_errors_are_not_retried(server, sandbox_tls) -> None:  # type: ignore[no-untyped-def]
    running, script, _ = server
    script.statuses = [400]
    layer = _layer()
    assert layer.session("test", verify=str(sandbox_tls.ca_path)).get(f"{running.url}/api/x").status_code == 400
    assert script.seen == 1


def test_dropped_connections_are_retried(server, sandbox_tls) -> None:  # type: ignore[no-untyped-def]
    running, _, ctx = server
    ctx.faults.update({"rate_drop": 1.0})
    layer = _layer(retries=3)
    session = layer.session("test", verify=str(sandbox_tls.ca_path))
    with pytest.raises(requests.RequestException):
        session.get(f"{running.url}/api/x")
    assert layer.ledger.summary()["test"]["calls"] == 4
    ctx.faults.update({"rate_drop": 0.0})
    assert session.get(f"{running.url}/api/x").status_code == 200


def test_tls_is_verified_by_default(server) -> None:  # type: ignore[no-untyped-def]
    running, _, _ = server
    with pytest.raises(requests.exceptions.SSLError):
        _layer(retries=0).session("test").get(f"{running.url}/api/x")


def test_an_untrusted_certificate_fails_at_once_and_is_told_as_such(server) -> None:  # type: ignore[no-untyped-def]
    running, _, _ = server
    layer = _layer(retries=3)
    with pytest.raises(requests.exceptions.SSLError) as caught:
        layer.session("test").get(f"{running.url}/api/x")
    assert certificate_problem(caught.value)
    assert layer.ledger.summary().get("test", {}).get("calls", 0) == 0  # no retry: it cannot heal


def test_a_handshake_cut_short_is_retried_like_a_dropped_connection() -> None:
    """A connection dropped during the TLS handshake surfaces as an SSLError (unexpected EOF), not a
    certificate problem: it is retried (a faulted sync once ended partial on it, told as 'not trusted')."""
    layer = _layer(retries=3)
    eof = requests.exceptions.SSLError(urllib3.exceptions.SSLError(
        ssl.SSLEOFError(8, "EOF occurred in violation of protocol (_ssl.c:2427)")))
    answers: list[Any] = [eof, eof, (200, {})]

    def send() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert not certificate_problem(eof)
    assert layer.execute("test", "GET", "https://x.example/api/x", None, send, lambda r: r[0], lambda r: r[1]) == (
        200, {})
    assert layer.ledger.summary()["test"]["calls"] == 3


def test_sandbox_ledger_counts_calls_and_records(server, sandbox_tls) -> None:  # type: ignore[no-untyped-def]
    running, _, _ = server
    session = _layer().session("test", verify=str(sandbox_tls.ca_path))
    session.post(f"{running.url}/api/items", json={"records": [1, 2]})
    session.get(f"{running.url}/api/items")
    ledger = requests.get(f"{running.url}/__sandbox/ledger", verify=str(sandbox_tls.ca_path)).json()
    assert [(c["method"], c["status"], c["records"]) for c in ledger["calls"]] == [("POST", 200, 2), ("GET", 200, None)]


def test_rate_limiter_window() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 10.0, clock=lambda: now[0])
    assert limiter.acquire() == 0 and limiter.acquire() == 0
    limiter._stamps = [0.0, 0.0]
    now[0] = 10.5
    assert limiter.acquire() == 0, "a new window frees the slots"


def test_faults_are_seeded() -> None:
    a, b = Faults(rate_429=0.3, seed=5), Faults(rate_429=0.3, seed=5)
    assert [a.draw() for _ in range(50)] == [b.draw() for _ in range(50)]


@pytest.mark.parametrize(
    "url,expected",
    [
        (
            "https://x/services/data/v59.0/sobjects/Account/001000000000001AAA",
            "/services/data/v59.0/sobjects/Account/{id}",
        ),
        ("https://x/api/v2/organizations/123.json", "/api/v2/organizations/123.json"),
        ("https://x/crm/v3/objects/companies/987/associations", "/crm/v3/objects/companies/{id}/associations"),
        ("https://x/v1/customers/cus_ABC123", "/v1/customers/{id}"),
    ],
)
def test_endpoints_are_normalised(url: str, expected: str) -> None:
    assert normalise_endpoint(url) == expected


def test_count_records_shapes() -> None:
    assert count_records({"records": [1, 2]}) == 2
    assert count_records({"inputs": [1]}) == 1
    assert count_records(b'{"organizations": [1, 2, 3]}') == 3
    assert count_records("Id,Name\n1,a\n2,b\n") == 2
    # a Bulk 2.0 task upload: quoted descriptions span lines and hold doubled quotes; bytes or text
    upload = 'Key__c,Description\nk1,"step 1\nstep 2, ""call"" — Müller"\n"k,2","one\n\ntwo"\nk3,\n'
    assert count_records(upload) == 3
    assert count_records(upload.encode("utf-8")) == 3
    assert count_records(b"Id\n1\n") == 0  # one column: not told apart from other text, as before
    assert count_records(None) == 0


def test_configure_default_keeps_an_existing_limiter() -> None:
    layer = HttpLayer()
    layer.configure("crm", limit=5, window=10.0)
    limiter = layer.limiter("crm")
    layer.configure_default("crm", limit=100, window=1.0)
    assert layer.limiter("crm") is limiter and limiter.limit == 5
    layer.configure_default("other", limit=7, window=1.0)
    assert layer.limiter("other").limit == 7
