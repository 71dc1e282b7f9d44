"""Identity resolution: which CRM account each source record belongs to — or an honest "don't know".

Rules (the whole policy, in one place):

* Keys are tried in the configured precedence order (default ``crm_id`` → ``external_id`` → ``domain`` →
  ``email_domain``).  The first key that the record carries *and* that finds at least one account decides.
* Exactly one account → matched.  More than one → **ambiguous**: reported, never guessed (two accounts
  sharing a domain is common after M&A; picking one would put one company's tickets on another's score).
* No key finds anything → **unmatched**, reported with the keys tried.
* Domains are normalised (scheme, ``www.``, path, port, case, trailing dot); free-mail domains never match
  by email domain.
* Overrides (``mappings/identity_overrides.toml``, :mod:`connector.identity_overrides`) come first: a
  ``link`` matches its record to its account whatever the keys say (key ``override``; unmatched if that
  account is gone from the CRM), a ``never`` pair removes that account from the record's candidates.
* Several records of one source can match one account (two Zendesk orgs for one company): their signals
  are merged — counts add up, risks take the worst value — by :func:`merge_signals`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.config import IdentityConfig
from connector.identity_overrides import Overrides
from connector.records import Account, Signal, SignalValue

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")

#: Signals that add up across several source records of one account; all other numbers take the max
#: (the riskier reading: longest resolution time, most days overdue).
ADDITIVE = frozenset(
    {
        "tickets_open",
        "tickets_unresolved_over_n_days",
        "tickets_urgent_open",
        "tickets_escalated_90d",
        "tickets_created_90d",
        "help_center_views_30d",
        "payments_failed_90d",
        "mrr",
        "discount_annual",
        "active_users",
        "licensed_seats",
        "meaningful_events_30d",
    }
)
#: Worst first: when one account has several subscriptions in different states, the worst one speaks.
STATUS_RANK = ["unpaid", "past_due", "incomplete_expired", "incomplete", "paused", "canceled", "trialing", "active"]


def normalise_domain(value: str | None) -> str | None:
    """``HTTPS://www.Acme.com:443/about`` → ``acme.com``; e-mail addresses give their domain."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip().lower()
    if "@" in text and "/" not in text:
        text = text.rsplit("@", 1)[1]
    text = _SCHEME.sub("", text).split("/", 1)[0].split("?", 1)[0].split(":", 1)[0].rstrip(".")
    text = text.removeprefix("www.")
    if "." not in text or len(text) > 253 or not re.fullmatch(r"[a-z0-9.\-\u00a1-\uffff]+", text):
        return None
    return text


@dataclass(frozen=True)
class Match:
    source: str
    entity: str
    entity_id: str
    account_id: str | None
    status: str  # matched | ambiguous | unmatched
    key: str | None = None
    candidates: tuple[str, ...] = ()


@dataclass
class MatchReport:
    """Per source: how many records matched, and the top unmatched/ambiguous ones for ``connector check``."""

    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    examples: dict[str, list[Match]] = field(default_factory=lambda: defaultdict(list))

    def add(self, match: Match) -> None:
        self.counts[match.source][match.status] += 1
        if match.status != "matched" and len(self.examples[match.source]) < 20:
            self.examples[match.source].append(match)

    def rates(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for source, c in sorted(self.counts.items()):
            total = sum(c.values())
            out[source] = {
                "total": total,
                "matched": c["matched"],
                "ambiguous": c["ambiguous"],
                "unmatched": c["unmatched"],
                "match_rate": round(c["matched"] / total, 4) if total else None,
            }
        return out


class IdentityResolver:
    """Indexes the account list once, then resolves any number of records against it."""

    def __init__(self, accounts: Iterable[Account], config: IdentityConfig, overrides: Overrides | None = None):
        self._index(((a.account_id, a.domain, a.external_id) for a in accounts), config, overrides)

    @classmethod
    def from_keys(cls, keys: Iterable[tuple[str, str | None, str | None]], config: IdentityConfig,
                  overrides: Overrides | None = None) -> IdentityResolver:
        """The resolver over ``(account_id, domain, external_id)`` rows: all it reads of an account, so the
        sync indexes a light query instead of building every ``Account``."""
        resolver = cls.__new__(cls)
        resolver._index(keys, config, overrides)
        return resolver

    def _index(self, keys: Iterable[tuple[str, str | None, str | None]], config: IdentityConfig,
               overrides: Overrides | None) -> None:
        self.config = config
        self.overrides = overrides or Overrides()
        self._freemail = {d.lower() for d in config.ignore_email_domains}
        # One entry per key holding the account id itself, or a tuple once a key is shared (ambiguous):
        # a set per key was four small sets per account, ~90 MB of index at 100k accounts.
        self._account_ids: set[str] = set()
        self._external: dict[str, str | tuple[str, ...]] = {}
        self._domain: dict[str, str | tuple[str, ...]] = {}  # serves "domain" and "email_domain" alike
        for account_id, raw_domain, external_id in keys:
            self._account_ids.add(account_id)
            if external_id:
                _add(self._external, external_id.strip(), account_id)
            domain = normalise_domain(raw_domain)
            if domain and domain not in self._freemail:
                _add(self._domain, domain, account_id)

    def _found(self, kind: str, value: str) -> tuple[str, ...]:
        if kind == "crm_id":
            return (value,) if value in self._account_ids else ()
        held = (self._external if kind == "external_id" else self._domain).get(value)
        return () if held is None else (held,) if isinstance(held, str) else held

    def resolve(self, source: str, entity: str, entity_id: str, keys: Mapping[str, str]) -> Match:
        ref = (source, entity, entity_id)
        linked = self.overrides.link.get(ref) if self.overrides.link else None
        if linked is not None:
            status = "matched" if linked in self._account_ids else "unmatched"
            return Match(source, entity, entity_id, linked if status == "matched" else None, status, "override")
        never = self.overrides.never.get(ref, frozenset()) if self.overrides.never else frozenset()
        tried: list[str] = []
        for kind in self.config.precedence:
            raw = keys.get(kind)
            if not raw:
                continue
            value = normalise_domain(raw) if kind in ("domain", "email_domain") else str(raw).strip()
            if not value or (kind == "email_domain" and value in self._freemail):
                continue
            tried.append(kind)
            found = self._found(kind, value)
            if never:
                found = tuple(a for a in found if a not in never)
            if not found:
                continue
            if len(found) == 1:
                return Match(source, entity, entity_id, found[0], "matched", kind)
            return Match(source, entity, entity_id, None, "ambiguous", kind, tuple(sorted(found)))
        return Match(source, entity, entity_id, None, "unmatched", ",".join(tried) or None)


def resolution_fingerprint(keys: Iterable[tuple[str, str | None, str | None]], config: IdentityConfig,
                           overrides: Overrides) -> str:
    """A digest of everything a match depends on besides the record's own keys: every account's id,
    domain and external id, the precedence and free-mail list, and the overrides.

    When it equals the digest of the last resolution, a record whose keys did not change resolves to
    what it resolved to before, so only new and changed records need resolving.
    """
    digest = hashlib.sha256()
    settings = {"precedence": list(config.precedence),
                "freemail": sorted(d.lower() for d in config.ignore_email_domains),
                "link": sorted([list(ref), account] for ref, account in overrides.link.items()),
                "never": sorted([list(ref), sorted(accounts)] for ref, accounts in overrides.never.items())}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for account_id, domain, external_id in keys:
        digest.update(f"\x1e{account_id}\x1f{domain or ''}\x1f{external_id or ''}".encode())
    return digest.hexdigest()


def _add(index: dict[str, str | tuple[str, ...]], key: str, account_id: str) -> None:
    held = index.get(key)
    if held is None:
        index[key] = account_id
    elif isinstance(held, str):
        if held != account_id:
            index[key] = (held, account_id)
    elif account_id not in held:
        index[key] = (*held, account_id)


def merge_signals(
    account_id: str, source: str, readings: Iterable[tuple[Mapping[str, SignalValue], datetime]]
) -> list[Signal]:
    """One account's signals from several records of one source, merged by :data:`ADDITIVE` rules."""
    merged: dict[str, SignalValue] = {}
    as_of: dict[str, datetime] = {}
    for signals, when in readings:
        for name, value in signals.items():
            if value is None:
                continue
            if name not in merged:
                merged[name], as_of[name] = value, when
                continue
            merged[name] = _combine(name, merged[name], value)
            as_of[name] = max(as_of[name], when)
    return [Signal(account_id, name, value, as_of[name], source) for name, value in merged.items()]


def _combine(name: str, old: SignalValue, new: SignalValue) -> SignalValue:
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return float(old) + float(new) if name in ADDITIVE else max(float(old), float(new))
    if name == "subscription_status" and isinstance(old, str) and isinstance(new, str):
        rank = {s: i for i, s in enumerate(STATUS_RANK)}
        return old if rank.get(old, 99) <= rank.get(new, 99) else new
    if isinstance(old, str) and isinstance(new, str):
        parts = dict.fromkeys([*old.split(";"), *new.split(";")])
        return ";".join(p for p in parts if p)
    return new
