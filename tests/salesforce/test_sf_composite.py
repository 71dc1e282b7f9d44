"""The Composite resource through the real simple-salesforce client: Salesforce's answer shape and limits."""

from __future__ import annotations

import pytest
from sf_kit import SfSandbox

from connector.clients.salesforce import COMPOSITE_LIMIT, SalesforceClient

V = "/services/data/v59.0"


def _accounts(sandbox: SfSandbox, n: int) -> list[str]:
    return list(sandbox.backend.records["Account"])[:n]


def _calls(sandbox: SfSandbox) -> list[tuple[str, str, int | None]]:
    return [(e.method, e.path, e.records) for e in sandbox.emulator.ctx.ledger.entries()]


def test_real_client_gets_salesforce_answer_shape_and_one_ledger_call(client: SalesforceClient,
                                                                      sandbox: SfSandbox) -> None:
    a, b = _accounts(sandbox, 2)
    sandbox.reset_ledger()
    answer = client.sf.restful("composite", method="POST", json={"allOrNone": False, "compositeRequest": [
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "newAccount", "body": {"Name": "New"}},
        {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "newContact",
         "body": {"LastName": "Doe", "AccountId": "@{newAccount.id}"}},
        {"method": "GET", "url": f"{V}/sobjects/Account/@{{newAccount.id}}", "referenceId": "readBack"},
        {"method": "PATCH", "url": f"{V}/composite/sobjects", "referenceId": "updates", "body": {"records": [
            {"attributes": {"type": "Account"}, "Id": a, "ARR__c": 5},
            {"attributes": {"type": "Account"}, "Id": b, "ARR__c": "lots"}]}},
        {"method": "GET", "url": f"{V}/query/?q=SELECT+Id+FROM+Contact+WHERE+LastName+%3D+'Doe'",
         "referenceId": "query"},
    ]})
    assert list(answer) == ["compositeResponse"]
    results = answer["compositeResponse"]
    assert [r["referenceId"] for r in results] == ["newAccount", "newContact", "readBack", "updates", "query"]
    assert all(set(r) == {"body", "httpHeaders", "httpStatusCode", "referenceId"} for r in results)
    created, contact, read, updates, query = results
    assert created["httpStatusCode"] == 201 and created["body"]["success"] is True
    assert created["httpHeaders"]["Location"] == f"{V}/sobjects/Account/{created['body']['id']}"
    new_contact = sandbox.backend.records["Contact"][contact["body"]["id"]]
    assert new_contact["AccountId"] == created["body"]["id"]  # the reference was resolved
    assert read["httpStatusCode"] == 200 and read["body"]["Name"] == "New"
    assert updates["httpStatusCode"] == 200  # per-record failure inside a collection does not fail it
    assert [r["success"] for r in updates["body"]] == [True, False]
    assert updates["body"][1]["errors"][0]["statusCode"] == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert query["body"]["totalSize"] == 1 and query["body"]["records"][0]["Id"] == contact["body"]["id"]
    assert _calls(sandbox) == [("POST", f"{V}/composite", 2)]


def test_all_or_none_rolls_everything_back_and_halts_the_rest(client: SalesforceClient, sandbox: SfSandbox) -> None:
    (a,) = _accounts(sandbox, 1)
    before = sandbox.backend.records["Account"][a]["Name"]
    answer = client.sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "PATCH", "url": f"{V}/sobjects/Account/{a}", "referenceId": "rename", "body": {"Name": "X"}},
        {"method": "PATCH", "url": f"{V}/sobjects/Account/{a}", "referenceId": "bad", "body": {"ARR__c": "x"}},
    ]})
    rename, bad = answer["compositeResponse"]
    assert rename["httpStatusCode"] == 400
    assert rename["body"] == [{"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back since "
                                                                           "another operation in the same "
                                                                           "transaction failed."}]
    assert bad["httpStatusCode"] == 400 and bad["body"][0]["errorCode"] == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert sandbox.backend.records["Account"][a]["Name"] == before


def test_without_all_or_none_only_dependants_of_a_failure_halt(client: SalesforceClient, sandbox: SfSandbox) -> None:
    (a,) = _accounts(sandbox, 1)
    answer = client.sf.restful("composite", method="POST", json={"compositeRequest": [
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "broken", "body": {"Nope__c": 1}},
        {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "child",
         "body": {"LastName": "Orphan", "AccountId": "@{broken.id}"}},
        {"method": "PATCH", "url": f"{V}/sobjects/Account/{a}", "referenceId": "other", "body": {"Name": "Kept"}},
    ]})
    broken, child, other = answer["compositeResponse"]
    assert broken["httpStatusCode"] == 400 and broken["body"][0]["errorCode"] == "INVALID_FIELD"
    assert child["httpStatusCode"] == 400 and child["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert "broken" in child["body"][0]["message"]
    assert other["httpStatusCode"] == 204 and other["body"] is None
    assert sandbox.backend.records["Account"][a]["Name"] == "Kept"


@pytest.mark.parametrize(("subrequests", "message"), [
    ([{"method": "GET", "url": f"{V}/limits", "referenceId": f"r{i}"} for i in range(26)], "more than 25 operations"),
    ([{"method": "GET", "url": f"{V}/query/?q=SELECT+Id+FROM+Account", "referenceId": f"q{i}"} for i in range(3)]
     + [{"method": "PATCH", "url": f"{V}/composite/sobjects", "referenceId": f"c{i}", "body": {"records": []}}
        for i in range(3)], "more than 5 sObject Collections or query operations"),
])
def test_over_limit_requests_get_limit_exceeded_and_change_nothing(client: SalesforceClient, sandbox: SfSandbox,
                                                                   subrequests: list[dict[str, object]],
                                                                   message: str) -> None:
    answer = client.sf.restful("composite", method="POST", json={"compositeRequest": subrequests})
    (only,) = answer["compositeResponse"]
    assert only["httpStatusCode"] == 400 and only["referenceId"] is None
    assert only["body"][0]["errorCode"] == "LIMIT_EXCEEDED" and message in only["body"][0]["message"]


def test_client_writes_1000_records_in_one_call_with_results_in_order(client: SalesforceClient,
                                                                      sandbox: SfSandbox) -> None:
    for i in range(COMPOSITE_LIMIT):
        sandbox.backend.put("Account", {"Name": f"Composite {i}"})
    ids = [i for i, r in sandbox.backend.records["Account"].items() if str(r.get("Name")).startswith("Composite")]
    records = [{"attributes": {"type": "Account"}, "Id": rid, "ARR__c": "bad" if n == 777 else n}
               for n, rid in enumerate(ids)]
    sandbox.reset_ledger()
    results = client.update_records(records)
    assert _calls(sandbox) == [("POST", f"{V}/composite", COMPOSITE_LIMIT)]
    assert [r.record_id for r in results] == ids
    assert [n for n, r in enumerate(results) if not r.success] == [777]
    assert sandbox.backend.records["Account"][ids[999]]["ARR__c"] == 999.0
    with pytest.raises(ValueError, match="limit is 1000"):
        client.update_records([*records, records[0]])


def test_client_fails_each_record_of_a_refused_subrequest(client: SalesforceClient, sandbox: SfSandbox) -> None:
    records = [{"attributes": {"type": "Task"}, "Missing_Key__c": f"k{i}", "Subject": "s"} for i in range(201)]
    results = client.upsert_records("Task", "Missing_Key__c", records)
    assert len(results) == 201 and not any(r.success for r in results)
    assert results[0].errors[0].status_code == "INVALID_FIELD"
