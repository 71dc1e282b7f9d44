"""Signed and forged webhooks against a running daemon process (real HTTP, fake pipeline, SQLite)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from daemon_kit import (
    DaemonProcess,
    free_port,
    hubspot_headers,
    start_daemon,
    stripe_event,
    stripe_headers,
    wait_for,
    write_config,
    zendesk_headers,
)
from sqlalchemy import text

from connector.records import Account, IdentityKeys, Observation
from connector.store import Store


@pytest.fixture
def daemon(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[DaemonProcess, Store]]:
    store = Store(sqlite_url)
    now = datetime.now(UTC)
    store.upsert_accounts([Account("001A", "salesforce", "Acme"), Account("001B", "salesforce", "Beta")])
    store.upsert_observations([
        Observation("stripe", "customer", "cus_A", IdentityKeys(crm_id="001A"), {}, now),
        Observation("zendesk", "organization", "42", IdentityKeys(crm_id="001B"), {}, now),
        Observation("hubspot", "company", "777", IdentityKeys(crm_id="001A"), {}, now),
    ])
    store.set_matches([("stripe", "customer", "cus_A", "001A", "matched"),
                       ("zendesk", "organization", "42", "001B", "matched"),
                       ("hubspot", "company", "777", "001A", "matched")])
    port = free_port()
    cfg = write_config(tmp_path / "c.toml", sqlite_url, port, every=60, webhooks=True, systems="all")
    process = start_daemon(cfg, port)
    wait_for(lambda: [r for r in store.runs(kind="score_and_write") if r.status == "ok"], timeout=10)
    yield process, store
    assert process.stop() == 0
    store.close()


def refreshes(store: Store) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute(text("SELECT source, account FROM fake_refreshes"))]


def test_signed_stripe_event_refreshes_its_account_within_seconds(daemon: tuple[DaemonProcess, Store]) -> None:
    process, store = daemon
    body = stripe_event("evt_1", "cus_A")
    sent = time.monotonic()
    r = httpx.post(f"{process.url}/webhooks/stripe", content=body, headers=stripe_headers(body))
    assert r.status_code == 200 and r.json() == {"accepted": 1, "duplicates": 0, "ignored": 0}
    # the schedule runs every 60 s: a refresh well inside that came from the webhook (the bound only stops a
    # hang; on a busy machine seconds stretch), and the run is read once it has finished, not while it writes
    wait_for(lambda: ("stripe", "001A") in refreshes(store), timeout=30)
    assert time.monotonic() - sent < 30
    wait_for(lambda: [r for r in store.runs(kind="webhook:stripe") if r.status != "running"], timeout=30)
    [run] = store.runs(kind="webhook:stripe")
    assert run.status == "ok"
    assert "connector_webhook_refresh_seconds_count" in httpx.get(f"{process.url}/metrics").text


def test_forged_stale_replayed_oversized_and_malformed_never_reach_the_pipeline(
    daemon: tuple[DaemonProcess, Store],
) -> None:
    process, store = daemon
    url = f"{process.url}/webhooks/stripe"
    body = stripe_event("evt_2", "cus_A")
    cases = [
        (body, stripe_headers(body, secret="whsec_forged"), 401),
        (body, stripe_headers(body, at=int(time.time()) - 600), 401),
        (body, {"Stripe-Signature": "garbage"}, 400),
        (body, {}, 401),
        (b"x" * 5000, stripe_headers(b"x" * 5000), 413),
        (b"not json", stripe_headers(b"not json"), 400),
        (b'{"type": "invoice.paid"}', stripe_headers(b'{"type": "invoice.paid"}'), 400),
    ]
    for payload, headers, status in cases:
        assert httpx.post(url, content=payload, headers=headers).status_code == status, (payload[:30], headers)
    good = stripe_headers(body)
    assert httpx.post(url, content=body, headers=good).status_code == 200
    assert httpx.post(url, content=body, headers=good).status_code == 401  # the same signature, replayed
    time.sleep(1.1)  # a redelivery of the same event, signed afresh by the vendor: acknowledged, not re-run
    again = httpx.post(url, content=body, headers=stripe_headers(body))
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    wait_for(lambda: refreshes(store), timeout=5)
    time.sleep(0.5)
    assert refreshes(store) == [("stripe", "001A")]
    metrics = httpx.get(f"{process.url}/metrics").text
    for outcome in ("forged", "malformed", "oversized", "replayed", "duplicates", "accepted"):
        assert f'outcome="{outcome}",vendor="stripe"' in metrics, outcome
    assert "whsec_test_secret" not in process.log()


def test_zendesk_and_hubspot_signatures(daemon: tuple[DaemonProcess, Store]) -> None:
    process, store = daemon
    zd = json.dumps({"id": "01HZ", "type": "zen:event-type:ticket.priority_changed",
                     "detail": {"id": "9", "organization_id": "42"}}).encode()
    zurl = f"{process.url}/webhooks/zendesk"
    assert httpx.post(zurl, content=zd, headers=zendesk_headers(zd, secret="wrong")).status_code == 401
    assert httpx.post(zurl, content=zd, headers=zendesk_headers(zd, at=time.time() - 900)).status_code == 401
    assert httpx.post(zurl, content=zd, headers=zendesk_headers(zd)).status_code == 200
    wait_for(lambda: ("zendesk", "001B") in refreshes(store), timeout=5)

    hs = json.dumps([{"eventId": 11, "subscriptionType": "company.propertyChange", "objectId": 777,
                      "propertyName": "champion_changed_at", "occurredAt": 1}]).encode()
    hurl = f"{process.url}/webhooks/hubspot"
    old = int((time.time() - 301) * 1000)
    assert httpx.post(hurl, content=hs, headers=hubspot_headers(hurl, hs, at_ms=old)).status_code == 401
    assert httpx.post(hurl, content=hs, headers=hubspot_headers(hurl + "x", hs)).status_code == 401
    r = httpx.post(hurl, content=hs, headers=hubspot_headers(hurl, hs))
    assert r.status_code == 200 and r.json()["accepted"] == 1
    wait_for(lambda: ("hubspot", "001A") in refreshes(store), timeout=5)


def test_unknown_entity_is_acknowledged_but_not_refreshed(daemon: tuple[DaemonProcess, Store]) -> None:
    process, store = daemon
    body = stripe_event("evt_9", "cus_nobody")
    assert httpx.post(f"{process.url}/webhooks/stripe", content=body, headers=stripe_headers(body)).status_code == 200
    wait_for(lambda: 'outcome="unmatched",vendor="stripe"' in httpx.get(f"{process.url}/metrics").text, timeout=5)
    assert refreshes(store) == []


def test_probe_headers_get_400_over_real_http_and_are_counted(daemon: tuple[DaemonProcess, Store]) -> None:
    """The probe's finding, on the real server: a non-ASCII digit in a timestamp was a 500 with a traceback."""
    process, _ = daemon
    body = stripe_event("evt_probe", "cus_A")
    hs_url = f"{process.url}/webhooks/hubspot"
    probes = [
        ("stripe", {"Stripe-Signature": b"t=\xb2,v1=00"}),
        ("zendesk", {"X-Zendesk-Webhook-Signature": b"\xb2", "X-Zendesk-Webhook-Signature-Timestamp": b"\xb2"}),
        ("hubspot", {**hubspot_headers(hs_url, body), "X-HubSpot-Request-Timestamp": b"\xb2"}),  # type: ignore[dict-item]
    ]
    for vendor, headers in probes:
        r = httpx.post(f"{process.url}/webhooks/{vendor}", content=body, headers=headers)
        assert r.status_code == 400, (vendor, r.text)
    metrics = httpx.get(f"{process.url}/metrics").text
    for vendor, _ in probes:
        assert f'connector_webhook_http_requests_total{{status="400",vendor="{vendor}"}} 1.0' in metrics, vendor
        assert f'connector_webhook_rejections_total{{reason="malformed_timestamp",vendor="{vendor}"}} 1.0' in metrics
    assert "Traceback" not in process.log()
