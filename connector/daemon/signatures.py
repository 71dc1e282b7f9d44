"""Webhook signature checks for Stripe, Zendesk and HubSpot: pure functions over bytes, headers and a clock.

Each returns the signature it verified (the replay guard remembers it) or raises :class:`SignatureError`
carrying the HTTP status to answer: 400 for a header that cannot be parsed, 401 for a missing, wrong or
stale signature.  Comparisons are constant-time (``hmac.compare_digest``), and the raw body is what is
verified — never a re-serialised parse of it.  No secret or expected digest ever appears in a message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime


class SignatureError(Exception):
    """A request that must be refused; ``status`` is the HTTP answer, the message is safe to log."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def _hmac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def _fresh(timestamp: float, now: float, tolerance: float, vendor: str) -> None:
    if abs(now - timestamp) > tolerance:
        raise SignatureError(401, f"{vendor}: timestamp is {now - timestamp:.0f} s off, outside ±{tolerance:.0f} s")


def verify_stripe(body: bytes, header: str | None, secret: str, *, tolerance: float, now: float) -> str:
    """``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]``, v1 = hex HMAC-SHA256 of ``"{t}.{body}"``.

    Several ``v1`` entries appear while an endpoint secret is being rolled; any one matching is enough.
    Other schemes (``v0``) are ignored.  https://docs.stripe.com/webhooks#verify-manually
    """
    if not header:
        raise SignatureError(401, "stripe: Stripe-Signature header is missing")
    pairs = [part.strip().partition("=") for part in header.split(",")]
    stamps = [v for k, sep, v in pairs if sep and k == "t"]
    candidates = [v for k, sep, v in pairs if sep and k == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not candidates:
        raise SignatureError(400, "stripe: Stripe-Signature header is malformed (expected t=…,v1=…)")
    expected = _hmac(secret, stamps[0].encode("ascii") + b"." + body).hex()
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError(401, "stripe: signature does not match the payload")
    _fresh(float(stamps[0]), now, tolerance, "stripe")
    return expected


def verify_zendesk(
    body: bytes, signature: str | None, timestamp: str | None, secret: str, *, tolerance: float, now: float
) -> str:
    """``X-Zendesk-Webhook-Signature`` = base64 HMAC-SHA256 of ``timestamp + body`` (no separator), with
    the timestamp from ``X-Zendesk-Webhook-Signature-Timestamp`` (ISO 8601, e.g. 2026-11-02T09:00:00Z).

    https://developer.zendesk.com/documentation/webhooks/verifying/
    """
    if not signature or not timestamp:
        raise SignatureError(401, "zendesk: X-Zendesk-Webhook-Signature(-Timestamp) header is missing")
    try:
        at = datetime.fromisoformat(timestamp.strip())
    except ValueError:
        raise SignatureError(400, "zendesk: X-Zendesk-Webhook-Signature-Timestamp is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise SignatureError(400, "zendesk: X-Zendesk-Webhook-Signature-Timestamp has no time zone")
    expected = base64.b64encode(_hmac(secret, timestamp.encode("utf-8") + body)).decode("ascii")
    if not hmac.compare_digest(expected, signature.strip()):
        raise SignatureError(401, "zendesk: signature does not match the payload")
    _fresh(at.timestamp(), now, tolerance, "zendesk")
    return expected


#: The characters HubSpot decodes in the URI before signing (its v3 validation guide's table).
_HUBSPOT_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def hubspot_uri(uri: str) -> str:
    for encoded, plain in _HUBSPOT_DECODE.items():
        uri = uri.replace(encoded, plain).replace(encoded.lower(), plain)
    return uri


def verify_hubspot(
    method: str,
    uri: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    secret: str,
    *,
    tolerance: float,
    now: float,
) -> str:
    """``X-HubSpot-Signature-v3`` = base64 HMAC-SHA256 (key: the app's client secret) of
    ``method + uri + body + timestamp``; ``X-HubSpot-Request-Timestamp`` is Unix milliseconds and HubSpot
    says to reject requests older than 5 minutes.  ``uri`` is the full URL HubSpot called (scheme, host,
    path, query).  https://developers.hubspot.com/docs/api/webhooks/validating-requests
    """
    if not signature or not timestamp:
        raise SignatureError(401, "hubspot: X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp is missing")
    if not timestamp.strip().isdigit():
        raise SignatureError(400, "hubspot: X-HubSpot-Request-Timestamp is not Unix milliseconds")
    message = method.upper().encode("utf-8") + hubspot_uri(uri).encode("utf-8") + body + timestamp.strip().encode()
    expected = base64.b64encode(_hmac(secret, message)).decode("ascii")
    if not hmac.compare_digest(expected, signature.strip()):
        raise SignatureError(401, "hubspot: signature does not match the request")
    _fresh(int(timestamp) / 1000.0, now, min(tolerance, 300.0), "hubspot")
    return expected
