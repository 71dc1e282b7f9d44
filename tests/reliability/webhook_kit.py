"""An in-process daemon (the real Starlette app, routes and metrics; a pipeline that does nothing) and the
vendors' signing schemes, computed here from their documentation rather than with the daemon's own code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from connector.config import config_from_dict
from connector.daemon.pipeline import RunOutcome
from connector.daemon.service import Daemon

SECRETS = {"STRIPE_WHSEC": "whsec_rel_secret_1234", "ZD_WHSEC": "zd-rel-secret-5678",
           "HS_CLIENT_SECRET": "hs-rel-secret-9012"}
ENV = {"SF_TOKEN": "sf-token-abcd", "STRIPE_KEY": "sk_test_abcd", "ZD_TOKEN": "zd-token-abcd",
       "HS_TOKEN": "hs-token-abcd", **SECRETS}
MAX_BODY = 4096
BASE = "http://testserver"


class IdlePipeline:
    """The daemon's jobs are never started here: only the HTTP side is exercised."""

    def pull(self, source: str, *, kind: str) -> RunOutcome:
        return RunOutcome("ok")

    def score_and_write(self, *, kind: str) -> RunOutcome:
        return RunOutcome("ok")

    def refresh(self, source: str, accounts: Sequence[str], *, kind: str) -> RunOutcome:
        return RunOutcome("ok")


def daemon_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Daemon, TestClient]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    config = config_from_dict({
        "connector": {"state_url": f"sqlite:///{tmp_path / 'state.db'}"},
        "salesforce": {"base_url": "https://127.0.0.1:9", "session_id_env": "SF_TOKEN"},
        "stripe": {"api_key_env": "STRIPE_KEY", "webhook_secret_env": "STRIPE_WHSEC"},
        "zendesk": {"base_url": "https://acme.zendesk.com", "email": "ops@example.com", "token_env": "ZD_TOKEN"},
        "hubspot": {"access_token_env": "HS_TOKEN"},
        "webhooks": {"enabled": True, "max_body_bytes": MAX_BODY, "zendesk_secret_env": "ZD_WHSEC",
                     "hubspot_client_secret_env": "HS_CLIENT_SECRET"},
    }, tmp_path / "connector.toml")
    daemon = Daemon(config, IdlePipeline())
    return daemon, TestClient(daemon.app, base_url=BASE, raise_server_exceptions=False)


def stripe_sign(body: bytes, *, secret: str = SECRETS["STRIPE_WHSEC"], at: bytes | None = None) -> dict[str, bytes]:
    t = str(int(time.time())).encode() if at is None else at
    digest = hmac.new(secret.encode(), t + b"." + body, hashlib.sha256).hexdigest().encode()
    return {"Stripe-Signature": b"t=" + t + b",v1=" + digest}


def zendesk_sign(body: bytes, *, secret: str = SECRETS["ZD_WHSEC"], at: bytes | None = None) -> dict[str, bytes]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()).encode() if at is None else at
    digest = base64.b64encode(hmac.new(secret.encode(), stamp + body, hashlib.sha256).digest())
    return {"X-Zendesk-Webhook-Signature": digest, "X-Zendesk-Webhook-Signature-Timestamp": stamp}


def hubspot_sign(body: bytes, *, secret: str = SECRETS["HS_CLIENT_SECRET"], at: bytes | None = None,
                 uri: str = f"{BASE}/webhooks/hubspot") -> dict[str, bytes]:
    stamp = str(int(time.time() * 1000)).encode() if at is None else at
    digest = base64.b64encode(hmac.new(secret.encode(), b"POST" + uri.encode() + body + stamp, hashlib.sha256).digest())
    return {"X-HubSpot-Signature-v3": digest, "X-HubSpot-Request-Timestamp": stamp}


SIGNERS = {"stripe": stripe_sign, "zendesk": zendesk_sign, "hubspot": hubspot_sign}


def sample_body(vendor: str, n: int = 1) -> bytes:
    """A well-formed event of ``vendor`` (``n`` makes ids unique)."""
    if vendor == "stripe":
        return json.dumps({"id": f"evt_{n}", "object": "event", "type": "invoice.payment_failed",
                           "data": {"object": {"object": "invoice", "id": "in_1", "customer": "cus_A"}}}).encode()
    if vendor == "zendesk":
        return json.dumps({"id": f"01HZ{n}", "type": "zen:event-type:ticket.priority_changed",
                           "detail": {"id": "9", "organization_id": "42"}}).encode()
    return json.dumps([{"eventId": n, "subscriptionType": "company.propertyChange", "objectId": 777,
                        "propertyName": "name", "occurredAt": 1}]).encode()


def metric_samples(client: TestClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """``GET /metrics`` → {sorted label pairs: value} for the counter ``name`` (its ``_total`` samples)."""
    found: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == f"{name}_total":
                found[tuple(sorted(sample.labels.items()))] += sample.value
    return dict(found)
