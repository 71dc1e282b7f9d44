"""Bad source records are quarantined with a reason and the sync goes on; hostile names pass through intact.

One cluster gets every bad record planted at once (in the emulators' backends and the usage CSV), one sync
runs, and each planted record is then its own test case: quarantined under its id with a reason naming the
problem.  The same run must score every healthy account and write names with markup, quotes, backslashes
and non-Latin text back unchanged.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest

from connector.runtime import open_store, run_sync

from .rel_kit import NOW, Case, Rig, start_rig

ACCOUNTS = 40
HOSTILE_NAMES = {"001Dn00000HOST1IAA": "<script>alert('x')</script> & Co",
                 "001Dn00000HOST2IAA": "O'Reilly \\ Sons; DROP TABLE Account--",
                 "001Dn00000HOST3IAA": "Zürich Ünïcødé 株式会社 🚀 \u202eevil"}


def sf_account(rig: Rig, ident: str, **changes: Any) -> None:
    backend = rig.cluster.emulators["salesforce"].backend
    with backend.lock:
        template = copy.deepcopy(next(iter(backend.records["Account"].values())))
        template.update(Id=ident, **changes)
        backend.records["Account"][ident] = template


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
    sf("sf-churn-reason-huge", "001Dn00000BAD13IAA", "Churn_Reason__c.*characters", Churn_Reason__c="x" * 40_000),
    sf("sf-upsells-list", "001Dn00000BAD14IAA", "Upsells_Taken__c.*number", Upsells_Taken__c="[1, 2]"),
    usage("usage-key-empty", "", "account key", b",2026-11-02T09:00:00+00:00,4,7,12,12,51"),
    usage("usage-as-of-garbage", "001Dn00000USE01IAA", "as_of", b"001Dn00000USE01IAA,tuesday,4,7,12,12,51"),
    usage("usage-far-future", "001Dn00000USE03IAA", "future",
          b"001Dn00000USE03IAA,2999-01-01T00:00:00+00:00,4,7,1,1,1"),
    usage("usage-metric-text", "001Dn00000USE04IAA", "active_users",
          b"001Dn00000USE04IAA,2026-11-02T09:00:00+00:00,four,7,1,1,1"),
    usage("usage-metric-negative", "001Dn00000USE05IAA", "licensed_seats",
          b"001Dn00000USE05IAA,2026-11-02T09:00:00+00:00,4,-7,1,1,1"),
    usage("usage-metric-huge", "001Dn00000USE07IAA", "features_adopted",
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
