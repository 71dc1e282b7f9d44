"""Bad HubSpot companies are quarantined with a reason; hostile names are scored and written back intact.

A HubSpot-primary cluster (companies are the accounts) gets malformed companies stored verbatim in the
emulator's object table, so the hubspot-api-client reads them over HTTP exactly as served.  One sync runs;
each planted company is its own case.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from connector.runtime import open_store, run_sync
from connector.sandbox.hubspot.objects import HsObject
from connector.sandbox.hubspot.schema import iso

from .rel_kit import NOW, Rig, start_rig

ACCOUNTS = 40
HOSTILE_NAMES = {"19000001": "<script>alert('x')</script> & Co",
                 "19000002": "O'Reilly \\ Sons; DROP TABLE companies--",
                 "19000003": "Zürich Ünïcødé 株式会社 🚀 \u202eevil"}


@dataclass(frozen=True)
class Case:
    name: str
    entity_id: str
    reason: str  # regex the quarantine reason must match
    plant: Callable[[Rig], None]


#: Values the planting helpers share within this module's one rig (the template company, the first id).
SCRATCH: dict[str, Any] = {}


def put_company(rig: Rig, ident: str, key: str | None = None, modified: str | None = None,
                **props: Any) -> None:
    """Store a copy of a generated company under ``key`` (default ``ident``), its properties changed as given
    (``None`` removes one), without the portal's validation."""
    backend = rig.cluster.emulators["hubspot"].backend
    with backend._lock:
        table = backend.table("companies")
        template = SCRATCH.setdefault("hs_template", copy.deepcopy(table[min(table)]))
        when = NOW - timedelta(days=2)
        properties = {**copy.deepcopy(template.properties), "hs_object_id": ident,
                      "hs_lastmodifieddate": modified or iso(when)}
        for name, value in props.items():
            if value is None:
                properties.pop(name, None)
            else:
                properties[name] = value
        table[key or ident] = HsObject(ident, properties, when, when)


def company(case: str, ident: str, reason: str, /, **props: Any) -> Case:
    return Case(case, ident, reason, lambda rig: put_company(rig, ident, **props))


def duplicate_in_page(rig: Rig) -> None:
    """A second stored entry presenting an existing company's id: the list page carries that id twice."""
    put_company(rig, SCRATCH["first"], key="18999999", modified=iso(NOW - timedelta(days=400)))


CASES = [
    company("hs-name-1mb", "19000011", "`name` has 1,048,576 characters", name="N" * 1_048_576),
    company("hs-no-properties", "19000012", "no name", name=None, domain=None),
    company("hs-name-blank", "19000013", "no name", name="   "),
    company("hs-modified-far-future", "19000014", "`hs_lastmodifieddate` is 2999.*future",
            modified="2999-01-01T00:00:00Z"),
    company("hs-modified-garbage", "19000015", "`hs_lastmodifieddate` 'soon'", modified="soon"),
    company("hs-modified-no-timezone", "19000016", "`hs_lastmodifieddate`.*time zone",
            modified="2026-10-30T10:00:00"),
    company("hs-nps-text", "19000017", "`nps_score`.*number", nps_score="9/10"),
    company("hs-arr-text", "19000018", "`arr`.*number", arr="lots"),
    company("hs-contract-not-date", "19000019", "`contract_start_date`.*date", contract_start_date="last spring"),
    Case("hs-duplicate-id-in-page", "<first>", "appears twice in one page", duplicate_in_page),
]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    rig = start_rig(tmp_path_factory.mktemp("bad-hubspot"), accounts=ACCOUNTS, primary_crm="hubspot")
    try:
        generated = rig.cluster.emulators["hubspot"].backend.table("companies")
        first = SCRATCH["first"] = min(generated, key=int)
        healthy = len(generated) + len(HOSTILE_NAMES)
        for case in CASES:
            case.plant(rig)
        for ident, name in HOSTILE_NAMES.items():
            put_company(rig, ident, name=name, domain=f"{ident}.example")
        result = run_sync(rig.config, now=NOW).as_json()
        store = open_store(rig.config)
        try:
            quarantined = [(q.source, str(q.entity_id or ""), q.reason) for q in store.quarantined(limit=10_000)]
        finally:
            store.close()
        backend = rig.cluster.emulators["hubspot"].backend
        with backend._lock:  # by storage key: the planted duplicate presents the first company's id too
            companies = {key: dict(o.properties) for key, o in backend.table("companies").items()}
        yield {"result": result, "quarantined": quarantined, "companies": companies, "first": first,
               "healthy": healthy}
    finally:
        rig.stop()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_company_is_quarantined_with_reason(planted: dict[str, Any], case: Case) -> None:
    ident = planted["first"] if case.entity_id == "<first>" else case.entity_id
    reasons = [r for source, i, r in planted["quarantined"] if source == "hubspot" and i == ident]
    assert reasons, f"{case.name}: not quarantined; quarantine holds {planted['quarantined'][:60]}"
    assert any(re.search(case.reason, r) for r in reasons), reasons


def test_sync_goes_on_past_bad_companies(planted: dict[str, Any]) -> None:
    result = planted["result"]
    assert result["status"] == "ok", (result["source_errors"], result["sink_errors"])
    assert result["scored"] == planted["healthy"]
    assert not [f for s in result["sinks"].values() for f in s["failures"]]


def test_duplicate_keeps_the_newest_copy(planted: dict[str, Any]) -> None:
    assert planted["companies"][planted["first"]]["cs_success_vector"] not in (None, "")


@pytest.mark.parametrize("ident", sorted(HOSTILE_NAMES))
def test_hostile_company_names_are_scored_and_left_intact(planted: dict[str, Any], ident: str) -> None:
    company = planted["companies"][ident]
    assert company["name"] == HOSTILE_NAMES[ident]
    assert company["cs_success_vector"] not in (None, "")
