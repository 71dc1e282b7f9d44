"""Helpers for the daemon tests: configs, state stores, daemon processes, signed webhook requests.

Signatures are computed here from the vendors' documented schemes with ``hmac`` directly — not with the
daemon's own code — so a mistake in :mod:`connector.daemon.signatures` cannot cancel itself out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SECRETS = {"STRIPE_WHSEC": "whsec_test_secret_1234", "ZD_WHSEC": "zd-signing-secret-5678",
           "HS_CLIENT_SECRET": "hs-client-secret-9012"}
ENV = {"SF_TOKEN": "sf-token-abcd", "STRIPE_KEY": "sk_test_abcd", "ZD_TOKEN": "zd-token-abcd",
       "HS_TOKEN": "hs-token-abcd", **SECRETS}

#: Every wait below is for something that *will* happen — a daemon answering, a run finishing — and only
#: bounds a hang.  On a busy machine (two cores shared by many processes) it happens later, not never, so
#: the bounds are stretched by this factor instead of failing a correct daemon that started slowly.
PATIENCE = float(os.environ.get("CONNECTOR_TEST_PATIENCE", "6"))

FAKE_TABLES = (
    "CREATE TABLE IF NOT EXISTS fake_writes (item INTEGER NOT NULL, run_id INTEGER, pid INTEGER)",
    "CREATE TABLE IF NOT EXISTS fake_refreshes (source TEXT, account TEXT, run_id INTEGER)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, state_url: str, port: int, *, every: float = 1.0, score_every: float | None = None,
                 webhooks: bool = False, grace: float = 10.0, max_missed: float = 3.0, systems: str = "sf",
                 sf_url: str = "https://127.0.0.1:9") -> Path:
    sections = [
        "[connector]",
        f'state_url = "{state_url}"',
        f'success_model = "{REPO / "mappings" / "success_model.toml"}"',
        "",
        "[salesforce]",
        f'base_url = "{sf_url}"',
        f'mapping = "{REPO / "mappings" / "salesforce.toml"}"',
        'session_id_env = "SF_TOKEN"',
        "max_retries = 0",
        "timeout_seconds = 2",
    ]
    if "all" in systems:
        sections += [
            "", "[stripe]", 'api_key_env = "STRIPE_KEY"', 'webhook_secret_env = "STRIPE_WHSEC"',
            "", "[zendesk]", 'base_url = "https://acme.zendesk.com"', 'email = "ops@example.com"',
            'token_env = "ZD_TOKEN"', f'mapping = "{REPO / "mappings" / "zendesk.toml"}"',
            "", "[hubspot]", 'access_token_env = "HS_TOKEN"',
            f'mapping = "{REPO / "mappings" / "hubspot.toml"}"',
        ]
    sections += [
        "",
        "[schedules]",
        f"health_max_missed = {max_missed}",
        f"shutdown_grace_seconds = {grace}",
        "[schedules.pull]",
        f"every_seconds = {every}",
        "jitter_seconds = 0",
        "misfire_grace_seconds = 5",
        "[schedules.score_and_write]",
        f"every_seconds = {score_every or every}",
        "jitter_seconds = 0",
        "misfire_grace_seconds = 5",
        "",
        "[webhooks]",
        f"enabled = {'true' if webhooks else 'false'}",
        f"port = {port}",
        "max_body_bytes = 4096",
        "signature_tolerance_seconds = 300",
    ]
    if webhooks:
        sections += ['zendesk_secret_env = "ZD_WHSEC"', 'hubspot_client_secret_env = "HS_CLIENT_SECRET"']
    path.write_text("\n".join(sections) + "\n", encoding="utf-8")
    return path


@dataclass
class DaemonProcess:
    """A daemon started as a real OS process; ``stop()`` sends SIGTERM and returns the exit code."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout * PATIENCE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            try:
                httpx.get(f"{self.url}/healthz", timeout=1.0)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"daemon not ready after {timeout * PATIENCE} s:\n{self.log()}")

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout * PATIENCE)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""


def start_daemon(config: Path, port: int, *, fake: bool = True, env: dict[str, str] | None = None,
                 name: str = "daemon") -> DaemonProcess:
    cmd = ([sys.executable, str(HERE / "fake_daemon.py"), str(config)] if fake
           else [sys.executable, "-m", "connector", "--log-level", "INFO", "run", "-c", str(config)])
    log_path = config.parent / f"{name}.log"
    full_env = {**os.environ, **ENV, **(env or {})}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=str(config.parent))
    daemon = DaemonProcess(proc, port, log_path)
    try:
        daemon.wait_ready()
    except AssertionError:
        daemon.kill()  # a daemon that never answered must not outlive the test that started it
        raise
    return daemon


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.1) -> Any:
    """The predicate's first truthy value; ``timeout`` (stretched by :data:`PATIENCE`) only bounds a hang."""
    deadline = time.monotonic() + timeout * PATIENCE
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout * PATIENCE} s")


# -- signing, from the vendors' documentation --------------------------------------------------------------


def stripe_headers(body: bytes, *, secret: str = SECRETS["STRIPE_WHSEC"], at: int | None = None) -> dict[str, str]:
    t = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={digest}", "Content-Type": "application/json"}


def zendesk_headers(body: bytes, *, secret: str = SECRETS["ZD_WHSEC"], at: float | None = None) -> dict[str, str]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if at is None else at))
    digest = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()
    return {"X-Zendesk-Webhook-Signature": digest, "X-Zendesk-Webhook-Signature-Timestamp": stamp,
            "Content-Type": "application/json"}


def hubspot_headers(uri: str, body: bytes, *, secret: str = SECRETS["HS_CLIENT_SECRET"],
                    at_ms: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time() * 1000) if at_ms is None else at_ms)
    message = b"POST" + uri.encode() + body + stamp.encode()
    digest = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()
    return {"X-HubSpot-Signature-v3": digest, "X-HubSpot-Request-Timestamp": stamp,
            "Content-Type": "application/json"}


def stripe_event(event_id: str, customer: str, kind: str = "invoice.payment_failed") -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": kind,
                       "data": {"object": {"object": "invoice", "id": "in_1", "customer": customer}}}).encode()
