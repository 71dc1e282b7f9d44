"""The Zendesk sink: field setup/check, diffed bulk writes through jobs, failures, band tags, dry run."""

from __future__ import annotations

import math
from typing import Any

from connector.sandbox.core import SandboxClock

from .zd_kit import StartZendesk, ZdSandbox, company, make_world, output, ticket

UPDATE_MANY = "/organizations/update_many.json"


def _ready(start_zendesk: StartZendesk, clock: SandboxClock, orgs: int = 3, **kw: Any) -> ZdSandbox:
    """Orgs 100… matched to accounts A0…, fields set up."""
    zd = start_zendesk(make_world(clock.now(), [company(i, 100 + i) for i in range(orgs)], kw.pop("tickets", [])),
                       **kw)
    zd.match({f"A{i}": 100 + i for i in range(orgs)})
    zd.sink().setup(zd.sink_ctx(), dry_run=False)
    return zd


def _writes(zd: ZdSandbox) -> list:
    return [e for e in zd.calls() if e.method in ("PUT", "POST")]


def test_setup_creates_fields_once_and_check_reports_problems(start_zendesk: StartZendesk,
                                                              clock: SandboxClock) -> None:
    zd = start_zendesk(make_world(clock.now(), [company(1, 11)], []))
    sink = zd.sink()
    assert {p.problem for p in sink.check(zd.sink_ctx())} == {"missing"}
    planned = sink.setup(zd.sink_ctx(), dry_run=True)
    assert len(planned) == 9 and not zd.backend.org_fields  # dry run creates nothing
    created = sink.setup(zd.sink_ctx(), dry_run=False)
    assert {c.record_id: c.new for c in created}["cs_priority_band"] == "dropdown"
    band = zd.backend.org_fields["cs_priority_band"]
    assert [o["value"] for o in band["custom_field_options"]] == [f"cs_priority_band_p{i}" for i in range(1, 5)]
    assert zd.backend.org_fields["cs_success_vector"]["type"] == "decimal"
    posts = len(_writes(zd))
    assert sink.setup(zd.sink_ctx(), dry_run=False) == [] and len(_writes(zd)) == posts  # idempotent
    assert sink.check(zd.sink_ctx()) == []

    band["custom_field_options"].pop()  # someone deleted P4 in the admin UI
    zd.backend.org_fields["cs_risk_flags"]["type"] = "integer"
    problems = {p.field: p.problem for p in sink.check(zd.sink_ctx())}
    assert problems == {"cs_priority_band": "missing options: P4",
                        "cs_risk_flags": "wrong type: expected text, found integer"}
    (fix,) = sink.setup(zd.sink_ctx(), dry_run=False)
    assert fix.action == "update_field" and len(band["custom_field_options"]) == 4


def test_unknown_fields_are_refused_until_setup_then_written(start_zendesk: StartZendesk,
                                                             clock: SandboxClock) -> None:
    zd = start_zendesk(make_world(clock.now(), [company(0, 100)], []))
    zd.match({"A0": 100})
    report = zd.write([output("A0")])
    (failure,) = report.failures
    assert (failure.object, failure.record_id) == ("organization", "100") and "does not exist" in failure.message
    assert report.records_updated == 0 and not zd.store.written_values("zendesk", "organization")
    zd.sink().setup(zd.sink_ctx(), dry_run=False)
    report = zd.write([output("A0")])
    assert report.failures == [] and report.records_updated == 1 and report.fields_written == 9
    fields = zd.backend.orgs[100]["organization_fields"]
    assert fields["cs_priority_band"] == "cs_priority_band_p3" and fields["cs_success_vector"] == 61.0
    assert fields["cs_vector_updated_at"] == "2026-11-02"


def test_unchanged_resync_makes_zero_write_calls(start_zendesk: StartZendesk, clock: SandboxClock) -> None:
    zd = _ready(start_zendesk, clock)
    outputs = [output(f"A{i}") for i in range(3)]
    assert zd.write(outputs).records_updated == 3
    zd.reset_calls()
    sink = zd.sink()
    report = zd.write(outputs, sink)
    assert report.records_updated == 0 and zd.calls() == [] and sink.stats == {"jobs": 0, "polls": 0}
    # The priority reason is a field like any other: a new reason alone is one field on one record.
    report = zd.write([output("A1", priority_reason="P1: payment failed; vector falling 6/30d"), *outputs[::2]])
    assert report.records_updated == 1 and report.fields_written == 1
    assert zd.backend.orgs[101]["organization_fields"]["cs_priority_reason"].startswith("P1: payment failed")


def test_bulk_writes_use_ceil_n_over_100_jobs_and_poll_them(start_zendesk: StartZendesk,
                                                            clock: SandboxClock) -> None:
    zd = _ready(start_zendesk, clock, orgs=300, limits={"job_polls": 3})
    sink = zd.sink()
    outputs = [output(f"A{i}", success_vector=50.0 + i / 10) for i in range(300)]
    assert zd.write(outputs, sink).records_updated == 300
    # the three jobs are polled together: one job_statuses/show_many call per round, 3 rounds to completion
    assert len(zd.calls("PUT", UPDATE_MANY)) == 3 and sink.stats == {"jobs": 3, "polls": 3}
    assert len(zd.calls("GET", "/job_statuses/show_many.json")) == 3
    assert max(e.records for e in zd.calls("PUT", UPDATE_MANY)) == 100
    zd.reset_calls()
    changed = {7, 150, 299}  # 1 %
    outputs = [output(f"A{i}", success_vector=(20.0 if i in changed else 50.0 + i / 10)) for i in range(300)]
    report = zd.write(outputs, sink)
    assert report.records_updated == 3 and report.fields_written == 3
    assert len(zd.calls("PUT", UPDATE_MANY)) == math.ceil(len(changed) / 100)
    assert len(zd.calls("GET", "/job_statuses/")) == sink.stats["polls"] == 3


def test_partial_job_failure_is_reported_and_retried_next_run(start_zendesk: StartZendesk,
                                                              clock: SandboxClock) -> None:
    zd = _ready(start_zendesk, clock)
    gone = zd.backend.orgs.pop(101)  # deleted in Zendesk between match and write
    report = zd.write([output(f"A{i}") for i in range(3)])
    assert report.records_updated == 2
    (failure,) = report.failures
    assert failure.record_id == "101" and "RecordNotFound" in failure.message
    assert {r.status for r in zd.store.sync_log(status="failed")} == {"failed"}
    zd.backend.orgs[101] = gone
    zd.reset_calls()
    report = zd.write([output(f"A{i}") for i in range(3)])
    assert report.records_updated == 1 and report.failures == []
    (put,) = zd.calls("PUT", UPDATE_MANY)
    assert put.records == 1  # only the one that failed is sent again


def test_ticket_tags_move_with_the_priority_band(start_zendesk: StartZendesk, clock: SandboxClock) -> None:
    now = clock.now()
    tickets = [ticket(1, 100, now), ticket(2, 100, now, status="pending", tags=["vip"]),
               ticket(3, 100, now, status="closed", solved_hours=5), ticket(4, 101, now)]
    zd = _ready(start_zendesk, clock, orgs=2, tickets=tickets)
    zd.pull()  # the sink finds each organization's open tickets in the source's replica
    zd.write([output("A0", priority_band="P3"), output("A1", priority_band="P2")])
    assert zd.backend.tickets[1]["tags"] == ["cs_p3"] and zd.backend.tickets[2]["tags"] == ["vip", "cs_p3"]
    assert zd.backend.tickets[3]["tags"] == [] and zd.backend.tickets[4]["tags"] == ["cs_p2"]

    zd.reset_calls()
    report = zd.write([output("A0", priority_band="P1"), output("A1", priority_band="P2", success_vector=40.0)])
    assert report.failures == []
    assert zd.backend.tickets[1]["tags"] == ["cs_p1"] and zd.backend.tickets[2]["tags"] == ["vip", "cs_p1"]
    assert zd.backend.tickets[4]["tags"] == ["cs_p2"]  # band unchanged: not touched
    (retag,) = zd.calls("PUT", "/tickets/update_many.json")
    assert retag.records == 2


def test_dry_run_writes_nothing_and_plans_everything(start_zendesk: StartZendesk, clock: SandboxClock) -> None:
    now = clock.now()
    zd = _ready(start_zendesk, clock, orgs=2, tickets=[ticket(1, 100, now)])
    zd.pull()
    zd.reset_calls()
    report = zd.write([output("A0"), output("A1")], dry_run=True)
    assert zd.calls() == [] and not zd.store.written_values("zendesk", "organization")
    assert len([p for p in report.planned if p.action == "update"]) == 18
    (retag,) = [p for p in report.planned if p.action == "retag"]
    assert (retag.record_id, retag.new) == ("1", ["cs_p3"])
