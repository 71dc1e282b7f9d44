"""The HubSpot source: first read by list, incremental by keyset search under the 10,000-result cap."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.records import Account, Observation, Quarantined
from connector.sources.hubspot import HubSpotSource

StartHubSpot = Callable[..., Any]
START = datetime(2026, 10, 1, tzinfo=UTC)
LIST, SEARCH = ("GET", "/crm/v3/objects/companies"), ("POST", "/crm/v3/objects/companies/search")


def test_primary_pull_yields_accounts_and_crm_signals(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    (oid,) = hs.add_companies(1, START, nps_score=9, arr=24000, churned="false",
                           customer_segment="SMB", renewal_date="2027-03-01", champion_changed_date="2026-10-20")
    items = hs.pull()
    account = next(i for i in items if isinstance(i, Account))
    observation = next(i for i in items if isinstance(i, Observation))
    assert (account.account_id, account.system, account.external_id, account.segment, account.arr) == (
        oid, "hubspot", "ERP-000000", "SMB", 24000.0)
    assert account.renewal_date.isoformat() == "2027-03-01"  # type: ignore[union-attr]
    assert observation.keys.crm_id == oid
    assert dict(observation.signals) == {"nps": 9.0, "arr": 24000.0, "churned": 0.0, "champion_changed_90d": 1.0}


def test_secondary_pull_yields_identity_observations_only(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot(primary="salesforce")
    hs.add_companies(2, START, nps_score=3)
    nameless = hs.backend.insert("companies", {"name": "No keys"})
    items = hs.pull()
    observations = [i for i in items if isinstance(i, Observation)]
    assert not any(isinstance(i, Account) for i in items)
    assert [(o.entity, o.keys.external_id, o.keys.domain, dict(o.signals)) for o in observations] == [
        ("company", "ERP-000000", "company0.example", {}), ("company", "ERP-000001", "company1.example", {})]
    assert [q.entity_id for q in items if isinstance(q, Quarantined)] == [nameless.id]


def test_bad_records_are_quarantined_and_the_pull_goes_on(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    good, bad = hs.add_companies(2, START)
    hs.backend.objects["companies"][bad].properties["name"] = ""
    items = hs.pull()
    assert [a.account_id for a in items if isinstance(a, Account)] == [good]
    (quarantined,) = [q for q in items if isinstance(q, Quarantined)]
    assert quarantined.entity_id == bad and "no name" in quarantined.reason


def test_incremental_pull_with_no_changes_is_one_probe_call(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    ids = hs.add_companies(250, START)
    assert len([i for i in hs.pull() if isinstance(i, Account)]) == 250
    assert hs.calls(*LIST) == 3  # 100 per page
    before = len(hs.http.ledger.calls)
    assert hs.pull() == []
    assert len(hs.http.ledger.calls) - before == 1 and hs.calls(*SEARCH) == 1
    hs.clock.advance(timedelta(minutes=5))
    hs.backend.apply(hs.backend.objects["companies"][ids[7]], {"nps_score": "4"})
    changed = [i for i in hs.pull() if isinstance(i, Account)]
    assert [a.account_id for a in changed] == [ids[7]]


def test_incremental_reads_more_changes_than_the_search_cap(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot(search_cap=300)  # the real cap is 10,000; a small one keeps the test fast
    ids = hs.add_companies(1_000, START)
    hs.pull()
    later = hs.clock.now() + timedelta(days=1)
    for n, oid in enumerate(ids[:900]):
        hs.backend.stamp(hs.backend.objects["companies"][oid], later + timedelta(milliseconds=n))
    changed = {a.account_id for a in hs.pull() if isinstance(a, Account)}
    assert changed == set(ids[:900])
    statuses = [c.status for c in hs.http.ledger.calls if (c.method, c.endpoint) == SEARCH]
    assert 400 not in statuses and len(statuses) <= 900 // 199 + 2


def test_one_instant_beyond_the_cap_falls_back_to_a_full_read(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot(search_cap=150)
    ids = hs.add_companies(400, START)
    hs.pull()
    bulk = hs.clock.now() + timedelta(days=1)  # an import touching 400 companies in one millisecond
    for oid in ids:
        hs.backend.stamp(hs.backend.objects["companies"][oid], bulk)
    changed = {a.account_id for a in hs.pull(HubSpotSource(hs.config(), search_cap=150)) if isinstance(a, Account)}
    assert changed == set(ids)
    assert 400 not in [c.status for c in hs.http.ledger.calls]
