"""Webhook signature checks for Stripe, Zendesk and HubSpot: pure functions over bytes, headers and a clock.

Each returns the signature it verified (the replay guard remembers it) or raises :class:`SignatureError`
carrying the HTTP status to answer: 400 for a header that cannot be parsed, 401 for a missing, wrong or
stale signature, and a short ``code`` that /metrics counts rejections by.  Comparisons are constant-time
(``hmac.compare_digest``), and the raw body is what is verified — never a re-serialised parse of it.  No
secret or expected digest ever appears in a message.

Header values are parsed strictly, by ASCII patterns rather than ``str.isdigit()`` (which accepts ``²`` and
other non-ASCII digits) or ``float()`` (which accepts ``1_000`` and ``inf``): the server decodes header
bytes as Latin-1, so anything a client sends arrives as *some* string, and every string must end as a
clean 400/401 — never as an exception the server turns into a 500.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime


class SignatureError(Exception):
    """A request that must be refused; ``status`` is the HTTP answer, the message is safe to log."""

    def __init__(self, status: int, reason: str, code: str):
        super().__init__(reason)
        self.status, self.reason, self.code = status, reason, code


#: Unix seconds (Stripe) and milliseconds (HubSpot): ASCII digits only, and short enough to be a real time.
_SECONDS = re.compile(r"[0-9]{1,12}", re.ASCII)
_MILLIS = re.compile(r"[0-9]{1,15}", re.ASCII)
_HEX = re.compile(r"[0-9a-fA-F]{1,128}", re.ASCII)
_BASE64 = re.compile(r"[A-Za-z0-9+/]{1,128}={0,2}", re.ASCII)
#: The ISO 8601 form Zendesk sends (``2026-11-02T09:00:00Z``), with optional fraction and numeric offset.
_ISO_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})", re.ASCII
)


def _matches(pattern: re.Pattern[str], value: str) -> bool:
    return pattern.fullmatch(value) is not None


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison of two ASCII strings (``given`` was checked against an ASCII pattern)."""
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii"))


def _hmac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def _fresh(timestamp: float, now: float, tolerance: float, vendor: str) -> None:
    if abs(now - timestamp) > tolerance:
        raise SignatureError(
            401, f"{vendor}: timestamp is {now - timestamp:.0f} s off, outside ±{tolerance:.0f} s", "stale_timestamp"
        )


def verify_stripe(body: bytes, header: str | None, secret: str, *, tolerance: float, now: float) -> str:
    """``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]``, v1 = hex HMAC-SHA256 of ``"{t}.{body}"``.

    Several ``v1`` entries appear while an endpoint secret is being rolled; any one matching is enough.
    Other schemes (``v0``) are ignored.  https://docs.stripe.com/webhooks#verify-manually
    """
    if not header:
        raise SignatureError(401, "stripe: Stripe-Signature header is missing", "missing_signature")
    pairs = [part.strip().partition("=") for part in header.split(",")]
    stamps = [v for k, sep, v in pairs if sep and k == "t"]
    candidates = [v for k, sep, v in pairs if sep and k == "v1"]
    if len(stamps) != 1 or not _matches(_SECONDS, stamps[0]):
        raise SignatureError(400, "stripe: Stripe-Signature t= is not Unix seconds (expected t=…,v1=…)",
                             "malformed_timestamp")
    if not candidates or not all(_matches(_HEX, c) for c in candidates):
        raise SignatureError(400, "stripe: Stripe-Signature has no hex v1= signature (expected t=…,v1=…)",
                             "malformed_signature")
    expected = _hmac(secret, stamps[0].encode("ascii") + b"." + body).hex()
    if not any(_same(expected, c) for c in candidates):
        raise SignatureError(401, "stripe: signature does not match the payload", "signature_mismatch")
    _fresh(int(stamps[0]), now, tolerance, "stripe")
    return expected


def verify_zendesk(
    body: bytes, signature: str | None, timestamp: str | None, secret: str, *, tolerance: float, now: float
) -> str:
    """``X-Zendesk-Webhook-Signature`` = base64 HMAC-SHA256 of ``timestamp + body`` (no separator), with
    the timestamp from ``X-Zendesk-Webhook-Signature-Timestamp`` (ISO 8601, e.g. 2026-11-02T09:00:00Z).

    https://developer.zendesk.com/documentation/webhooks/verifying/
    """
    if not signature or not timestamp:
        raise SignatureError(401, "zendesk: X-Zendesk-Webhook-Signature(-Timestamp) header is missing",
                             "missing_signature")
    stamp, given = timestamp.strip(), signature.strip()
    try:
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00")) if _matches(_ISO_TIME, stamp) else None
    except ValueError:  # the shape is right but the date is not (month 13, Feb 30)
        at = None
    if at is None:
        raise SignatureError(400, "zendesk: X-Zendesk-Webhook-Signature-Timestamp is not an ISO 8601 time "
                             "with a time zone", "malformed_timestamp")
    if not _matches(_BASE64, given):
        raise SignatureError(400, "zendesk: X-Zendesk-Webhook-Signature is not base64", "malformed_signature")
    expected = base64.b64encode(_hmac(secret, stamp.encode("ascii") + body)).decode("ascii")
    if not _same(expected, given):
        raise SignatureError(401, "zendesk: signature does not match the payload", "signature_mismatch")
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
        raise SignatureError(401, "hubspot: X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp is missing",
                             "missing_signature")
    stamp, given = timestamp.strip(), signature.strip()
    if not _matches(_MILLIS, stamp):
        raise SignatureError(400, "hubspot: X-HubSpot-Request-Timestamp is not Unix milliseconds",
                             "malformed_timestamp")
    if not _matches(_BASE64, given):
        raise SignatureError(400, "hubspot: X-HubSpot-Signature-v3 is not base64", "malformed_signature")
    message = method.upper().encode("utf-8") + hubspot_uri(uri).encode("utf-8") + body + stamp.encode("ascii")
    expected = base64.b64encode(_hmac(secret, message)).decode("ascii")
    if not _same(expected, given):
        raise SignatureError(401, "hubspot: signature does not match the request", "signature_mismatch")
    _fresh(int(stamp) / 1000.0, now, min(tolerance, 300.0), "hubspot")
    return expected
