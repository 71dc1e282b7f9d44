"""What needs an admin's attention, on the sandbox with the real clients.

``connector quarantine list|retry``: a record rejected at the source, fixed there in place (its change does
not move it past the incremental cursor), is re-read by a retry and reaches its account's signals; what is
still bad stays listed with its current reason.  ``connector status --json`` then holds every item of the
one view (last run per job, quarantine by source and reason, drift with record and value, the API budget
used today, identity match rate), validated against its schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import Config
from connector.quarantine import open_items, reason_kind
from connector.runtime import open_store, run_sync
from connector.sandbox.cluster import Cluster
from connector.status import StatusReport

from .admin_rig import admin_rig

TICKET, STILL_BAD = 990_001, 990_002
PERSON_EDIT = ("CS_Next_Milestone__c", "Kick-off call (set by hand)")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Config, Path]]:
    with admin_rig(tmp_path_factory.mktemp("quarantine"), accounts=40, seed=3) as rig:
        yield rig


def _signal(config: Config, account_id: str, name: str) -> object:
    store = open_store(config)
    try:
        return next((s.value for s in store.signals([account_id]) if s.name == name), None)
    finally:
        store.close()


def _items(config: Config) -> list[dict]:
    store = open_store(config)
    try:
        return [i for i in open_items(store) if i["source"] == "zendesk" and i["entity"] == "ticket"]
    finally:
        store.close()


def test_fixed_record_retried_reaches_the_signals(rig: tuple[Cluster, Config, Path]) -> None:
    cluster, config, config_path = rig
    company = next(c for c in cluster.world.companies if c.zendesk_org_id and not c.mess and c.salesforce_id)
    account = str(company.salesforce_id)
    zendesk = cluster.emulators["zendesk"].backend
    now = cluster.clock.now().isoformat().replace("+00:00", "Z")
    for ticket_id in (TICKET, STILL_BAD):
        zendesk.put_ticket({"id": ticket_id, "organization_id": company.zendesk_org_id, "subject": "Site down",
                            "status": "escalated!", "priority": "urgent", "created_at": now, "updated_at": now,
                            "tags": [], "requester_id": zendesk.user_for(f"ops@{company.domain}",
                                                                         company.zendesk_org_id)})
    cluster.clock.advance(timedelta(minutes=5))  # the Zendesk export excludes the last minute
    assert run_sync(config, now=cluster.clock.now()).status == "ok"
    urgent_before = _signal(config, account, "tickets_urgent_open") or 0
    listed = CliRunner().invoke(app, ["quarantine", "list", "--json", "-c", str(config_path)])
    assert listed.exit_code == 0, listed.output
    rows = {r["entity_id"]: r for r in json.loads(listed.stdout)["items"] if r["entity"] == "ticket"}
    assert "unknown status" in rows[str(TICKET)]["reason"] and str(STILL_BAD) in rows

    zendesk.tickets[TICKET]["status"] = "open"  # fixed in place: same updated_at, so no cursor moves past it
    cluster.emulators["salesforce"].backend.update("Account", {"Id": account, PERSON_EDIT[0]: PERSON_EDIT[1]})
    cluster.clock.advance(timedelta(minutes=5))
    assert run_sync(config, now=cluster.clock.now()).status == "ok"
    assert (_signal(config, account, "tickets_urgent_open") or 0) == urgent_before, "an incremental read skips it"

    retried = CliRunner().invoke(app, ["quarantine", "retry", "--source", "zendesk", "--json",
                                       "--now", cluster.clock.now().isoformat(), "-c", str(config_path)])
    assert retried.exit_code == 0, retried.output
    outcome = json.loads(retried.stdout)
    assert outcome["sources"] == ["zendesk"] and outcome["fixed"] >= 1
    assert [i["entity_id"] for i in outcome["still_quarantined"] if i["entity"] == "ticket"] == [str(STILL_BAD)]
    assert _signal(config, account, "tickets_urgent_open") == urgent_before + 1
    assert [i["entity_id"] for i in _items(config)] == [str(STILL_BAD)]

    status = CliRunner().invoke(app, ["status", "--json", "-c", str(config_path)])
    assert status.exit_code == 0, status.output
    _assert_status(StatusReport.model_validate_json(status.stdout), account)
    human = CliRunner().invoke(app, ["status", "-c", str(config_path)], env={"COLUMNS": "200"})
    assert human.exit_code == 0, human.output
    for heading in ("last run per job", "quarantined", "drift", "API calls today", "identity match rate"):
        assert heading in human.stdout, human.stdout


def _assert_status(report: StatusReport, account: str) -> None:
    jobs = {j.kind: j for j in report.jobs}
    assert {"sync", "quarantine-retry"} <= set(jobs)
    assert jobs["quarantine-retry"].status == "ok" and (jobs["quarantine-retry"].duration_seconds or 0) > 0
    assert jobs["sync"].last_ok_at is not None
    assert any("unknown status" in reason for reason in report.quarantine.by_source["zendesk"])
    assert report.quarantine.records >= 1
    drifted = [d for d in report.drift.items if d.account_id == account and d.field == PERSON_EDIT[0]]
    assert drifted and drifted[0].person_value == PERSON_EDIT[1] and drifted[0].connector_value != PERSON_EDIT[1]
    assert report.api_budget_today.systems["zendesk"].calls > 0
    assert report.api_budget_today.systems["salesforce"].calls > 0
    zendesk = report.identity.sources["zendesk"]
    assert zendesk.matched > 0 and zendesk.match_rate is not None and 0 < zendesk.match_rate <= 1
    assert report.identity.match_rate is not None and 0 < report.identity.match_rate <= 1


def test_reason_kind_buckets_ids_and_values() -> None:
    assert reason_kind("ticket 4711: unknown status 'bogus'") == "ticket N: unknown status …"
    assert reason_kind('ticket 1: unknown status "x"') == reason_kind("ticket 22: unknown status 'y'")
