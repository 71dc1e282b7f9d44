"""Bad source records are quarantined with a reason and the sync goes on; hostile names pass through intact.

One cluster gets every bad record planted at once (in the emulators' backends and the usage CSV), one sync
runs, and each planted record is then its own test case: quarantined under its id with a reason naming the
problem.  The same run must score every healthy account and write names with markup, quotes, backslashes
and non-Latin text back unchanged.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connector.runtime import open_store, run_sync

from .rel_kit import NOW, Rig, start_rig

ACCOUNTS = 40
HOSTILE_NAMES = {"001Dn00000HOST1IAA": "<script>alert('x')</script> & Co",
                 "001Dn00000HOST2IAA": "O'Reilly \\ Sons; DROP TABLE Account--",
                 "001Dn00000HOST3IAA": "Zürich Ünïcødé 株式会社 🚀 \u202eevil"}


@dataclass(frozen=True)
class Case:
    """One planted bad record: where it goes, the id it is quarantined under, what the reason must say."""

    name: str
    source: str
    entity_id: str
    reason: str  # regex the quarantine reason must match
    plant: Callable[[Rig], None]


def sf_account(rig: Rig, ident: str, **changes: Any) -> None:
    backend = rig.cluster.emulators["salesforce"].backend
    with backend.lock:
        template = copy.deepcopy(next(iter(backend.records["Account"].values())))
        template.update(Id=ident, **changes)
        backend.records["Account"][ident] = template


def zd_org(rig: Rig, ident: Any, **changes: Any) -> None:
    backend = rig.cluster.emulators["zendesk"].backend
    template = copy.deepcopy(next(iter(backend.orgs.values())))
    template.update(id=ident, **changes)
    backend.orgs[900_000 + len(backend.orgs)] = template


def zd_ticket(rig: Rig, key: int, **changes: Any) -> None:
    backend = rig.cluster.emulators["zendesk"].backend
    template = copy.deepcopy(next(iter(backend.tickets.values())))
    template.update(**changes)
    backend.tickets[key] = template


def usage_row(rig: Rig, line: bytes) -> None:
    with rig.cluster.usage_path.open("ab") as fh:
        fh.write(line + b"\n")


def sf(name: str, ident: str, reason: str, **changes: Any) -> Case:
    return Case(name, "salesforce", ident, reason, lambda rig: sf_account(rig, ident, **changes))


def usage(name: str, key: str, reason: str, line: bytes) -> Case:
    return Case(name, "usage", key, reason, lambda rig: usage_row(rig, line))


CASES = [
    sf("sf-name-null", "001Dn00000BAD01IAA", "Name", Name=None),
    sf("sf-name-empty", "001Dn00000BAD02IAA", "Name", Name="   "),
    sf("sf-name-huge", "001Dn00000BAD03IAA", "Name", Name="N" * 300),
    sf("sf-name-wrong-type", "001Dn00000BAD04IAA", "Name", Name=12345),
    sf("sf-arr-text", "001Dn00000BAD05IAA", "ARR__c.*number", ARR__c="lots"),
    sf("sf-arr-bool", "001Dn00000BAD06IAA", "ARR__c.*number", ARR__c=True),
    sf("sf-nps-text", "001Dn00000BAD07IAA", "NPS__c.*number", NPS__c="9/10"),
    sf("sf-advocate-text", "001Dn00000BAD08IAA", "Advocate__c.*checkbox", Advocate__c="yes"),
    sf("sf-contract-not-date", "001Dn00000BAD09IAA", "Contract_Start__c.*date", Contract_Start__c="last spring"),
    sf("sf-renewal-bad-date", "001Dn00000BAD10IAA", "Renewal_Date__c.*date", Renewal_Date__c="2026-13-45"),
    sf("sf-modstamp-missing", "001Dn00000BAD11IAA", "SystemModstamp", SystemModstamp=None),
    sf("sf-modstamp-garbage", "001Dn00000BAD12IAA", "SystemModstamp", SystemModstamp="yesterday"),
    sf("sf-churn-reason-huge", "001Dn00000BAD13IAA", "Churn_Reason__c.*characters", Churn_Reason__c="x" * 40_000),
    sf("sf-upsells-list", "001Dn00000BAD14IAA", "Upsells_Taken__c.*number", Upsells_Taken__c="[1, 2]"),
    Case("zd-org-id-text", "zendesk", "abc", "valid id", lambda rig: zd_org(rig, "abc")),
    Case("zd-org-id-null", "zendesk", "None", "valid id", lambda rig: zd_org(rig, None)),
    Case("zd-org-updated-naive", "zendesk", "900000123", "updated_at.*timestamp",
         lambda rig: zd_org(rig, 900_000_123, updated_at="2026-11-01T10:00:00")),
    Case("zd-org-updated-garbage", "zendesk", "900000124", "updated_at.*timestamp",
         lambda rig: zd_org(rig, 900_000_124, updated_at="soon")),
    Case("zd-org-name-huge", "zendesk", "900000125", "characters|large|long|size",
         lambda rig: zd_org(rig, 900_000_125, name="O" * 2_000_000)),
    Case("zd-ticket-id-text", "zendesk", "T-1", "valid id", lambda rig: zd_ticket(rig, 990_001, id="T-1")),
    Case("zd-ticket-created-garbage", "zendesk", "990002", "created_at",
         lambda rig: zd_ticket(rig, 990_002, id=990_002, created_at="never")),
    Case("zd-ticket-updated-naive", "zendesk", "990003", "updated_at",
         lambda rig: zd_ticket(rig, 990_003, id=990_003, updated_at="2026-11-01 10:00:00")),
    Case("zd-ticket-subject-huge", "zendesk", "990004", "characters|large|long|size",
         lambda rig: zd_ticket(rig, 990_004, id=990_004, subject="S" * 2_000_000)),
    usage("usage-key-empty", "", "account key", b",2026-11-02T09:00:00+00:00,4,7,12,12,51"),
    usage("usage-as-of-garbage", "001dn00000use01iaa", "as_of", b"001Dn00000USE01IAA,tuesday,4,7,12,12,51"),
    usage("usage-as-of-naive", "001dn00000use02iaa", "as_of", b"001Dn00000USE02IAA,2026-11-02T09:00:00,4,7,12,12,51"),
    usage("usage-far-future", "001dn00000use03iaa", "future", b"001Dn00000USE03IAA,2999-01-01T00:00:00+00:00,4,7,1,1,1"),
    usage("usage-metric-text", "001dn00000use04iaa", "active_users", b"001Dn00000USE04IAA,2026-11-02T09:00:00+00:00,four,7,1,1,1"),
    usage("usage-metric-negative", "001dn00000use05iaa", "licensed_seats",
          b"001Dn00000USE05IAA,2026-11-02T09:00:00+00:00,4,-7,1,1,1"),
    usage("usage-invalid-utf8", "001dn00000use06iaa", "UTF-8|utf-8|decode|encoding",
          b"001Dn00000USE06IAA,2026-11-02T09:00:00+00:00,\xff\xfe,7,1,1,1"),
    usage("usage-metric-huge", "001dn00000use07iaa", "features_adopted",
          b"001Dn00000USE07IAA,2026-11-02T09:00:00+00:00,4,7," + b"9" * 400 + b",12,51"),
]


def plant_hostile_names(rig: Rig) -> None:
    for ident, name in HOSTILE_NAMES.items():
        sf_account(rig, ident, Name=name, Website=f"https://{ident.lower()}.example' OR Name != '.com")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    rig = start_rig(tmp_path_factory.mktemp("bad-input"), accounts=ACCOUNTS)
    try:
        for case in CASES:
            case.plant(rig)
        plant_hostile_names(rig)
        result = run_sync(rig.config, now=NOW).as_json()
        store = open_store(rig.config)
        try:
            quarantined = [(q.source, str(q.entity_id or ""), q.reason) for q in store.quarantined(limit=10_000)]
        finally:
            store.close()
        accounts = {a["Id"]: a for a in rig.cluster.emulators["salesforce"].backend.accounts_view()}
        yield {"result": result, "quarantined": quarantined, "accounts": accounts}
    finally:
        rig.stop()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_record_is_quarantined_with_reason(planted: dict[str, Any], case: Case) -> None:
    reasons = [r for source, ident, r in planted["quarantined"] if source == case.source and ident == case.entity_id]
    assert reasons, f"{case.name}: not quarantined; quarantine holds {planted['quarantined'][:50]}"
    assert any(re.search(case.reason, r) for r in reasons), reasons


def test_sync_goes_on_past_bad_records(planted: dict[str, Any]) -> None:
    result = planted["result"]
    assert result["status"] == "ok", (result["source_errors"], result["sink_errors"])
    assert result["scored"] >= ACCOUNTS
    assert not [f for s in result["sinks"].values() for f in s["failures"]]


@pytest.mark.parametrize("ident", sorted(HOSTILE_NAMES))
def test_hostile_names_are_scored_and_left_intact(planted: dict[str, Any], ident: str) -> None:
    account = planted["accounts"][ident]
    assert account["Name"] == HOSTILE_NAMES[ident]
    assert account["CS_Success_Vector__c"] is not None
