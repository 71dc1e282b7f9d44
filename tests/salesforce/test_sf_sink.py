"""The Salesforce sink against the emulator: diffs, batching, partial failures, budget, bulk, tasks, setup."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sf_kit import SfSandbox, make_world, sink_ctx

from connector.config import Config
from connector.http import Call, HttpLayer
from connector.records import AccountOutput, TaskSpec
from connector.sandbox.core import SandboxClock
from connector.sandbox.world import World
from connector.sinks.base import FieldsMissing, SinkContext
from connector.sinks.salesforce import SalesforceSink
from connector.sources.base import SourceContext
from connector.sources.salesforce import SalesforceSource
from connector.store import Store

COLLECTION = "PATCH /services/data/v59.0/composite/sobjects"
COMPOSITE = "POST /services/data/v59.0/composite"
UPSERT = "PATCH /services/data/v59.0/composite/sobjects/Task/CS_Task_Key__c"


def outputs(ids: list[str], vector: float = 71.0) -> list[AccountOutput]:
    return [AccountOutput(i, {
        "success_vector": vector, "vector_velocity": -2.5, "vector_direction": "Negative", "vector_confidence": 80,
        "vector_drivers": "Slow ticket resolution and a failed payment outweigh rising usage.",
        "current_stage": "Onboarded", "next_milestone": "First value", "next_milestone_due": date(2026, 12, 1),
        "next_milestone_status": "At risk", "ttfv_days": 21, "quadrant": "Work to keep (unhappy)",
        "risk_flags": "payment_failed;slow_resolution", "priority_band": "P2",
        "vector_updated_at": datetime(2026, 11, 2, 9, 0, 0, 123456, tzinfo=UTC)}) for i in ids]


def account_ids(sandbox: SfSandbox) -> list[str]:
    return sorted(i for i, r in sandbox.backend.records["Account"].items() if r.get("Name"))


@pytest.fixture
def sink(config: Config, store: Store, http: HttpLayer, clock: SandboxClock, sandbox: SfSandbox) -> SalesforceSink:
    sink = SalesforceSink(config)
    sink.setup(sink_ctx(store, http, config, clock), dry_run=False)
    sandbox.reset_ledger()
    return sink


def write(sink: SalesforceSink, config: Config, store: Store, http: HttpLayer, clock: SandboxClock,
          outs: list[AccountOutput], tasks: list[TaskSpec] | None = None, dry_run: bool = False):  # type: ignore[no-untyped-def]
    return sink.write(sink_ctx(store, http, config, clock, dry_run), outs, tasks or [])


def test_setup_creates_fields_once_and_check_finds_problems(config: Config, store: Store, http: HttpLayer,
                                                            clock: SandboxClock, sandbox: SfSandbox) -> None:
    sink = SalesforceSink(config)
    ctx = sink_ctx(store, http, config, clock)
    assert {p.field for p in sink.check(ctx)} >= {"CS_Success_Vector__c", "CS_Task_Key__c"}
    planned = sink.setup(ctx, dry_run=True)
    assert len(planned) == 17 and sandbox.calls("POST") == []  # 16 fields + the closed "Not needed" status
    assert len(sink.setup(ctx, dry_run=False)) == 17
    assert sink.check(ctx) == []
    assert "Not needed" in sandbox.backend.task_statuses.closed
    sandbox.reset_ledger()
    assert sink.setup(ctx, dry_run=False) == []
    assert sandbox.calls("POST") == [] and sandbox.calls("PATCH") == []
    key = sandbox.backend.schema["Task"]["CS_Task_Key__c"]
    assert key.external_id and key.unique
    assert sandbox.backend.schema["Account"]["CS_Quadrant__c"].restricted
    sandbox.backend.schema["Account"]["CS_Risk_Flags__c"].type = "double"
    [problem] = sink.check(ctx)
    assert (problem.field, problem.problem) == ("CS_Risk_Flags__c", "wrong type: expected string, found double")


def test_unchanged_resync_makes_zero_write_calls(sink: SalesforceSink, config: Config, store: Store,
                                                 http: HttpLayer, clock: SandboxClock, sandbox: SfSandbox) -> None:
    ids = account_ids(sandbox)
    report = write(sink, config, store, http, clock, outputs(ids))
    assert (report.records_updated, report.fields_written, report.failures) == (30, 30 * 14, [])
    record = sandbox.backend.records["Account"][ids[0]]
    assert record["CS_Vector_Updated_At__c"] == "2026-11-02T09:00:00.000+0000"
    assert record["CS_Next_Milestone_Due__c"] == "2026-12-01" and record["CS_TTFV_Days__c"] == 21
    sandbox.reset_ledger()
    again = write(sink, config, store, http, clock, outputs(ids))
    assert sandbox.writes() == []
    assert (again.records_updated, again.drift) == (0, [])


@pytest.mark.parametrize("world", [make_world(1000)], indirect=False)
def test_one_percent_change_costs_ceil_changed_over_1000_calls(sink: SalesforceSink, config: Config, store: Store,
                                                               http: HttpLayer, clock: SandboxClock,
                                                               sandbox: SfSandbox, world: World) -> None:
    ids = account_ids(sandbox)
    write(sink, config, store, http, clock, outputs(ids))
    assert sandbox.writes() == [COMPOSITE] * math.ceil(1000 / 1000)  # five Collections of 200 in one call
    sandbox.reset_ledger()
    changed = outputs(ids[:10], vector=55.5) + outputs(ids[10:])
    report = write(sink, config, store, http, clock, changed)
    assert sandbox.writes() == [COLLECTION] * math.ceil(10 / 200)
    assert (report.records_updated, report.fields_written) == (10, 10)


def test_drift_is_reported_and_left_alone(sink: SalesforceSink, config: Config, store: Store, http: HttpLayer,
                                          clock: SandboxClock, sandbox: SfSandbox) -> None:
    ids = account_ids(sandbox)
    write(sink, config, store, http, clock, outputs(ids))
    sandbox.backend.update("Account", {"Id": ids[2], "CS_Quadrant__c": "Reassess"})  # a person edits it
    sandbox.reset_ledger()
    unchanged = write(sink, config, store, http, clock, outputs(ids))
    assert unchanged.drift == [] and sandbox.writes() == [], "nothing to write: no read, no fight"
    changed = outputs(ids)
    changed[2] = AccountOutput(ids[2], {**changed[2].fields, "success_vector": 64.0})
    report = write(sink, config, store, http, clock, changed)
    assert [(d.record_id, d.field, d.old, d.new) for d in report.drift] == [
        (ids[2], "CS_Quadrant__c", "Work to keep (unhappy)", "Reassess")]
    assert len(sandbox.writes()) == 1, "the vector is written, the edited field left alone"
    assert sandbox.backend.records["Account"][ids[2]]["CS_Quadrant__c"] == "Reassess"
    assert sandbox.backend.records["Account"][ids[2]]["CS_Success_Vector__c"] == 64.0


def _run(sink: SalesforceSink, config: Config, store: Store, http: HttpLayer, clock: SandboxClock,
         outs: list[AccountOutput]):  # type: ignore[no-untyped-def]
    """One cycle as the sync runs it: the Salesforce source pulls, then the sink writes, at the same ``now``."""
    now = clock.now()
    list(SalesforceSource(config).pull(SourceContext(store=store, http=http, config=config, now=now)))
    return sink.write(SinkContext(store=store, http=http, config=config, now=now), outs, [])


def test_drift_is_checked_against_this_runs_source_read_without_a_query(
        sink: SalesforceSink, config: Config, store: Store, http: HttpLayer, clock: SandboxClock,
        sandbox: SfSandbox) -> None:
    ids = account_ids(sandbox)
    sandbox.reset_ledger()
    first = _run(sink, config, store, http, clock, outputs(ids))
    source_queries = 2  # Account and Contact, one page each
    assert first.records_updated == len(ids) and len(sandbox.calls("GET", "/query")) == source_queries
    sandbox.backend.update("Account", {"Id": ids[2], "CS_Quadrant__c": "Reassess"})  # a person edits it
    clock.advance(timedelta(minutes=5))
    sandbox.reset_ledger()
    changed = [AccountOutput(o.account_id, {**o.fields, "success_vector": 64.0}) for o in outputs(ids)]
    second = _run(sink, config, store, http, clock, changed)
    assert [(d.record_id, d.field) for d in second.drift] == [(ids[2], "CS_Quadrant__c")]
    # Records that agree with our last write are taken from the source's read; the one that disagrees may be
    # a replica older than our own write, so it is confirmed by one query before it counts as drift.
    assert len(sandbox.calls("GET", "/query")) == source_queries + 1, "only the suspected record is read back"
    assert sandbox.backend.records["Account"][ids[2]]["CS_Quadrant__c"] == "Reassess"
    assert sandbox.backend.records["Account"][ids[3]]["CS_Success_Vector__c"] == 64.0


def test_blank_field_read_back_as_null_is_not_drift(sink: SalesforceSink, config: Config, store: Store,
                                                   http: HttpLayer, clock: SandboxClock, sandbox: SfSandbox) -> None:
    """We send '' for no risk flags, Salesforce stores null: the flags must still be written once they appear."""
    ids = account_ids(sandbox)[:3]
    blank = [AccountOutput(o.account_id, {**o.fields, "risk_flags": ""}) for o in outputs(ids)]
    write(sink, config, store, http, clock, blank)
    assert sandbox.backend.records["Account"][ids[0]]["CS_Risk_Flags__c"] is None
    flagged = [AccountOutput(o.account_id, {**o.fields, "risk_flags": "payment_failed", "success_vector": 50.0})
               for o in blank]
    report = write(sink, config, store, http, clock, flagged)
    assert report.drift == []
    assert [sandbox.backend.records["Account"][i]["CS_Risk_Flags__c"] for i in ids] == ["payment_failed"] * 3
    sandbox.reset_ledger()
    assert write(sink, config, store, http, clock, blank).drift == [], "back to blank: a write, not an edit"
    assert [sandbox.backend.records["Account"][i]["CS_Risk_Flags__c"] for i in ids] == [None] * 3
    sandbox.reset_ledger()
    again = write(sink, config, store, http, clock, blank)
    assert (again.records_updated, sandbox.writes()) == (0, [])


def test_partial_failure_reports_the_record_and_retries_next_run(sink: SalesforceSink, config: Config, store: Store,
                                                                 http: HttpLayer, clock: SandboxClock,
                                                                 sandbox: SfSandbox) -> None:
    ids = account_ids(sandbox)
    sandbox.backend.validation_rules[ids[7]] = "Success fields are locked during renewal"
    report = write(sink, config, store, http, clock, outputs(ids))
    assert report.records_updated == 29
    [failure] = report.failures
    assert (failure.system, failure.object, failure.record_id) == ("salesforce", "Account", ids[7])
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in failure.message and "renewal" in failure.message
    assert [r.status for r in store.sync_log() if r.record_id == ids[7]] == ["failed"]
    del sandbox.backend.validation_rules[ids[7]]
    sandbox.reset_ledger()
    retry = write(sink, config, store, http, clock, outputs(ids))
    assert (retry.records_updated, retry.failures) == (1, [])
    assert sandbox.writes() == [COLLECTION]
    assert sandbox.emulator.ctx.ledger.entries()[-1].records == 1


@pytest.mark.parametrize("world", [make_world(1200)], indirect=False)
def test_session_expiry_mid_run_refreshes_and_loses_no_batch(sink: SalesforceSink, config: Config, store: Store,
                                                             http: HttpLayer, clock: SandboxClock,
                                                             sandbox: SfSandbox, world: World) -> None:
    expired: list[bool] = []

    def expire_after_first_batch(call: Call) -> None:  # after the Composite call of 1,000, before the last 200
        if call.method == "POST" and call.endpoint.endswith("/composite") and not expired:
            expired.append(sandbox.backend.expire_sessions() > 0)

    http.ledger.listeners.append(expire_after_first_batch)
    ids = account_ids(sandbox)
    report = write(sink, config, store, http, clock, outputs(ids))
    assert expired == [True]
    assert (report.records_updated, report.failures) == (1200, [])
    assert [c.status for c in http.ledger.calls
            if c.method == "PATCH" and "StandardValueSet" not in c.endpoint] == [401, 200]
    assert all(sandbox.backend.records["Account"][i]["CS_Success_Vector__c"] == 71.0 for i in ids)


@pytest.mark.parametrize("world", [make_world(1200)], indirect=False)
def test_daily_budget_stops_before_the_share_and_resumes_next_day(sink: SalesforceSink, config: Config,
                                                                  store: Store, http: HttpLayer, clock: SandboxClock,
                                                                  sandbox: SfSandbox, world: World) -> None:
    backend = sandbox.backend
    backend.daily_api_limit = 1000  # daily_api_share 0.5 → the connector stops at 500 calls
    backend.spend(495 - backend.api_used)  # + 4 reads of current values = 499 before the first write
    ids = account_ids(sandbox)
    report = write(sink, config, store, http, clock, outputs(ids))
    assert report.records_updated == 1000 and sandbox.writes() == [COMPOSITE]
    assert report.stopped_reason is not None
    assert "stops at 500" in report.stopped_reason and "200 record updates left" in report.stopped_reason
    clock.advance(timedelta(days=1))
    sandbox.reset_ledger()
    resumed = write(sink, config, store, http, clock, outputs(ids))
    assert (resumed.records_updated, resumed.stopped_reason) == (200, None)
    assert [w for w in sandbox.writes() if "oauth2" not in w] == [COLLECTION]  # a day later: a new session


@pytest.mark.parametrize("world", [make_world(60)], indirect=False)
def test_bulk_api_above_the_threshold(sandbox: SfSandbox, sandbox_tls, monkeypatch: pytest.MonkeyPatch, store: Store,
                                      http: HttpLayer, clock: SandboxClock, world: World) -> None:
    from sf_kit import make_config

    config = make_config(sandbox, sandbox_tls, monkeypatch, bulk_threshold=50)
    sink = SalesforceSink(config)
    sink.setup(sink_ctx(store, http, config, clock), dry_run=False)
    ids = account_ids(sandbox)
    sandbox.backend.validation_rules[ids[5]] = "locked"
    sandbox.reset_ledger()
    report = write(sink, config, store, http, clock, outputs(ids))
    assert report.records_updated == 59
    assert [f.record_id for f in report.failures] == [ids[5]]
    calls = sandbox.writes()
    assert COLLECTION not in calls
    assert calls[0] == "POST /services/data/v59.0/jobs/ingest" and calls[1].endswith("/batches")
    assert sandbox.backend.records["Account"][ids[0]]["CS_Success_Vector__c"] == 71.0


def tasks_for(ids: list[str], status: str = "open",
              subject: str = "Renewal in 60 days: plan the review") -> list[TaskSpec]:
    return [TaskSpec(key=f"{i}:renewal:1", account_id=i, play="renewal", step=1, channel="task", subject=subject,
                     body="Why: renewal on 2027-01-01, vector falling. Bring: usage review deck.",
                     due_date=date(2026, 11, 20), priority="High", owner_id=None, status=status)  # type: ignore[arg-type]
            for i in ids]


def _tasks(sandbox: SfSandbox) -> list[dict[str, object]]:
    return list(sandbox.backend.records["Task"].values())


def test_tasks_are_idempotent_even_after_losing_the_state_store(sink: SalesforceSink, config: Config, store: Store,
                                                                http: HttpLayer, clock: SandboxClock,
                                                                sandbox: SfSandbox, tmp_path: Path) -> None:
    ids = account_ids(sandbox)[:3]
    first = write(sink, config, store, http, clock, [], tasks_for(ids))
    assert (first.tasks_created, first.failures) == (3, [])
    task = next(t for t in _tasks(sandbox) if t["WhatId"] == ids[0])
    assert (task["Status"], task["Priority"], task["OwnerId"]) == (
        "Not Started", "High", sandbox.backend.records["Account"][ids[0]]["OwnerId"])
    sandbox.reset_ledger()
    second = write(sink, config, store, http, clock, [], tasks_for(ids))
    assert (second.tasks_created, second.tasks_updated) == (0, 0) and sandbox.writes() == []
    fresh = Store(f"sqlite:///{tmp_path / 'lost.db'}")
    try:
        third = write(sink, config, fresh, http, clock, [], tasks_for(ids))
    finally:
        fresh.close()
    assert (third.tasks_created, third.tasks_updated) == (0, 3)
    assert len(_tasks(sandbox)) == 3


def test_changed_task_is_updated_and_closed_task_not_needed(sink: SalesforceSink, config: Config, store: Store,
                                                             http: HttpLayer, clock: SandboxClock,
                                                             sandbox: SfSandbox, tmp_path: Path) -> None:
    ids = account_ids(sandbox)[:2]  # the fixture's setup added the closed "Not needed" TaskStatus
    write(sink, config, store, http, clock, [], tasks_for(ids))
    sandbox.backend.update("Task", {"Id": next(iter(sandbox.backend.records["Task"])), "Status": "In Progress"})
    changed = write(sink, config, store, http, clock, [], tasks_for(ids, subject="Renewal in 45 days: plan the review"))
    assert changed.tasks_updated == 2
    assert {t["Subject"] for t in _tasks(sandbox)} == {"Renewal in 45 days: plan the review"}
    assert "In Progress" in {t["Status"] for t in _tasks(sandbox)}  # a CSM's status is not overwritten
    closing = [replace(t, close_reason="cleared") for t in tasks_for(ids[:1], status="closed")]
    closed = write(sink, config, store, http, clock, [], closing)
    assert closed.tasks_closed == 1
    assert [(t["Status"], t["IsClosed"]) for t in _tasks(sandbox) if t["WhatId"] == ids[0]] == [("Not needed", True)]
    assert store.tasks("salesforce")[closing[0].key].close_reason == "cleared"
    fresh = Store(f"sqlite:///{tmp_path / 'lost.db'}")  # closing works without the ledger too
    try:
        again = write(sink, config, fresh, http, clock, [], tasks_for(ids[1:], status="closed") +
                      tasks_for([account_ids(sandbox)[5]], status="closed"))
    finally:
        fresh.close()
    assert again.tasks_closed == 1 and len(_tasks(sandbox)) == 2


def test_dry_run_plans_every_change_and_writes_nothing(sink: SalesforceSink, config: Config, store: Store,
                                                       http: HttpLayer, clock: SandboxClock,
                                                       sandbox: SfSandbox) -> None:
    ids = account_ids(sandbox)[:4]
    report = write(sink, config, store, http, clock, outputs(ids), tasks_for(ids[:2]), dry_run=True)
    assert sandbox.writes() == []
    assert len([p for p in report.planned if p.action == "update"]) == 4 * 14
    assert [p.action for p in report.planned if p.object == "Task"] == ["create_task", "create_task"]


def test_missing_fields_fail_per_record_naming_the_field(config: Config, store: Store, http: HttpLayer,
                                                         clock: SandboxClock, sandbox: SfSandbox) -> None:
    sink = SalesforceSink(config)  # no setup: the fields do not exist
    with pytest.raises(FieldsMissing, match=r"INVALID_FIELD.*CS_.*run `connector setup`"):  # names field and fix
        write(sink, config, store, http, clock, outputs(account_ids(sandbox)[:1]))
