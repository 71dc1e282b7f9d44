"""Bulk API 2.0: the emulator takes processing time like Salesforce; the driver spends the fewest calls."""

from __future__ import annotations

import pytest
from sf_kit import SfSandbox

from connector.clients.salesforce import SalesforceClient

INSTANT = {"bulk_seconds_per_10k": 0.0}
SLOW = {"bulk_queue_seconds": 3600.0}


def _writes(sandbox: SfSandbox) -> list[str]:
    return [c.split(" ", 1)[0] + " " + c.rsplit("/", 1)[-1] for c in sandbox.calls(contains="/jobs/ingest")]


@pytest.mark.parametrize("sandbox", [INSTANT], indirect=True)
def test_clean_update_job_costs_four_calls(client: SalesforceClient, sandbox: SfSandbox) -> None:
    ids = list(sandbox.backend.records["Account"])[:5]
    sandbox.reset_ledger()
    results = client.bulk_update("Account", [{"Id": i, "ARR__c": 77.0, "Churn_Reason__c": None} for i in ids])
    assert [(r.record_id, r.success) for r in results] == [(i, True) for i in ids]
    assert len(sandbox.calls(contains="/jobs/ingest")) == 4  # create, upload, UploadComplete, one status read
    assert not any("Results" in c for c in sandbox.calls())
    assert all(sandbox.backend.records["Account"][i]["ARR__c"] == 77.0 for i in ids)
    assert all(sandbox.backend.records["Account"][i].get("Churn_Reason__c") is None for i in ids)


@pytest.mark.parametrize("sandbox", [INSTANT], indirect=True)
def test_failures_are_read_from_failed_results_and_matched_by_id(client: SalesforceClient,
                                                                 sandbox: SfSandbox) -> None:
    ids = list(sandbox.backend.records["Account"])[:4]
    sandbox.backend.validation_rules[ids[1]] = "ARR is locked"
    results = client.bulk_update("Account", [{"Id": i, "ARR__c": 5} for i in ids])
    assert [r.success for r in results] == [True, False, True, True]
    assert results[1].errors[0].status_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert any(c.endswith("/failedResults") for c in sandbox.calls())
    assert not any(c.endswith("/successfulResults") for c in sandbox.calls())


@pytest.mark.parametrize("sandbox", [INSTANT], indirect=True)
def test_upsert_reads_ids_and_created_flags(client: SalesforceClient, sandbox: SfSandbox) -> None:
    account = next(iter(sandbox.backend.records["Account"]))
    client.create_custom_field("Task.Key__c", {"type": "Text", "length": 64, "externalId": True, "unique": True,
                                               "label": "Key"})
    existing = sandbox.backend.put("Task", {"Key__c": "k0", "Subject": "old", "WhatId": account})
    results = client.bulk_upsert("Task", "Key__c", [{"Key__c": "k0", "Subject": "renamed"},
                                                    {"Key__c": "k1", "Subject": "new", "WhatId": account}])
    assert [(r.success, r.created) for r in results] == [(True, False), (True, True)]
    assert results[0].record_id == existing
    assert sandbox.backend.records["Task"][existing]["Subject"] == "renamed"
    assert sandbox.backend.records["Task"][str(results[1].record_id)]["Subject"] == "new"


@pytest.mark.parametrize("sandbox", [INSTANT], indirect=True)
def test_upload_keeps_multiline_quoted_and_non_ascii_text(client: SalesforceClient, sandbox: SfSandbox) -> None:
    """The job's CSV is encoded as it is written (bytes, no text copy): what lands must be what was sent."""
    account = next(iter(sandbox.backend.records["Account"]))
    client.create_custom_field("Task.Key__c", {"type": "Text", "length": 64, "externalId": True, "unique": True,
                                               "label": "Key"})
    plan = 'Call Müller — "renewal" in 30 days,\nthen:\n  1. QBR · agenda\n  2. 見積もり'
    results = client.bulk_upsert("Task", "Key__c", [
        {"Key__c": "k,1", "Subject": "Ünïcode, commas", "Description": plan, "WhatId": account},
        {"Key__c": "k2", "Subject": "plain", "Description": None, "WhatId": account}])
    assert all(r.success for r in results)
    first, second = (sandbox.backend.records["Task"][str(r.record_id)] for r in results)
    assert (first["Key__c"], first["Subject"], first["Description"]) == ("k,1", "Ünïcode, commas", plan)
    assert second.get("Description") is None


@pytest.mark.parametrize("sandbox", [SLOW], indirect=True)
def test_emulated_job_is_queued_until_processed(client: SalesforceClient, sandbox: SfSandbox) -> None:
    account = next(iter(sandbox.backend.records["Account"]))
    job = client.sf.restful("jobs/ingest", method="POST", json={"object": "Account", "operation": "update"})
    client.sf._call_salesforce("PUT", f"{client.sf.base_url}jobs/ingest/{job['id']}/batches",
                               data=f"Id,ARR__c\n{account},9\n".encode(), headers={"Content-Type": "text/csv"})
    closed = client.sf.restful(f"jobs/ingest/{job['id']}", method="PATCH", json={"state": "UploadComplete"})
    assert closed["state"] == "UploadComplete"
    info = client.sf.restful(f"jobs/ingest/{job['id']}")
    assert (info["state"], info["numberRecordsProcessed"]) == ("UploadComplete", 0)
    assert sandbox.backend.records["Account"][account].get("ARR__c") != 9.0  # applied only once processed
