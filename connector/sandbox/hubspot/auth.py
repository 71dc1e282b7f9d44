"""Who may call the emulated portal, and how often: private-app tokens, OAuth refresh, rate limits.

* Private-app tokens never expire.  OAuth access tokens expire after ``token_lifetime_seconds`` of the
  *sandbox* clock (30 minutes in HubSpot), so a test can advance the clock to expire one mid-run; the
  answer is HubSpot's 401 ``EXPIRED_AUTHENTICATION``.
* ``POST /oauth/v1/token`` with ``grant_type=refresh_token`` issues a new access token.
* Rate limits: ``per_window`` calls per ``window_seconds`` (HubSpot: 100 or 190 per 10 s) counted on real
  time so clients really have to wait, and a daily allowance counted per sandbox-clock day.
  https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector.sandbox.core import SandboxClock, WindowLimiter
from connector.sandbox.hubspot.errors import HubSpotError


@dataclass
class TokenStore:
    clock: SandboxClock
    lifetime_seconds: float = 1800.0
    private_app_tokens: set[str] = field(default_factory=lambda: {"pat-sandbox-token"})
    clients: dict[str, str] = field(default_factory=lambda: {"sandbox-client-id": "sandbox-client-secret"})
    refresh_tokens: set[str] = field(default_factory=lambda: {"sandbox-refresh-token"})
    _access: dict[str, datetime] = field(default_factory=dict)
    refreshes: int = 0

    def check(self, header: str | None) -> None:
        """Raise HubSpot's 401 unless ``header`` carries a valid, unexpired bearer token."""
        token = (header or "").removeprefix("Bearer ").strip()
        if token in self.private_app_tokens:
            return
        expires = self._access.get(token)
        if expires is None:
            raise HubSpotError(401, "INVALID_AUTHENTICATION",
                               "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                               "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
        now = self.clock.now()
        if now >= expires:
            minutes = int((now - expires).total_seconds() // 60)
            raise HubSpotError(401, "EXPIRED_AUTHENTICATION",
                               f"The OAuth token used to make this call expired {minutes} minute(s) ago.",
                               {"expire time": [expires.isoformat()]})

    def refresh(self, form: dict[str, str]) -> dict[str, object]:
        """The token endpoint's answer for a refresh-token grant (HubSpot's error shapes otherwise)."""
        if form.get("grant_type") != "refresh_token":
            raise HubSpotError(400, "UNSUPPORTED_GRANT_TYPE", "grant_type must be refresh_token",
                               extra={"status": "UNSUPPORTED_GRANT_TYPE"})
        if self.clients.get(form.get("client_id", "")) != form.get("client_secret"):
            raise HubSpotError(400, "BAD_CLIENT_ID", "missing or invalid client_id / client_secret",
                               extra={"status": "BAD_CLIENT_ID"})
        if form.get("refresh_token") not in self.refresh_tokens:
            raise HubSpotError(400, "BAD_REFRESH_TOKEN", "missing or unknown refresh token",
                               extra={"status": "BAD_REFRESH_TOKEN"})
        token = "oauth-" + secrets.token_hex(16)
        self._access[token] = self.clock.now() + timedelta(seconds=self.lifetime_seconds)
        self.refreshes += 1
        return {"access_token": token, "refresh_token": form["refresh_token"], "token_type": "bearer",
                "expires_in": int(self.lifetime_seconds)}


class RateLimits:
    """HubSpot's two limits: per 10-second window (``SECONDLY`` policy) and per day (``DAILY``)."""

    def __init__(self, clock: SandboxClock, per_window: int | None, window_seconds: float, daily: int | None):
        self.per_window, self.window_seconds, self.daily = per_window, window_seconds, daily
        self._window = WindowLimiter(per_window, window_seconds)
        self._clock = clock
        self._day: tuple[object, int] = (None, 0)
        self._lock = threading.Lock()

    def hit(self) -> tuple[str, float | None] | None:
        """Count one call; ``(policy, retry_after)`` when it is over a limit, else ``None``."""
        with self._lock:
            today = self._clock.now().date()
            day, used = self._day
            used = used + 1 if day == today else 1
            self._day = (today, used)
            if self.daily is not None and used > self.daily:
                return "DAILY", None
        wait = self._window.hit()
        return ("SECONDLY", wait) if wait is not None else None

    def headers(self) -> dict[str, str]:
        """``X-HubSpot-RateLimit-*`` headers describing the current window and day."""
        out = {"X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.window_seconds * 1000))}
        if self.per_window:
            out["X-HubSpot-RateLimit-Max"] = str(self.per_window)
            out["X-HubSpot-RateLimit-Remaining"] = str(self._window.remaining())
        if self.daily is not None:
            out["X-HubSpot-RateLimit-Daily"] = str(self.daily)
            out["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, self.daily - self._day[1]))
        return out
