"""The emulator through the real simple-salesforce client and our HTTP layer, over TLS."""

from __future__ import annotations

import pytest
import requests
from sf_kit import SfSandbox
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceMalformedRequest, SalesforceRefusedRequest

from connector.clients.salesforce import SalesforceAuthError, SalesforceClient
from connector.config import Config
from connector.http import HttpLayer


def test_query_pages_at_2000_rows_with_relative_next_records_url(client: SalesforceClient, sandbox: SfSandbox) -> None:
    for i in range(4500 - 30):
        sandbox.backend.put("Account", {"Name": f"Bulk {i}"})
    sandbox.reset_ledger()
    first = client.sf.query("SELECT Id FROM Account")
    assert (len(first["records"]), first["done"], first["totalSize"]) == (2000, False, 4500)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    pages = [len(p) for p in client.query_pages("SELECT Id, Name FROM Account")]
    assert pages == [2000, 2000, 500]
    ids = {r["Id"] for r in client.query_iter("SELECT Id FROM Account")}
    assert len(ids) == 4500


def test_collections_take_200_records_and_refuse_201(client: SalesforceClient, sandbox: SfSandbox) -> None:
    ids = list(sandbox.backend.records["Account"])[:1]
    records = [{"attributes": {"type": "Account"}, "Id": ids[0], "Name": f"n{i}"} for i in range(201)]
    with pytest.raises(ValueError, match="limit is 1000"):
        client.update_records(records * 5)  # more than five collections of 200: not one call
    with pytest.raises(SalesforceMalformedRequest) as info:  # the emulator enforces it too
        client.sf.restful("composite/sobjects", method="PATCH", json={"records": records})
    assert info.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert all(r.success for r in client.update_records(records[:200]))


def test_per_record_errors_in_request_order(client: SalesforceClient, sandbox: SfSandbox) -> None:
    a, b, c = list(sandbox.backend.records["Account"])[:3]
    results = client.update_records([
        {"attributes": {"type": "Account"}, "Id": a, "ARR__c": "lots"},
        {"attributes": {"type": "Account"}, "Id": b, "ARR__c": 5},
        {"attributes": {"type": "Account"}, "Id": c, "Nope__c": 1},
    ])
    assert [r.success for r in results] == [False, True, False]
    assert results[0].errors[0].status_code == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert results[0].errors[0].fields == ("ARR__c",)
    assert results[2].errors[0].status_code == "INVALID_FIELD"
    assert sandbox.backend.records["Account"][b]["ARR__c"] == 5.0


def test_collections_take_field_names_in_any_case_as_salesforce_does(client: SalesforceClient,
                                                                     sandbox: SfSandbox) -> None:
    """Salesforce's own sObject Collections example sends ``"id"``; API names match without regard to case."""
    a, b = list(sandbox.backend.records["Account"])[:2]
    answer = client.sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Account"}, "id": a, "nps__c": 9},
        {"attributes": {"type": "Account"}, "ID": b, "Name": "Renamed"}]})
    assert [(r["id"], r["success"]) for r in answer] == [(a, True), (b, True)]
    assert sandbox.backend.records["Account"][a]["NPS__c"] == 9
    assert sandbox.backend.records["Account"][b]["Name"] == "Renamed"


def test_all_or_none_rolls_back(client: SalesforceClient, sandbox: SfSandbox) -> None:
    a, b = list(sandbox.backend.records["Account"])[:2]
    answer = client.sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Account"}, "Id": a, "Name": "Changed"},
        {"attributes": {"type": "Account"}, "Id": b, "ARR__c": "bad"}]})
    assert [r["success"] for r in answer] == [False, False]
    assert answer[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sandbox.backend.records["Account"][a]["Name"] != "Changed"


def test_expired_session_gets_salesforce_401_and_one_refresh(client: SalesforceClient, sandbox: SfSandbox) -> None:
    sandbox.backend.expire_sessions()
    raw = requests.get(f"{sandbox.url}/services/data/v59.0/limits", verify=client.session.verify,
                       headers={"Authorization": f"Bearer {client.sf.session_id}"}, timeout=5)
    assert raw.status_code == 401
    assert raw.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert client.daily_budget()[0] == 100_000  # re-authenticated by the refresh-token grant, then retried
    assert client.reauthentications == 1


def test_refresh_is_bounded_when_renewal_keeps_failing(config: Config, http: HttpLayer, sandbox: SfSandbox,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.salesforce is not None
    client = SalesforceClient(config.salesforce, http)
    monkeypatch.setattr(sandbox.backend, "session_lifetime", sandbox.backend.session_lifetime * 0)
    sandbox.backend.expire_sessions()
    with pytest.raises(SalesforceExpiredSession):
        client.daily_budget()
    assert client.reauthentications == 1
    monkeypatch.setenv("SF_TEST_REFRESH", "revoked")
    with pytest.raises(SalesforceAuthError, match="refresh-token grant refused"):
        client.daily_budget()


def test_daily_limit_answers_403_request_limit_exceeded(client: SalesforceClient, sandbox: SfSandbox) -> None:
    sandbox.backend.spend(sandbox.backend.daily_api_limit)
    with pytest.raises(SalesforceRefusedRequest) as info:
        list(client.query_iter("SELECT Id FROM Account"))
    assert info.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert client.daily_budget() == (100_000, 0)


def test_bulk_2_ingest_job_and_result_files(client: SalesforceClient, sandbox: SfSandbox) -> None:
    ids = list(sandbox.backend.records["Account"])[:5]
    sandbox.backend.validation_rules[ids[2]] = "ARR cannot change during renewal review"
    rows = [{"Id": i, "ARR__c": 1234.5, "Churn_Reason__c": None} for i in ids]
    results = client.bulk_update("Account", rows)
    assert [r.success for r in results] == [True, True, False, True, True]
    assert results[2].errors[0].status_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert sandbox.backend.records["Account"][ids[0]]["ARR__c"] == 1234.5
    paths = sandbox.calls()
    assert any(p.startswith("POST /services/data/v59.0/jobs/ingest") for p in paths)
    assert any(p.startswith("PUT ") and p.endswith("/batches") for p in paths)
    assert any(p.endswith("/failedResults") for p in paths)


def test_tooling_creates_custom_fields_once(client: SalesforceClient, sandbox: SfSandbox) -> None:
    meta = {"type": "Number", "label": "Success Vector", "precision": 18, "scale": 1}
    client.create_custom_field("Account.CS_Success_Vector__c", meta)
    with pytest.raises(SalesforceMalformedRequest) as info:
        client.create_custom_field("Account.CS_Success_Vector__c", meta)
    assert info.value.content[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
    found = list(client.query_iter("SELECT Id, DeveloperName FROM CustomField WHERE TableEnumOrId = 'Account'",
                                   tooling=True))
    assert [r["DeveloperName"] for r in found] == ["CS_Success_Vector"]
    field = next(f for f in client.describe("Account")["fields"] if f["name"] == "CS_Success_Vector__c")
    assert (field["type"], field["custom"], field["scale"]) == ("double", True, 1)


def test_injected_faults_use_the_error_array_and_are_retried(client: SalesforceClient, sandbox: SfSandbox,
                                                             http: HttpLayer) -> None:
    sandbox.emulator.ctx.faults.update({"rate_5xx": 0.5, "seed": 3})
    assert len(list(client.query_iter("SELECT Id FROM Account"))) == 30
    statuses = [c.status for c in http.ledger.calls]
    assert 503 in statuses and statuses[-1] == 200
