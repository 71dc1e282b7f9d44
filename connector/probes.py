"""Can each configured system be reached, and if not, why — in one line an admin can act on.

``connector check`` used to contact only the systems it writes to (Salesforce, HubSpot, Zendesk); a wrong
Stripe ``base_url`` or a missing usage file passed, and the next sync retried for 20 s and ended partial.
The source-only systems are probed here with the cheapest call that proves address *and* credentials:

* Stripe — one customer (``GET /v1/customers?limit=1``);
* usage — the file opens and has the mapped columns (the header only), or the database answers ``SELECT 1``;
* enrichment — one lookup of ``example.com`` (one lookup credit per ``check``).

Client libraries report an unreachable host as nested wrappers (urllib3's ``MaxRetryError`` around a
``NewConnectionError`` around a socket error, requests' ``ConnectionError`` around that, re-raised with
only its text by our HTTP layer); :func:`describe_failure` reduces that to the cause and the key to fix.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Callable

import requests
import urllib3

from connector.config import Config
from connector.http import CERTIFICATE_FAILURE, NOT_TLS, HttpLayer, exception_chain
from connector.secrets import redact

#: (pattern in the error's text, what it means, the key to check) — most specific first.
_CAUSES: tuple[tuple[str, str, str], ...] = (
    (CERTIFICATE_FAILURE, "its TLS certificate is not trusted", "ca_bundle"),
    (NOT_TLS, "it does not speak TLS on that port (http:// vs https://?)", "base_url"),
    (r"Name or service not known|nodename nor servname|Failed to resolve|getaddrinfo failed|NameResolution",
     "the host name does not resolve", "base_url"),
    (r"Connection refused|ConnectionRefused", "the connection was refused", "base_url"),
    (r"timed out|Timeout", "it did not answer in time", "base_url"),
    (r"Max retries exceeded|Connection aborted|RemoteDisconnected|NewConnectionError|ConnectionError",
     "the connection failed", "base_url"),
)
_NETWORK = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, urllib3.exceptions.HTTPError,
            ConnectionError, socket.gaierror, ssl.SSLError, TimeoutError)


def describe_failure(system: str, config: Config, exc: BaseException) -> str:
    """The error as shown to an admin: for a network failure, ``system: cannot reach URL — cause; check
    key``; anything else as ``Type: message`` (our own errors already say what to fix)."""
    if any(isinstance(e, _NETWORK) for e in exception_chain(exc)):
        text = " ".join(f"{type(e).__name__}: {e}" for e in exception_chain(exc))
        cause, key = next(((c, k) for pattern, c, k in _CAUSES if re.search(pattern, text)),
                          ("the connection failed", "base_url"))
        url = getattr(getattr(config, system, None), "base_url", None) or "it"
        return redact(f"{system}: cannot reach {url} — {cause}; check `{key}` in the [{system}] section")
    return redact(f"{type(exc).__name__}: {exc}")


def source_probes(config: Config, http: HttpLayer) -> dict[str, Callable[[], None]]:
    """A probe per enabled source-only system; each returns quietly or raises what the sync would hit."""
    probes: dict[str, Callable[[], None]] = {}
    enabled = config.enabled_systems()
    if "stripe" in enabled and config.stripe is not None:
        stripe_cfg = config.stripe

        def stripe() -> None:
            from connector.clients.stripe import build_client

            build_client(stripe_cfg, http).get("/v1/customers", {"limit": 1})

        probes["stripe"] = stripe
    if "usage" in enabled:
        from connector.sources.usage import UsageSource

        probes["usage"] = UsageSource(config).probe
    if "enrichment" in enabled and config.enrichment is not None:
        enrichment_cfg = config.enrichment

        def enrichment() -> None:
            from connector.clients.techlookup import build_client

            list(build_client(enrichment_cfg, http).lookup(["example.com"]))

        probes["enrichment"] = enrichment
    return probes
