"""Hostile webhook requests: every one gets a 4xx with a reason counted in /metrics, none a 5xx.

The daemon's real Starlette app (routes, signature checks, replay guard, /metrics) runs in process; the
requests carry raw header bytes, so a non-ASCII digit reaches the server exactly as on the wire (the server
decodes header bytes as Latin-1).  ``CASES`` are the planted cases of the bad-input catalogue; the fuzz test
sends a seeded stream of random and mutated requests per vendor.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from .webhook_kit import MAX_BODY, SIGNERS, daemon_client, metric_samples, sample_body

VENDORS = ("stripe", "zendesk", "hubspot")


@dataclass(frozen=True)
class Hook:
    """One planted request: ``build(body)`` returns the headers; the answer and reason code expected."""

    name: str
    vendor: str
    build: Callable[[bytes], dict[str, bytes]]
    status: int
    reason: str
    body: bytes | None = None


def _now_ms() -> bytes:
    return str(int(time.time() * 1000)).encode()


def _stripe_sig(hex_sig: bytes) -> Callable[[bytes], dict[str, bytes]]:
    return lambda body: {"Stripe-Signature": b"t=" + str(int(time.time())).encode() + b",v1=" + hex_sig}


CASES = [
    # Stripe: the probe's header, other digits Python calls digits, numbers float() would take, bad v1
    Hook("stripe-t-superscript-digit", "stripe", lambda b: {"Stripe-Signature": b"t=\xb2,v1=00"}, 400,
         "malformed_timestamp"),
    Hook("stripe-t-arabic-indic-digits", "stripe", lambda b: {"Stripe-Signature": "t=١٧٠٠,v1=00".encode()}, 400,
         "malformed_timestamp"),
    Hook("stripe-t-underscores", "stripe", lambda b: {"Stripe-Signature": b"t=1_700_000_000,v1=00"}, 400,
         "malformed_timestamp"),
    Hook("stripe-t-400-digits", "stripe", lambda b: SIGNERS["stripe"](b, at=b"9" * 400), 400,
         "malformed_timestamp"),
    Hook("stripe-t-infinity", "stripe", lambda b: {"Stripe-Signature": b"t=inf,v1=00"}, 400, "malformed_timestamp"),
    Hook("stripe-t-twice", "stripe", lambda b: {"Stripe-Signature": b"t=1,t=2,v1=00"}, 400, "malformed_timestamp"),
    Hook("stripe-v1-latin1", "stripe", _stripe_sig(b"\xe9\xe9"), 400, "malformed_signature"),
    Hook("stripe-v1-missing", "stripe", lambda b: {"Stripe-Signature": b"t=1700000000"}, 400, "malformed_signature"),
    Hook("stripe-no-header", "stripe", lambda b: {}, 401, "missing_signature"),
    Hook("stripe-forged", "stripe", lambda b: SIGNERS["stripe"](b, secret="whsec_forged"), 401,
         "signature_mismatch"),
    Hook("stripe-stale", "stripe", lambda b: SIGNERS["stripe"](b, at=str(int(time.time()) - 3600).encode()), 401,
         "stale_timestamp"),
    # Zendesk
    Hook("zendesk-timestamp-arabic-digits", "zendesk",
         lambda b: SIGNERS["zendesk"](b, at="٢٠٢٦-11-02T09:00:00Z".encode()), 400, "malformed_timestamp"),
    Hook("zendesk-timestamp-impossible-date", "zendesk", lambda b: SIGNERS["zendesk"](b, at=b"2026-13-45T09:00:00Z"),
         400, "malformed_timestamp"),
    Hook("zendesk-timestamp-naive", "zendesk", lambda b: SIGNERS["zendesk"](b, at=b"2026-11-02T09:00:00"), 400,
         "malformed_timestamp"),
    Hook("zendesk-signature-latin1", "zendesk",
         lambda b: {**SIGNERS["zendesk"](b), "X-Zendesk-Webhook-Signature": b"\xe9\xb2=="}, 400,
         "malformed_signature"),
    # HubSpot: the timestamp check sat behind a valid signature, so these are signed
    Hook("hubspot-timestamp-superscript", "hubspot", lambda b: SIGNERS["hubspot"](b, at=b"\xb2"), 400,
         "malformed_timestamp"),
    Hook("hubspot-timestamp-5000-digits", "hubspot", lambda b: SIGNERS["hubspot"](b, at=b"1" * 5000), 400,
         "malformed_timestamp"),
    Hook("hubspot-timestamp-float", "hubspot", lambda b: SIGNERS["hubspot"](b, at=b"1.7e12"), 400,
         "malformed_timestamp"),
    Hook("hubspot-signature-latin1", "hubspot",
         lambda b: {"X-HubSpot-Signature-v3": b"\xff\xfe", "X-HubSpot-Request-Timestamp": _now_ms()}, 400,
         "malformed_signature"),
    # bodies behind a valid signature
    Hook("hubspot-body-nested-2000-deep", "hubspot", lambda b: SIGNERS["hubspot"](b), 400, "not_json",
         body=b"[" * 2000 + b"]" * 2000),
    Hook("stripe-body-not-utf8", "stripe", lambda b: SIGNERS["stripe"](b), 400, "not_json", body=b'{"id": "\xff"}'),
    Hook("zendesk-body-array", "zendesk", lambda b: SIGNERS["zendesk"](b), 400, "unexpected_shape", body=b"[1]"),
    Hook("stripe-body-oversized", "stripe", lambda b: SIGNERS["stripe"](b), 413, "oversized",
         body=b" " * (MAX_BODY + 1)),
]


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    daemon, test_client = daemon_client(tmp_path, monkeypatch)
    with test_client:
        yield test_client
    daemon.store.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_webhook_is_refused_and_counted_by_reason(client: TestClient, case: Hook) -> None:
    body = case.body if case.body is not None else sample_body(case.vendor)
    response = client.post(f"/webhooks/{case.vendor}", content=body, headers=case.build(body))
    assert response.status_code == case.status, response.text
    assert metric_samples(client, "connector_webhook_rejections") == {
        (("reason", case.reason), ("vendor", case.vendor)): 1.0}
    assert metric_samples(client, "connector_webhook_http_requests") == {
        (("status", str(case.status)), ("vendor", case.vendor)): 1.0}


# -- fuzz ---------------------------------------------------------------------------------------------------

REQUESTS_PER_VENDOR = 1000
NASTY = ["\xb2", "١", "٣", "\u0663", "½", "1_0", "1e3", "inf", "nan", "-1", " ", "\t", "\x00", "\xff", "=", ",",
         "t=", "v1=", "Z", "+00:00", "9" * 40]


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """One random edit: flip, insert, delete, truncate, duplicate, or splice in a nasty token."""
    data = bytearray(data)
    kind = rng.randrange(6)
    at = rng.randrange(len(data) + 1)
    if kind == 0 and data:
        data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
    elif kind == 1:
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    elif kind == 2:
        del data[at : at + rng.randrange(1, 16)]
    elif kind == 3:
        del data[at:]
    elif kind == 4:
        data[at:at] = data[: rng.randrange(1, 64)]
    else:
        data[at:at] = rng.choice(NASTY).encode(rng.choice(["utf-8", "latin-1", "utf-16"]), "replace")
    return bytes(data)


def _fuzz_body(rng: random.Random, vendor: str, n: int) -> bytes:
    body = sample_body(vendor, n)
    choice = rng.randrange(10)
    if choice < 3:
        return body
    if choice < 6:
        for _ in range(rng.randrange(1, 4)):
            body = _mutate_bytes(rng, body)
        return body
    if choice == 6:  # a valid JSON document of the wrong shape or with hostile values
        value = rng.choice([None, 1e308, -0.0, 10**30, "x" * 50, [], {}, [[]], {"data": []}, True, "\u202e",
                            [{"subscriptionType": 1}], [{"subscriptionType": "company.x", "objectId": [1]}],
                            {"type": "invoice.paid", "data": {"object": {"customer": {"id": 5}}}}])
        return json.dumps(value).encode()
    if choice == 7:
        depth = rng.randrange(500, 2000)
        return b"[" * depth + b"]" * depth
    if choice == 8:
        return body.decode().encode(rng.choice(["utf-16", "utf-32", "latin-1"]))
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))


def _fuzz_headers(rng: random.Random, vendor: str, body: bytes) -> dict[str, bytes]:
    headers = dict(SIGNERS[vendor](body)) if rng.random() < 0.6 else {}
    if headers and rng.random() < 0.4:  # damage one signed header
        key = rng.choice(list(headers))
        headers[key] = _mutate_bytes(rng, headers[key])
    elif not headers:  # a header made up from nothing, of the vendor's names
        for key in SIGNERS[vendor](b""):
            if rng.random() < 0.8:
                tokens = [rng.choice(NASTY) for _ in range(rng.randrange(0, 5))]
                headers[key] = "".join(tokens).encode(rng.choice(["utf-8", "latin-1"]), "replace")
    if rng.random() < 0.2:
        headers["Content-Type"] = rng.choice([b"application/json", b"text/plain; charset=utf-16", b"\xff"])
    if rng.random() < 0.1:
        headers["Content-Encoding"] = b"gzip"
    return {k: v.replace(b"\r", b"").replace(b"\n", b"") for k, v in headers.items()}


async def _post(app: Any, path: str, body: bytes, headers: dict[str, bytes]) -> tuple[int, bytes]:
    """One request straight into the ASGI app, as uvicorn hands it over (raw header bytes, one body chunk)."""
    raw = [(k.lower().encode(), v) for k, v in headers.items()] + [(b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), *raw], "client": ("127.0.0.1", 1), "server": ("testserver", 80)}
    received = False
    status, parts = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(parts)


async def _send_fuzz(app: Any, vendor: str) -> dict[int, int]:
    """The seeded request stream, on one event loop."""
    rng = random.Random(f"webhook-fuzz-{vendor}")
    statuses: dict[int, int] = {}
    for n in range(REQUESTS_PER_VENDOR):
        body = _fuzz_body(rng, vendor, n)
        if rng.random() < 0.05:
            body = gzip.compress(body)
        status, answer = await _post(app, f"/webhooks/{vendor}", body, _fuzz_headers(rng, vendor, body))
        assert 200 <= status < 500, (n, body[:80], answer)
        statuses[status] = statuses.get(status, 0) + 1
    return statuses


@pytest.mark.parametrize("vendor", VENDORS)
def test_fuzzed_webhooks_never_5xx_and_are_all_counted(client: TestClient, vendor: str) -> None:
    statuses = asyncio.run(_send_fuzz(client.app, vendor))
    counted = metric_samples(client, "connector_webhook_http_requests")
    assert counted == {(("status", str(s)), ("vendor", vendor)): float(c) for s, c in statuses.items()}
    assert sum(counted.values()) == REQUESTS_PER_VENDOR
    refused = sum(c for s, c in statuses.items() if s >= 400)
    assert sum(metric_samples(client, "connector_webhook_rejections").values()) == refused
    # the stream really reaches every stage: accepted, refused by signature, by parsing, and by size
    assert statuses.get(200, 0) > 50 and statuses.get(400, 0) > 50 and statuses.get(401, 0) > 50, statuses
