"""The HTTP layer's events and the run bookkeeping built on them: pure logic, no network."""

from __future__ import annotations

from typing import Any

import structlog
from structlog.testing import capture_logs

from connector.http import Call, HttpLayer, RetryPolicy, Wait
from connector.observe import RunObserver
from connector.progress import countdown, detail


class Spy:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def call_made(self, call: Call) -> None:
        self.events.append(("call", call.status, call.attempt))

    def waiting(self, wait: Wait) -> None:
        self.events.append(("wait", wait.rate_limit, wait.seconds > 0))


def _execute(layer: HttpLayer, answers: list[tuple[int, dict[str, str]]]) -> Any:
    replies = iter(answers)
    return layer.execute("zendesk", "GET", "https://z.example/api/v2/organizations.json", None,
                         lambda: next(replies), lambda r: r[0], lambda r: r[1])


def _layer(retries: int) -> HttpLayer:
    layer = HttpLayer()
    layer.configure("zendesk", policy=RetryPolicy(max_retries=retries, base_seconds=0.001, cap_seconds=0.002))
    return layer


def test_observers_hear_each_call_and_each_pause_before_it_starts() -> None:
    layer, spy = _layer(3), Spy()
    layer.subscribe(spy)
    assert _execute(layer, [(429, {"Retry-After": "0"}), (503, {}), (200, {})])[0] == 200
    assert spy.events == [("call", 429, 1), ("wait", True, False), ("call", 503, 2), ("wait", False, True),
                          ("call", 200, 3)]
    layer.unsubscribe(spy)
    _execute(layer, [(200, {})])
    assert len(spy.events) == 5


def test_retries_are_debug_lines_and_a_warning_only_near_the_end_of_the_budget() -> None:
    before = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(10))  # debug lines too
    try:
        with capture_logs() as logs:
            _execute(_layer(4), [(503, {})] * 4 + [(200, {})])
    finally:
        structlog.configure(**before)
    levels = [(e["event"], e["log_level"], e["retries_left"]) for e in logs]
    assert levels == [("http.retry", "debug", 3), ("http.retry", "debug", 2),
                      ("http.retry_budget_low", "warning", 1), ("http.retry_budget_low", "warning", 0)]


def test_a_stage_owns_the_calls_made_during_it_and_counts_waits() -> None:
    observer = RunObserver()
    with observer.stage("pull", "zendesk") as stage:
        stage.advance(1000)
        observer.call_made(Call("zendesk", "GET", "/api/v2/incremental/tickets/cursor.json", 429, 0, 1.0, 1))
        observer.waiting(Wait("zendesk", 41.0, "HTTP 429 on GET /x", True))
        assert observer.pause is not None and countdown(observer.pause) in (
            "Zendesk rate limit: resuming in 41 s", "Zendesk rate limit: resuming in 40 s")
        observer.call_made(Call("zendesk", "GET", "/api/v2/incremental/tickets/cursor.json", 200, 0, 1.0, 2))
        assert observer.pause is None  # the next call went out: the wait is over
    observer.call_made(Call("zendesk", "GET", "/api/v2/x", 200, 0, 1.0, 1))  # between stages: nobody's
    assert (stage.status, stage.records, stage.pages, stage.calls, stage.retries) == ("done", 1000, 1, 2, 1)
    assert detail(stage) == "1,000 records · 1 page · 2 calls (1 retry, waited 41 s)"


def test_writes_count_records_sent_not_records_read() -> None:
    observer = RunObserver()
    with observer.stage("write", "hubspot") as stage:
        observer.call_made(Call("hubspot", "POST", "/crm/v3/objects/companies/batch/read", 200, 100, 1.0, 1))
        observer.call_made(Call("hubspot", "POST", "/crm/v3/objects/companies/batch/update", 200, 100, 1.0, 1))
        observer.call_made(Call("hubspot", "POST", "/crm/v3/objects/companies/batch/update", 429, 100, 1.0, 1))
        assert stage.records == 100
    assert stage.status == "done"


def test_a_failed_stage_says_so() -> None:
    observer = RunObserver()
    with observer.stage("write", "salesforce") as stage:
        stage.fail("FieldsMissing: salesforce: mapped Account fields are missing")
    assert stage.status == "failed" and "FieldsMissing" in detail(stage)


def test_sinks_writing_side_by_side_each_own_their_systems_calls() -> None:
    """The write stage runs every sink at once: a call belongs to the running stage of its system."""
    observer = RunObserver()
    with observer.stage("write", "salesforce") as sf:
        with observer.stage("write", "zendesk") as zd:
            observer.call_made(Call("salesforce", "PATCH", "/services/data/v59.0/composite/sobjects", 200, 200, 1.0, 1))
            observer.call_made(Call("zendesk", "PUT", "/api/v2/organizations/update_many.json", 200, 100, 1.0, 1))
            observer.waiting(Wait("zendesk", 2.0, "HTTP 429 on PUT /x", True))
        observer.call_made(Call("salesforce", "PATCH", "/services/data/v59.0/composite/sobjects", 200, 50, 1.0, 1))
    assert (sf.calls, sf.records, sf.waited) == (2, 250, 0.0)
    assert (zd.calls, zd.records, zd.waited) == (1, 100, 2.0)
