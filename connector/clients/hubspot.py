"""The real ``hubspot-api-client`` (v12), built for one ``[hubspot]`` config section and our HttpLayer.

What this adds to the library, and why:

* **One retry policy.**  The library's urllib3 ``Retry`` is switched off (``retry=False``): its default
  does not retry 429 on POST/PATCH, and two retry loops multiply waits.  Every API object's urllib3
  ``PoolManager`` is routed through :func:`connector.http.instrument_urllib3`, so rate limiting (the
  configured ``requests_per_10s`` per 10-second window, HubSpot's unit), ``Retry-After`` and the call
  ledger apply to every request.  The library's ``api_factory`` hook is where each per-API ``ApiClient``
  (and its pool manager) is created; API objects are cached so one run keeps its TLS connections.
* **TLS** verification against ``ca_bundle`` (sandbox, proxies) — never switched off.
* **Tokens.**  A private-app token is used as is.  With OAuth (``refresh_token_env`` + client id/secret)
  the access token is fetched with the refresh-token grant, refreshed shortly before it expires (HubSpot
  issues 30-minute tokens) and, if a call still gets 401, refreshed once and the call retried once.
* **One error type.**  Each generated sub-package has its own ``ApiException``; :class:`HubSpotApiError`
  replaces them with status, category and message parsed from HubSpot's error body (never the token).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import hubspot
import urllib3
from hubspot.discovery.discovery_base import DiscoveryBase

from connector.config import HubSpotConfig, SecretRef
from connector.http import HttpLayer, RetryPolicy, instrument_urllib3
from connector.secrets import redact, resolve

SYSTEM = "hubspot"
#: Cursor the HubSpot source sets to the run's ``now`` once companies were read with the properties the sink
#: writes: the replica then holds every company's live values as of this run, and the sink checks drift
#: against it instead of a ``batch/read``.
LIVE_MARK = "companies.live_at"
WINDOW_SECONDS = 10.0  # HubSpot states its burst limits per 10 s: https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details
T = TypeVar("T")


class HubSpotApiError(Exception):
    """HubSpot refused a call: ``status``, ``category`` (e.g. VALIDATION_ERROR, RATE_LIMIT) and the body."""

    def __init__(self, operation: str, status: int, category: str | None, message: str, body: dict[str, Any]):
        self.operation, self.status, self.category, self.body = operation, status, category, body
        self.message = redact(message)
        super().__init__(f"hubspot {operation}: HTTP {status} {category or ''} {self.message}".strip())


def as_api_error(exc: BaseException, operation: str) -> HubSpotApiError | None:
    """The :class:`HubSpotApiError` for a generated client's ``ApiException`` (``None`` for anything else)."""
    if not type(exc).__module__.startswith("hubspot.") or not hasattr(exc, "status"):
        return None
    raw = getattr(exc, "body", None) or "{}"
    try:
        body = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except ValueError:
        body = {"message": str(raw)[:500]}
    if not isinstance(body, dict):
        body = {"message": str(body)[:500]}
    category = body.get("category") or body.get("errorType") or body.get("status")
    message = str(body.get("message") or getattr(exc, "reason", "") or "no message")
    return HubSpotApiError(operation, int(exc.status or 0), category, message, body)


class HubSpotClient:
    """``hubspot.Client`` behind our HttpLayer, with token handling; shared by the source and the sink."""

    def __init__(self, cfg: HubSpotConfig, layer: HttpLayer, *, config_path: str = "<config>"):
        self.cfg, self.layer = cfg, layer
        layer.configure_default(SYSTEM, limit=cfg.requests_per_10s, window=WINDOW_SECONDS,
                                policy=RetryPolicy(max_retries=cfg.max_retries))
        self._apis: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()  # a refresh builds the OAuth API object under the same lock
        self._expires_at: float | None = None
        self._oauth = _oauth_credentials(cfg, config_path)
        token = None if self._oauth else resolve(cfg.secret_ref("access_token"), key="hubspot.access_token",
                                                  config_path=config_path)
        self.client = hubspot.Client.create(
            access_token=token, host=cfg.base_url, base_url=cfg.base_url, retry=False,
            ssl_ca_cert=str(cfg.ca_bundle) if cfg.ca_bundle else None, api_factory=self._make_api)
        self.refreshes = 0

    # -- calls -----------------------------------------------------------------------------------------

    @property
    def crm(self) -> Any:
        """The library's ``crm`` discovery (``crm.companies.batch_api`` …); API objects are cached."""
        return self.client.crm

    def call(self, operation: str, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``method(*args, **kwargs)`` (a generated API method) with a valid token.

        Raises :class:`HubSpotApiError` when HubSpot refuses; ``operation`` names the call in that error.
        """
        self._ensure_token()
        for attempt in (1, 2):
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                # The generated client decodes ``e.body`` even when there is none (a TLS or connection
                # failure raised as ApiException(status=0)), so the real error arrives as the context of
                # an AttributeError: unwrap it, or a certificate problem reads as a NoneType bug.
                cause = exc.__context__ if isinstance(exc, AttributeError) and exc.__context__ else exc
                error = as_api_error(cause, operation)
                if error is None:
                    raise
                if error.status == 401 and self._oauth and attempt == 1:
                    self._refresh()  # expired early (clock skew, revoked): one refresh, one retry
                    continue
                raise error from None
        raise AssertionError("unreachable")

    # -- tokens ----------------------------------------------------------------------------------------

    def _ensure_token(self) -> None:
        if self._oauth and (self._expires_at is None or time.monotonic() >= self._expires_at):
            self._refresh()

    def _refresh(self) -> None:
        assert self._oauth is not None
        with self._lock:
            client_id, client_secret, refresh_token = self._oauth
            try:
                answer = self.client.oauth.tokens_api.create(
                    grant_type="refresh_token", client_id=client_id, client_secret=client_secret,
                    refresh_token=refresh_token)
            except Exception as exc:
                error = as_api_error(exc, "oauth token refresh")
                if error is None:
                    raise
                raise error from None
            lifetime = float(answer.expires_in)
            # Refresh ahead of expiry: a minute early for HubSpot's 30-minute tokens, 10 % for short ones.
            self._expires_at = time.monotonic() + lifetime - min(60.0, lifetime * 0.1)
            self._set_token(answer.access_token)
            self.refreshes += 1

    def _set_token(self, token: str) -> None:
        self.client.access_token = token
        for api in self._apis.values():
            api.api_client.configuration.access_token = token

    # -- transport -------------------------------------------------------------------------------------

    def _make_api(self, package: Any, api_name: str, config: dict[str, Any]) -> Any:
        """The library's ``api_factory`` hook: build once per API, then route its pool through our layer."""
        key = (package.__name__, api_name)
        with self._lock:
            if key not in self._apis:
                api = DiscoveryBase._default_api_factory(package, api_name, config)
                pool = api.api_client.rest_client.pool_manager
                _default_timeout(pool, self.cfg.timeout_seconds)
                instrument_urllib3(pool, self.layer, SYSTEM)
                self._apis[key] = api
            return self._apis[key]


def _default_timeout(pool: Any, seconds: float) -> None:
    """The generated client sends ``timeout=None`` unless told otherwise: give every call our timeout."""
    original = pool.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = urllib3.Timeout(total=seconds)
        return original(method, url, *args, **kwargs)

    pool.request = request


def _oauth_credentials(cfg: HubSpotConfig, config_path: str) -> tuple[str, str, str] | None:
    if not cfg.refresh_token_env:
        return None
    names = (("client_id", cfg.client_id_env), ("client_secret", cfg.client_secret_env),
             ("refresh_token", cfg.refresh_token_env))
    values = [resolve(SecretRef(env=env), key=f"hubspot.{name}", config_path=config_path) for name, env in names]
    return values[0], values[1], values[2]
