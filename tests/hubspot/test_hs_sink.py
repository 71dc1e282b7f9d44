"""The HubSpot sink: minimal batch writes, per-record failures, drift, idempotent tasks, setup/check."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from connector.records import Observation
from connector.sinks.hubspot import HubSpotSink
from connector.store import Store

StartHubSpot = Callable[..., Any]
START = datetime(2026, 10, 1, tzinfo=UTC)
UPDATE = ("POST", "/crm/v3/objects/companies/batch/update")
TASK_CREATE = ("POST", "/crm/v3/objects/tasks/batch/create")
TASK_UPDATE = ("POST", "/crm/v3/objects/tasks/batch/update")


def _ready(hs: Any, companies: int) -> list[str]:
    HubSpotSink(hs.config()).setup(hs.sink_ctx(), dry_run=False)
    return hs.add_companies(companies, START)


def test_setup_is_idempotent_and_check_finds_wrong_types(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    sink = HubSpotSink(hs.config())
    assert len(sink.check(hs.sink_ctx())) == 16  # 15 company fields + the task key
    planned = sink.setup(hs.sink_ctx(), dry_run=True)
    assert len(planned) == 18 and "cs_success_vector" not in hs.backend.properties["companies"]
    assert len(sink.setup(hs.sink_ctx(), dry_run=False)) == 18  # 2 groups + 16 properties
    assert sink.setup(hs.sink_ctx(), dry_run=False) == []
    assert sink.check(hs.sink_ctx()) == []
    assert hs.backend.properties["companies"]["cs_vector_direction"].options[0]["value"] == "Positive"
    prop = hs.backend.properties["companies"]["cs_ttfv_days"]
    prop.type, prop.field_type = "string", "text"
    (problem,) = sink.check(hs.sink_ctx())
    assert (problem.field, problem.problem) == ("cs_ttfv_days", "wrong type: expected number/number, found string/text")


def test_unchanged_resync_makes_no_calls_and_one_percent_change_costs_one_batch(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    ids = _ready(hs, 300)
    outputs = [hs.output(i, vector=50 + n % 7) for n, i in enumerate(ids)]
    report = hs.write(outputs)
    assert (report.records_updated, hs.calls(*UPDATE)) == (300, 3)
    assert hs.backend.objects["companies"][ids[0]].properties["cs_success_vector"] == "50"
    assert hs.backend.objects["companies"][ids[0]].properties["cs_next_milestone_due"] == "2026-12-01"
    writes, calls = hs.writes(), len(hs.http.ledger.calls)
    assert hs.write(outputs).records_updated == 0
    assert (hs.writes(), len(hs.http.ledger.calls)) == (writes, calls)  # zero calls of any kind
    changed = {ids[n] for n in (3, 150, 299)}  # 1 %
    report = hs.write([hs.output(i, vector=99.5) if i in changed else o for i, o in zip(ids, outputs, strict=True)])
    assert report.records_updated == 3 and report.fields_written == 3
    assert hs.calls(*UPDATE) - 3 == math.ceil(len(changed) / 100)
    assert hs.backend.objects["companies"][ids[150]].properties["cs_success_vector"] == "99.5"


def test_partial_failure_is_reported_per_record_and_retried_next_run(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    ids = _ready(hs, 4)
    outputs = [hs.output(i) for i in ids]
    outputs[2] = hs.output(ids[2], vector_direction="Sideways")  # not a picklist option → per-record error
    report = hs.write(outputs)
    assert report.records_updated == 3 and hs.calls(*UPDATE) == 1
    (failure,) = report.failures
    assert (failure.record_id, failure.field) == (ids[2], "cs_vector_direction")
    assert "INVALID_OPTION" in failure.message
    assert [r.status for r in hs.store.sync_log() if r.record_id == ids[2]] == ["failed"]
    outputs[2] = hs.output(ids[2])
    report = hs.write(outputs)
    assert (report.records_updated, report.failures, hs.calls(*UPDATE)) == (1, [], 2)


def test_a_batch_refused_whole_is_split_to_isolate_the_bad_record(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot(batch_validation="reject_batch")
    ids = _ready(hs, 8)
    outputs = [hs.output(i, vector_direction="Sideways") if n == 5 else hs.output(i) for n, i in enumerate(ids)]
    report = hs.write(outputs)
    assert report.records_updated == 7 and [f.record_id for f in report.failures] == [ids[5]]
    assert report.failures[0].field == "cs_vector_direction"
    assert "cs_success_vector" not in hs.backend.objects["companies"][ids[5]].properties
    assert hs.calls(*UPDATE) <= 2 * math.ceil(math.log2(8)) + 1


def test_drift_is_reported_and_the_edited_field_left_alone(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    (oid,) = _ready(hs, 1)
    hs.write([hs.output(oid, vector=40.0)])
    hs.backend.apply(hs.backend.objects["companies"][oid], {"cs_success_vector": "10"})  # a person edits it
    report = hs.write([hs.output(oid, vector=45.0, priority_band="P1")])
    assert [(d.field, d.old, d.new) for d in report.drift] == [("cs_success_vector", "40", "10")]
    props = hs.backend.objects["companies"][oid].properties
    assert (props["cs_success_vector"], props["cs_priority_band"]) == ("10", "P1")


def test_blank_property_read_back_empty_or_null_is_not_drift(start_hubspot: StartHubSpot) -> None:
    """'' written, no value read back: the risk flags are written once they appear, never taken for an edit."""
    hs = start_hubspot()
    (oid,) = _ready(hs, 1)
    hs.write([hs.output(oid, risk_flags="")])
    assert "cs_risk_flags" not in hs.backend.objects["companies"][oid].properties
    report = hs.write([hs.output(oid, vector=45.0, risk_flags="payment_failed")])
    assert report.drift == []
    assert hs.backend.objects["companies"][oid].properties["cs_risk_flags"] == "payment_failed"
    hs.write([hs.output(oid, vector=45.0, risk_flags="")])
    hs.backend.objects["companies"][oid].properties["cs_risk_flags"] = ""  # HubSpot answers '' as often as null
    report = hs.write([hs.output(oid, vector=46.0, risk_flags="")])
    assert (report.drift, report.records_updated) == ([], 1)


def test_dry_run_writes_nothing_and_plans_everything(start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    ids = _ready(hs, 2)
    before = hs.writes()
    report = hs.write([hs.output(i) for i in ids], [hs.task(ids[0])], dry_run=True)
    assert len(report.planned) == 2 * 14 + 1 and hs.writes() == before
    assert {p.action for p in report.planned} == {"update", "create_task"}


def test_secondary_crm_writes_to_matched_companies(start_hubspot: StartHubSpot, store: Store) -> None:
    hs = start_hubspot(primary="salesforce")
    ids = _ready(hs, 2)
    store.upsert_observations(i for i in hs.pull() if isinstance(i, Observation))
    store.set_matches([("hubspot", "company", ids[1], "001SFACCOUNT", "matched")])
    report = hs.write([hs.output("001SFACCOUNT", vector=77.0), hs.output("001UNMATCHED")])
    assert report.records_updated == 1
    assert hs.backend.objects["companies"][ids[1]].properties["cs_success_vector"] == "77"


def test_tasks_are_never_duplicated_even_after_losing_the_state_store(start_hubspot: StartHubSpot,
                                                                      tmp_path) -> None:  # type: ignore[no-untyped-def]
    hs = start_hubspot()
    ids = _ready(hs, 3)
    owner = hs.backend.add_owner("casey@vendor.example", "Casey", "CSM")
    specs = [hs.task(i, owner_id="casey@vendor.example") for i in ids]
    report = hs.write([], specs)
    assert report.tasks_created == 3 and hs.calls(*TASK_CREATE) == 1
    made = hs.backend.open_tasks()
    assert {t["companies"][0] for t in made} == set(ids) and {t["hubspot_owner_id"] for t in made} == {owner}
    assert {t["hs_task_priority"] for t in made} == {"HIGH"}
    before = hs.writes()
    assert hs.write([], specs).tasks_created == 0 and hs.writes() == before  # same fingerprint: nothing sent
    hs.store = Store(f"sqlite:///{tmp_path / 'fresh.db'}")  # the state store is lost
    report = hs.write([], specs)
    assert report.tasks_created == 0 and len(hs.backend.objects["tasks"]) == 3
    assert hs.calls(*TASK_CREATE) == 1
    hs.store.close()


def test_closed_tasks_are_archived_never_completed_and_unknown_owners_left_unassigned(
        start_hubspot: StartHubSpot) -> None:
    hs = start_hubspot()
    (oid,) = _ready(hs, 1)
    hs.write([], [hs.task(oid, owner_id="005000000000001AAA")])  # a Salesforce user id: no HubSpot owner
    (created,) = hs.backend.open_tasks()
    assert created.get("hubspot_owner_id") is None
    report = hs.write([], [hs.task(oid, status="closed"), hs.task(oid, step=2, status="closed")])
    assert report.tasks_closed == 1 and report.tasks_created == 0  # nothing to close for step 2
    assert hs.backend.open_tasks() == []
    task = hs.backend.objects["tasks"][created["id"]]
    assert task.archived and task.properties["hs_task_status"] != "COMPLETED"
    assert hs.calls(*TASK_UPDATE) == 0


def test_a_task_a_person_deleted_is_dismissal_evidence_not_a_failure_retried_forever(
        start_hubspot: StartHubSpot) -> None:
    """HubSpot's search never returns archived tasks, so the read-back cannot see a deletion; the next
    update of that task meets OBJECT_NOT_FOUND. That is what the CSM did (its plays rest), not an error."""
    from dataclasses import replace

    hs = start_hubspot()
    (oid,) = _ready(hs, 1)
    spec = hs.task(oid)
    hs.write([], [spec])
    (created,) = hs.backend.open_tasks()
    hs.backend.objects["tasks"][created["id"]].archived = True  # deleted by the CSM in HubSpot
    report = hs.write([], [replace(spec, subject="Onboarding step 1: the kickoff is overdue")])
    assert report.failures == [] and report.tasks_updated == 0
    [evidence] = hs.store.task_evidence("hubspot")
    assert (evidence.key, evidence.state) == (spec.key, "dismissed")
