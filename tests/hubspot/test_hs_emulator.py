"""The emulator driven by the real hubspot-api-client through our client wrapper, over TLS."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.clients.hubspot import HubSpotApiError
from connector.sandbox.dataset import generate_world

StartHubSpot = Callable[..., Any]
START = datetime(2026, 10, 1, tzinfo=UTC)


def test_list_pages_with_after_and_default_limit(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    ids = hs.add_companies(25, START)
    client = hs.client()
    default = client.call("list", client.crm.companies.basic_api.get_page)
    assert len(default.results) == 10  # HubSpot's default page size
    seen, after, pages = [], None, 0
    while True:
        page = client.call("list", client.crm.companies.basic_api.get_page, limit=10, after=after,
                           properties=["name", "erp_id"])
        pages += 1
        seen += [r.id for r in page.results]
        assert set(page.results[0].properties) >= {"name", "erp_id", "hs_lastmodifieddate"}
        if not page.paging:
            break
        after = page.paging.next.after
    assert (seen, pages) == (ids, 3)
    with pytest.raises(HubSpotApiError) as refused:
        client.call("list", client.crm.companies.basic_api.get_page, limit=101)
    assert refused.value.status == 400


def test_batch_over_100_inputs_is_refused_whole(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    ids = hs.add_companies(101, START)
    client = hs.client()
    inputs = [{"id": i, "properties": {"arr": "1"}} for i in ids]
    with pytest.raises(HubSpotApiError) as refused:
        client.call("update", client.crm.companies.batch_api.update, {"inputs": inputs})
    assert (refused.value.status, refused.value.category) == (400, "VALIDATION_ERROR")
    assert "maximum number of inputs" in refused.value.message
    assert hs.backend.objects["companies"][ids[0]].properties.get("arr") is None
    answer = client.call("update", client.crm.companies.batch_api.update, {"inputs": inputs[:100]})
    assert len(answer.results) == 100 and not getattr(answer, "errors", None)


def test_partial_failure_answers_207_per_record(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    good, unknown, wrong_type = hs.add_companies(3, START)
    client = hs.client()
    answer = client.call("update", client.crm.companies.batch_api.update, {"inputs": [
        {"id": good, "properties": {"arr": "1200"}},
        {"id": unknown, "properties": {"not_a_property": "x"}},
        {"id": wrong_type, "properties": {"arr": "lots"}}]})
    assert answer.num_errors == 2 and [r.id for r in answer.results] == [good]
    by_id = {e.context["ids"][0]: e for e in answer.errors}
    assert by_id[unknown].errors[0].code == "PROPERTY_DOESNT_EXIST"
    assert by_id[unknown].errors[0].context == {"propertyName": ["not_a_property"]}
    assert by_id[wrong_type].errors[0].code == "INVALID_DECIMAL"
    assert hs.backend.objects["companies"][good].properties["arr"] == "1200"


def test_upsert_needs_a_unique_property(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    hs.add_companies(1, START)
    client = hs.client()
    answer = client.call("upsert", client.crm.companies.batch_api.upsert, {"inputs": [
        {"id": "ERP-000000", "idProperty": "erp_id", "properties": {"arr": "5"}},
        {"id": "ERP-999999", "idProperty": "erp_id", "properties": {"name": "New Co"}}]})
    assert sorted(r.new for r in answer.results) == [False, True]
    with pytest.raises(HubSpotApiError, match="non-unique"):
        client.call("upsert", client.crm.companies.batch_api.upsert,
                    {"inputs": [{"id": "x.example", "idProperty": "domain", "properties": {}}]})


def test_rate_limit_429_is_waited_out(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot(requests_per_10s=3, window_seconds=1.0)
    hs.add_companies(2, START)
    impatient = hs.client(max_retries=0)
    for _ in range(3):
        impatient.call("list", impatient.crm.companies.basic_api.get_page)
    with pytest.raises(HubSpotApiError) as limited:
        impatient.call("list", impatient.crm.companies.basic_api.get_page)
    assert limited.value.status == 429
    assert {k: limited.value.body[k] for k in ("status", "errorType", "policyName")} == {
        "status": "error", "errorType": "RATE_LIMIT", "policyName": "SECONDLY"}
    assert limited.value.body["message"] == "You have reached your secondly limit."
    time.sleep(1.0)
    patient = hs.client()
    started = time.monotonic()
    for _ in range(7):
        patient.call("update", patient.crm.companies.batch_api.update,
                     {"inputs": [{"id": next(iter(hs.backend.objects["companies"])), "properties": {"arr": "1"}}]})
    statuses = [c.status for c in hs.http.ledger.calls if c.endpoint.endswith("/batch/update")]
    assert statuses.count(200) == 7 and 429 in statuses  # POSTs retried after Retry-After
    assert time.monotonic() - started >= 1.0


def test_expired_oauth_token_is_refreshed_mid_run(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot(oauth=True)
    hs.add_companies(1, START)
    client = hs.client()
    client.call("list", client.crm.companies.basic_api.get_page)
    hs.clock.advance(timedelta(minutes=31))  # HubSpot access tokens live 30 minutes
    page = client.call("list", client.crm.companies.basic_api.get_page)
    assert len(page.results) == 1 and client.refreshes == 2
    assert [c.status for c in hs.http.ledger.calls if c.endpoint == "/crm/v3/objects/companies"] == [200, 401, 200]


def test_oauth_token_is_refreshed_before_it_expires(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot(oauth=True, token_lifetime_seconds=1.0)
    client = hs.client()
    client.call("list", client.crm.companies.basic_api.get_page)
    time.sleep(1.0)
    client.call("list", client.crm.companies.basic_api.get_page)
    assert client.refreshes == 2
    assert 401 not in [c.status for c in hs.http.ledger.calls]


def test_expired_token_body_is_hubspots(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    backend = hs.backend
    token = backend.tokens.refresh({"grant_type": "refresh_token", "client_id": "sandbox-client-id",
                                    "client_secret": "sandbox-client-secret",
                                    "refresh_token": "sandbox-refresh-token"})["access_token"]
    hs.clock.advance(timedelta(hours=1))
    with pytest.raises(Exception) as expired:
        backend.tokens.check(f"Bearer {token}")
    assert expired.value.body()["category"] == "EXPIRED_AUTHENTICATION"  # type: ignore[attr-defined]


def test_search_stops_at_10000_results(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    hs.add_companies(10_005, START, step=timedelta(milliseconds=1))
    client = hs.client()
    request = {"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                              "value": str(int(START.timestamp() * 1000))}]}],
               "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}], "limit": 200}
    page = client.call("search", client.crm.companies.search_api.do_search, {**request, "after": "9800"})
    assert page.total == 10_005 and len(page.results) == 200
    with pytest.raises(HubSpotApiError) as capped:
        client.call("search", client.crm.companies.search_api.do_search, {**request, "after": "10000"})
    assert (capped.value.status, capped.value.category) == (400, "VALIDATION_ERROR")
    with pytest.raises(HubSpotApiError):
        client.call("search", client.crm.companies.search_api.do_search, {**request, "limit": 201})


def test_search_operators(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    ids = hs.add_companies(6, START)
    for i, oid in enumerate(ids[:4]):
        hs.backend.objects["companies"][oid].properties["arr"] = str(1000 * i)
    client = hs.client()

    def search(*filters: dict[str, object]) -> list[str]:
        body = {"filterGroups": [{"filters": list(filters)}], "limit": 100}
        return [r.id for r in client.call("search", client.crm.companies.search_api.do_search, body).results]

    assert search({"propertyName": "arr", "operator": "GT", "value": "1000"}) == ids[2:4]
    assert search({"propertyName": "arr", "operator": "LTE", "value": "1000"}) == ids[:2]
    assert search({"propertyName": "arr", "operator": "HAS_PROPERTY"}) == ids[:4]
    assert search({"propertyName": "erp_id", "operator": "IN", "values": ["ERP-000001", "ERP-000005"]}) == [
        ids[1], ids[5]]
    assert search({"propertyName": "name", "operator": "NEQ", "value": "Company 0"}) == ids[1:]


def test_properties_groups_associations_and_owners(start_hubspot: StartHubSpot) -> None:
    world = generate_world(20, seed=3, now=datetime(2026, 11, 2, tzinfo=UTC))
    hs = start_hubspot(world)
    client = hs.client()
    props = client.crm.properties
    with pytest.raises(HubSpotApiError, match="does not exist"):
        client.call("create", props.core_api.create, "companies", {
            "name": "cs_x", "label": "X", "type": "number", "fieldType": "number", "groupName": "nope"})
    client.call("group", props.groups_api.create, "companies", {"name": "customer_success", "label": "CS"})
    made = client.call("create", props.core_api.create, "companies", {
        "name": "cs_x", "label": "X", "type": "number", "fieldType": "number", "groupName": "customer_success"})
    assert (made.name, made.type, made.group_name) == ("cs_x", "number", "customer_success")
    owners = client.call("owners", client.crm.owners.owners_api.get_page, email=world.owners[0].email)
    assert [o.id for o in owners.results] == [world.owners[0].hubspot_id]
    company = next(c for c in world.companies if c.hubspot_id)
    task = client.call("task", client.crm.objects.tasks.basic_api.create, {
        "properties": {"hs_timestamp": "2026-11-09T00:00:00Z", "hs_task_subject": "Kickoff"},
        "associations": [{"to": {"id": company.hubspot_id},
                          "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}]}]})
    assert hs.backend.associated("tasks", task.id, "companies") == [company.hubspot_id]
    with pytest.raises(HubSpotApiError, match="hs_timestamp"):
        client.call("task", client.crm.objects.tasks.basic_api.create, {"properties": {"hs_task_subject": "x"}})
    other = client.call("task", client.crm.objects.tasks.basic_api.create,
                        {"properties": {"hs_timestamp": "1798761600000"}})
    client.call("assoc", client.crm.associations.v4.basic_api.create, "tasks", other.id, "companies",
                company.hubspot_id, [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}])
    assert [t["id"] for t in hs.backend.open_tasks()] == [task.id, other.id]
