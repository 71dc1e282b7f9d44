"""Enrichment source: competitor technology and the removal of our own widget, per account domain.

Lookups cost credits, so this source spends as few as it can:

* the domains come from the primary CRM's account list already in the store (the registry runs the CRM
  source first), normalised and deduplicated;
* a domain looked up within ``cache_ttl_days`` is not looked up again — the replica is the cache, keyed
  by domain, holding what was detected and when it was looked up;
* at most ``max_lookups_per_run`` domains per run, never-seen domains first, then the most stale; the
  rest wait for the next run, so a large first import spreads its cost over several days;
* 16 domains per call (the API's maximum), each answered batch stored before the next call, so a crash
  never pays twice.

A technology counts as live when it was last detected within ``live_within_days`` (crawls revisit a
site every few weeks, so "not seen yesterday" does not mean removed).  Our widget is *removed* when it
was seen before and its last detection is older than that, or when the index no longer lists it at all
although our previous lookup did.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from connector.clients.techlookup import LookupBatch, TechLookupClient, Technology, build_client
from connector.config import Config, EnrichmentConfig
from connector.records import Account, IdentityKeys, Observation, Quarantined, SignalValue
from connector.sources.base import SourceContext, SourceItem
from connector.sources.windows import window_start
from connector.store import Replica

NAME = "enrichment"
LOOKUPS, DAY = "lookups", "signals_day"
FUTURE_TOLERANCE = timedelta(days=1)


class EnrichmentSource:
    """``pull`` looks up due domains (cached, capped), then yields one Observation per changed domain."""

    name = NAME

    def __init__(self, config: Config, client: TechLookupClient | None = None):
        if config.enrichment is None:
            raise ValueError("enrichment source: the config has no [enrichment] section")
        self.cfg: EnrichmentConfig = config.enrichment
        self._client = client

    def pull(self, ctx: SourceContext) -> Iterator[SourceItem]:
        # Every account's domain, but only what is needed of each: at 100k accounts a quiet cycle's pull is
        # this loop, so no ORM objects and no cached payloads (only the domains due are read whole).
        found: set[str] = set()
        for account_id, raw, _ in ctx.store.account_keys():
            if not raw or not raw.strip():
                continue
            if (domain := normalise_domain(raw)) is None:
                yield Quarantined(NAME, "account", account_id,
                                  f"account domain {raw[:80]!r} is not a host name; not looked up")
            else:
                found.add(domain)
        domains = sorted(found)
        looked_up = ctx.store.replica_times(NAME, LOOKUPS)
        due = due_domains(domains, looked_up, ctx.now, self.cfg.cache_ttl_days, self.cfg.max_lookups_per_run)
        if due:
            cached = {r.record_id: r for r in ctx.store.replica(NAME, LOOKUPS, due)}
            client = self._client or build_client(self.cfg, ctx.http)
            for batch in client.lookup(due):
                yield from _future_dated(batch, ctx.now)
                rows = [lookup_row(d, techs, cached.get(d), ctx.now, self.cfg.own_technology)
                        for d, techs in batch.technologies.items()]
                ctx.store.upsert_replica(NAME, LOOKUPS, rows)
                for domain, message in batch.errors.items():
                    yield Quarantined(NAME, "domain", domain, f"technology lookup failed for {domain}: {message}")
                for domain, reasons in batch.rejected.items():
                    for reason in reasons:
                        yield Quarantined(NAME, "technology", domain, f"lookup of {domain}: {reason}")
        yield from self._observations(ctx, set(domains))

    def _observations(self, ctx: SourceContext, domains: set[str]) -> Iterator[Observation]:
        today = ctx.now.date().isoformat()
        everything = ctx.full or ctx.store.get_cursor(NAME, DAY) != today
        groups = None if everything else ctx.store.dirty_groups(NAME, LOOKUPS)
        if groups is not None and not groups:
            return
        for row in ctx.store.replica(NAME, LOOKUPS, groups):
            if row.record_id in domains:
                signals = technology_signals(row.payload, ctx.now, self.cfg)
                yield Observation(NAME, "domain", row.record_id, IdentityKeys(domain=row.record_id), signals,
                                  datetime.fromisoformat(row.payload["looked_up_at"]))
        ctx.clear_dirty(NAME, LOOKUPS, groups)
        ctx.set_cursor(NAME, DAY, today)


def _future_dated(batch: LookupBatch, now: datetime) -> Iterator[Quarantined]:
    """Quarantine (and drop from ``batch``) detections dated after ``now``: a crawl cannot see the future,
    and such an entry would count as live, or hide a removal, for years."""
    latest = now + FUTURE_TOLERANCE
    for domain, techs in batch.technologies.items():
        for tech in [t for t in techs if max(t.first_detected or now, t.last_detected or now) > latest]:
            techs.remove(tech)
            when = max(d for d in (tech.first_detected, tech.last_detected) if d is not None)
            yield Quarantined(NAME, "technology", domain, f"lookup of {domain}: technology {tech.name[:60]!r}: "
                              f"detection date {when.date().isoformat()} is in the future")


def normalise_domain(value: str | None) -> str | None:
    """``https://www.Acme.com/`` → ``acme.com``; ``None`` for anything that is not a domain."""
    if not value or not value.strip():
        return None
    text = value.strip().lower()
    host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    host = host.removeprefix("www.").rstrip(".")
    # Letters, digits, dots and hyphens only: a quote or a backslash is no host name, and would otherwise
    # travel on into the lookup's query string.
    return host if "." in host and all(c.isalnum() or c in ".-" for c in host) else None


def account_domains(accounts: Iterable[Account]) -> list[str]:
    return sorted({d for a in accounts if (d := normalise_domain(a.domain))})


def due_domains(domains: Iterable[str], looked_up: Mapping[str, datetime], now: datetime, ttl_days: int,
                cap: int) -> list[str]:
    """Domains to look up this run: never looked up first, then the stalest, skipping fresh ones."""
    fresh_after = now - timedelta(days=ttl_days)
    never = [d for d in domains if d not in looked_up]
    stale = sorted((looked_up[d], d) for d in domains if d in looked_up and looked_up[d] <= fresh_after)
    return [*never, *(d for _, d in stale)][:cap]


def lookup_row(domain: str, techs: list[Technology], previous: Replica | None, now: datetime,
               own: str | None) -> Replica:
    """The cache entry for ``domain``: what was detected, and our widget's history across lookups."""
    before = previous.payload if previous else {}
    own_now = [t for t in techs if own and t.name.lower() == own.lower()]
    seen = [t.last_detected for t in own_now if t.last_detected]
    if before.get("own_last_seen"):
        seen.append(datetime.fromisoformat(before["own_last_seen"]))
    payload: dict[str, Any] = {
        "domain": domain,
        "looked_up_at": now.isoformat(),
        "technologies": [{"name": t.name, "tag": t.tag,
                          "first": t.first_detected.isoformat() if t.first_detected else None,
                          "last": t.last_detected.isoformat() if t.last_detected else None} for t in techs],
        "own_listed": bool(own_now),
        "own_last_seen": max(seen).isoformat() if seen else None,
        "own_disappeared": not own_now and bool(before.get("own_listed") or before.get("own_disappeared")),
    }
    return Replica(domain, domain, payload, now)


def technology_signals(payload: Mapping[str, Any], now: datetime, cfg: EnrichmentConfig) -> dict[str, SignalValue]:
    """competitor_detected / competitor_names / own_widget_removed from one cached lookup."""
    live_since = window_start(now, cfg.live_within_days)  # whole days: see connector.sources.windows
    wanted = {c.lower() for c in cfg.competitors}
    found = sorted({t["name"] for t in payload.get("technologies") or []
                    if t["name"].lower() in wanted and t.get("last")
                    and datetime.fromisoformat(t["last"]) >= live_since})
    removed: SignalValue = None
    if cfg.own_technology:
        last = payload.get("own_last_seen")
        gone = isinstance(last, str) and datetime.fromisoformat(last) < live_since
        removed = 1.0 if gone or payload.get("own_disappeared") else 0.0
    return {"competitor_detected": 1.0 if found else 0.0, "competitor_names": ", ".join(found) or None,
            "own_widget_removed": removed}
