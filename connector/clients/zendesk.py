"""The Zendesk client the source and the sink share: zenpy on our HttpLayer session, plus raw JSON reads.

Three decisions live here, each from a zenpy trap:

* **Where it points.**  zenpy builds every URL as ``https://{subdomain}.{domain}/api/v2``.  Its escape
  hatch, ``ZENPY_FORCE_NETLOC``, is a process-global environment variable (it would leak across tests and
  across two Zendesk configs in one process).  Instead the configured host is split at its first dot —
  ``acme.zendesk.com`` → ``acme`` + ``zendesk.com``, ``127.0.0.1:8443`` → ``127`` + ``0.0.1:8443`` — which
  zenpy joins back into exactly the configured netloc, per client instance.  zenpy always speaks https,
  so an ``http://`` base URL is refused here rather than silently upgraded.
* **Who retries.**  zenpy gets our :class:`~connector.http.InstrumentedSession` (CA bundle through
  ``session.verify``), so retries, the per-minute limit and the call ledger are the HttpLayer's.  zenpy's
  own 429 handling sleeps silently for ``Retry-After`` and retries; ``ratelimit_budget=0`` turns that into
  an immediate :class:`zenpy.lib.exception.RatelimitBudgetExceeded` once our layer has given up, so every
  wait shows in the ledger.  Its object cache is off: a sync must read what Zendesk holds now.
* **Raw reads.**  The incremental exports are read with the same session (:meth:`ZendeskClient.get_json`):
  zenpy's export generator hides page boundaries (the cursor must move with each page's rows) and drops
  the ``metric_sets`` sideload.

The per-minute rate limit itself is configured on the HttpLayer by :func:`connector.runtime.http_layer`
(``requests_per_minute`` over a 60-second window).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from zenpy import Zenpy

from connector.config import Config, ConfigError
from connector.http import HttpLayer, InstrumentedSession
from connector.secrets import resolve

SYSTEM = "zendesk"


class ZendeskApiError(Exception):
    """Zendesk refused a request; names the endpoint, status and Zendesk's own error, never credentials."""

    def __init__(self, endpoint: str, status: int, error: str, description: str):
        super().__init__(f"zendesk: {endpoint} answered {status} {error}: {description}")
        self.endpoint, self.status, self.error, self.description = endpoint, status, error, description


@dataclass
class ZendeskClient:
    """zenpy for the object APIs, the same session for raw JSON reads, and the API root URL."""

    zenpy: Zenpy
    session: InstrumentedSession
    api_url: str

    def get_json(self, path_or_url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path_or_url`` (relative to ``/api/v2`` or absolute) and return its JSON body."""
        url = path_or_url if path_or_url.startswith("https://") else f"{self.api_url}/{path_or_url.lstrip('/')}"
        response = self.session.get(url, params=params)
        endpoint = urlsplit(url).path
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400 or not isinstance(body, dict):
            error = body.get("error", "") if isinstance(body, dict) else ""
            description = body.get("description", "") if isinstance(body, dict) else ""
            raise ZendeskApiError(endpoint, response.status_code, str(error), str(description or response.reason))
        return body


def zenpy_host(base_url: str) -> tuple[str, str]:
    """``(subdomain, domain)`` that zenpy joins as ``{subdomain}.{domain}`` into the configured netloc."""
    parts = urlsplit(base_url)
    if parts.scheme != "https":
        raise ConfigError("<config>", [("zendesk.base_url", "zenpy only speaks https; use https://…")])
    subdomain, dot, domain = parts.netloc.partition(".")
    if not dot or not subdomain or not domain:
        raise ConfigError("<config>", [("zendesk.base_url",
                                        "expected a host with a dot, e.g. https://acme.zendesk.com")])
    return subdomain, domain


def build_client(config: Config, http: HttpLayer) -> ZendeskClient:
    """A zenpy client and session for ``[zendesk]``, all traffic through ``http``'s ``zendesk`` limiter/ledger.

    A relative ``ca_bundle`` resolves against the config file's directory, like every path in the config.
    """
    cfg = config.zendesk
    if cfg is None:
        raise ConfigError("<config>", [("zendesk", "no [zendesk] section")])
    subdomain, domain = zenpy_host(cfg.base_url)
    token = resolve(cfg.secret_ref("token"), key="zendesk.token")
    session = http.session(SYSTEM, verify=str(config.resolve(cfg.ca_bundle)) if cfg.ca_bundle else True,
                           timeout=cfg.timeout_seconds)
    zenpy = Zenpy(subdomain=subdomain, domain=domain, email=cfg.email, token=token, session=session,
                  timeout=cfg.timeout_seconds, ratelimit_budget=0, disable_cache=True)
    return ZendeskClient(zenpy, session, f"https://{subdomain}.{domain}/api/v2")
