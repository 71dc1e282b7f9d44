"""API calls a sync used, against the fewest calls the APIs allow for the same records.

The sandbox ledgers record every request each emulator answered with how many records it carried.  For
endpoints whose batch or page size is fixed by the vendor, the minimum for a run is
``ceil(records / size)`` per endpoint (and at least one call per read stream: asking is the only way to
learn nothing changed).  Everything else — OAuth token calls, describes and limits, bulk-job status polls,
SOQL and search pages whose row counts the sandbox does not record — is counted as used but has no
honest minimum, so it is reported apart as "other" rather than folded into a flattering ratio.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from connector.sandbox.core import LedgerEntry


@dataclass(frozen=True)
class Rule:
    """An endpoint with a fixed maximum of records per call."""

    methods: frozenset[str]
    path: re.Pattern[str]
    per_call: int
    write: bool


def _rule(methods: str, path: str, per_call: int, write: bool) -> Rule:
    return Rule(frozenset(methods.split("|")), re.compile(path), per_call, write)


#: Per system, the endpoints with a vendor-fixed size (limits: /work/shared/API_NOTES.md and the URLs).
RULES: dict[str, list[Rule]] = {
    # https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections.htm
    # (200 records per call; Composite could nest 5 collections, which the connector does not use).
    "salesforce": [_rule("POST|PATCH", r"/composite/sobjects(/|$)", 200, True)],
    # https://developers.hubspot.com/docs/api/crm/understanding-the-crm#batch-limits
    "hubspot": [_rule("POST", r"/crm/v3/objects/\w+/batch/(create|update|upsert)$", 100, True),
                _rule("POST", r"/crm/v3/objects/\w+/batch/read$", 100, False)],
    # https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#update-many-organizations
    # https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
    "zendesk": [_rule("PUT|POST", r"/api/v2/(organizations|tickets)/(update|create)_many\.json$", 100, True),
                _rule("GET", r"/api/v2/incremental/(tickets/cursor|organizations)\.json$", 1000, False)],
    # https://docs.stripe.com/api/pagination (limit ≤ 100)
    "stripe": [_rule("GET", r"^/v1/(customers|subscriptions|invoices|events|payment_methods)$", 100, False)],
    # BuiltWith Domain API: up to 16 domains per lookup.
    "techlookup": [_rule("GET", r"^/v21/api\.json$", 16, False)],
}


@dataclass
class SystemCalls:
    """One system's calls in one or more runs."""

    used: int = 0
    covered_used: int = 0
    covered_minimum: int = 0
    write_calls: int = 0
    write_records: int = 0
    other: int = 0

    def add(self, other: SystemCalls) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class CallTally:
    systems: dict[str, SystemCalls] = field(default_factory=dict)

    @property
    def used(self) -> int:
        return sum(s.used for s in self.systems.values())

    @property
    def write_calls(self) -> int:
        return sum(s.write_calls for s in self.systems.values())

    @property
    def write_records(self) -> int:
        return sum(s.write_records for s in self.systems.values())

    @property
    def covered_used(self) -> int:
        return sum(s.covered_used for s in self.systems.values())

    @property
    def covered_minimum(self) -> int:
        return sum(s.covered_minimum for s in self.systems.values())

    def add(self, other: CallTally) -> None:
        for name, calls in other.systems.items():
            self.systems.setdefault(name, SystemCalls()).add(calls)


def tally(ledgers: Mapping[str, Iterable[LedgerEntry]]) -> CallTally:
    """Count one run's ledger entries per system (``ledgers``: system → entries)."""
    result = CallTally()
    for system, entries in ledgers.items():
        calls = result.systems.setdefault(system, SystemCalls())
        groups: dict[tuple[str, str], tuple[Rule, int]] = {}
        for entry in entries:
            calls.used += 1
            path = entry.path.split("?", 1)[0]
            rule = next((r for r in RULES.get(system, []) if entry.method in r.methods and r.path.search(path)), None)
            if rule is None:
                calls.other += 1
                continue
            calls.covered_used += 1
            records = entry.records or 0
            if rule.write:
                calls.write_calls += 1
                calls.write_records += records
            _, seen = groups.get((entry.method, path), (rule, 0))
            groups[(entry.method, path)] = (rule, seen + records)
        for rule, records in groups.values():
            needed = math.ceil(records / rule.per_call)
            calls.covered_minimum += needed if rule.write else max(1, needed)
    return result
