"""Client for a BuiltWith-style Domain API: technologies per domain, 16 domains per call.

Every lookup costs a credit, so the client never sends more than the API's 16 domains per request
(https://api.builtwith.com/domain-api, "Multiple Domains … (up to 16)") and never repeats a domain in a
run; caching across runs is the enrichment source's job.  The key travels as the ``KEY`` query
parameter (the API's only form); it is registered for redaction, and errors name the domains, never
the URL that carries the key.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connector.config import EnrichmentConfig
from connector.http import HttpLayer, InstrumentedSession
from connector.secrets import redact, resolve

SYSTEM = "enrichment"
MAX_NAME = 255
MAX_DOMAINS_PER_CALL = 16
PATH = "/v21/api.json"


class TechLookupError(Exception):
    """The lookup service refused a whole call (bad key, malformed request, outage)."""


@dataclass(frozen=True)
class Technology:
    name: str
    tag: str | None
    first_detected: datetime | None
    last_detected: datetime | None


@dataclass
class LookupBatch:
    """One call's answer: technologies per looked-up domain, and per-domain errors."""

    technologies: dict[str, list[Technology]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    #: Technology entries that could not be read, per domain, with the reason naming the field.
    rejected: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class TechLookupClient:
    session: InstrumentedSession
    base_url: str
    key: str

    def lookup(self, domains: Sequence[str]) -> Iterator[LookupBatch]:
        """One :class:`LookupBatch` per call of at most 16 distinct domains, in the order given."""
        unique = list(dict.fromkeys(d.strip().lower() for d in domains if d.strip()))
        for start in range(0, len(unique), MAX_DOMAINS_PER_CALL):
            yield self._call(unique[start:start + MAX_DOMAINS_PER_CALL])

    def _call(self, domains: list[str]) -> LookupBatch:
        response = self.session.get(f"{self.base_url}{PATH}", params={"KEY": self.key, "LOOKUP": ",".join(domains)})
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TechLookupError(f"enrichment: {PATH} answered {response.status_code} without JSON "
                                  f"for {len(domains)} domains ({domains[0]}…)")
        errors = body.get("Errors") or []
        general = [e for e in errors if isinstance(e, dict) and not e.get("Lookup")]
        if response.status_code >= 400 or general:
            message = "; ".join(str(e.get("Message")) for e in general) or response.reason
            hint = " — check enrichment.api_key_env / api_key_file" if response.status_code in (401, 403) else ""
            raise TechLookupError(redact(f"enrichment: {PATH} answered {response.status_code}: {message}{hint}"))
        batch = LookupBatch(errors={str(e["Lookup"]).lower(): str(e.get("Message")) for e in errors
                                    if isinstance(e, dict) and e.get("Lookup")})
        for result in body.get("Results") or []:
            lookup = str(result.get("Lookup") or "").lower()
            paths = (result.get("Result") or {}).get("Paths") or []
            techs = batch.technologies.setdefault(lookup, [])
            for raw in (t for p in paths for t in p.get("Technologies") or []):
                tech = _technology(raw)
                if isinstance(tech, str):
                    batch.rejected.setdefault(lookup, []).append(tech)
                else:
                    techs.append(tech)
        for domain in domains:
            if domain not in batch.errors:
                batch.technologies.setdefault(domain.removeprefix("www."), [])
        return batch


def _technology(raw: Any) -> Technology | str:
    """One detected technology, or why it cannot be used (naming the field)."""
    if not isinstance(raw, dict):
        return f"a technology entry is not a JSON object ({type(raw).__name__})"
    name = raw.get("Name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        return f"technology field `Name` is missing, empty or over {MAX_NAME} characters (got {str(name)[:40]!r})"
    dates: list[datetime | None] = []
    for key in ("FirstDetected", "LastDetected"):
        value = _from_ms(raw.get(key))
        if isinstance(value, str):
            return f"technology {name[:60]!r}: field `{key}` {value}"
        dates.append(value)
    tag = raw.get("Tag")
    return Technology(name.strip(), tag if isinstance(tag, str) else None, dates[0], dates[1])


def _from_ms(value: Any) -> datetime | str | None:
    """BuiltWith dates are epoch milliseconds; ``None`` when absent, the problem (a str) when unusable."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"is not epoch milliseconds (got {str(value)[:40]!r})"
    try:
        moment = datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, ValueError, OSError):
        return f"is out of range ({value!r:.40})"
    return moment


def build_client(cfg: EnrichmentConfig, http: HttpLayer) -> TechLookupClient:
    key = resolve(cfg.secret_ref("api_key"), key="enrichment.api_key")
    session = http.session(SYSTEM, verify=str(cfg.ca_bundle) if cfg.ca_bundle else True,
                           timeout=cfg.timeout_seconds)
    return TechLookupClient(session, cfg.base_url, key)
