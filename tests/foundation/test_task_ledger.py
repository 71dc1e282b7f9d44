"""The shared task lifecycle (``sinks/tasks.py``) against an in-memory CRM: the rules both CRM sinks rely on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any, cast

from connector.config import Config
from connector.http import HttpLayer
from connector.records import TaskSpec
from connector.sinks.base import SinkContext, SinkReport
from connector.sinks.tasks import TaskAction, TaskLedger, TaskResult, TasksRefused, TaskTransport
from connector.store import Store

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class MemoryCrm(TaskTransport):
    """A CRM that keeps tasks in a dict; create and update are separate endpoints unless it upserts."""

    system, object, batch_size, parent_label = "toycrm", "tasks", 2, "toy account"

    def __init__(self, upserts: bool = False, parents: dict[str, str] | None = None):
        self.upserts = upserts
        self.parents = parents if parents is not None else {"a1": "c1", "a2": "c2", "a3": "c3"}
        self.tasks: dict[str, dict[str, Any]] = {}  # remote id → fields
        self.calls: list[tuple[str, int]] = []
        self.lookups: list[list[str]] = []
        self.refuse = False

    def parent(self, spec: TaskSpec) -> str | None:
        return self.parents.get(spec.account_id)

    def encode(self, spec: TaskSpec, parent: str | None) -> dict[str, Any]:
        return {"subject": spec.subject, "due": spec.due_date.isoformat(), "key": spec.key}

    def lookup(self, keys: Sequence[str]) -> dict[str, str]:
        self.lookups.append(list(keys))
        return {f["key"]: rid for rid, f in self.tasks.items() if f["key"] in keys}

    def lane(self, action: TaskAction) -> str:
        return "all" if self.upserts else ("create" if action.remote_id is None else "update")

    def send(self, actions: Sequence[TaskAction]) -> list[TaskResult]:
        if self.refuse:
            raise TasksRefused("key", "the key field is missing")
        self.calls.append((self.lane(actions[0]), len(actions)))
        results = []
        for a in actions:
            existing = a.remote_id or next((r for r, f in self.tasks.items() if f["key"] == a.spec.key), None)
            remote = existing or f"T{len(self.tasks) + 1}"
            status = "done" if a.kind == "close_task" else "open"
            self.tasks[remote] = {**a.payload, "status": status}
            results.append(TaskResult(True, remote, created=existing is None))
        return results


def spec(account: str, step: int = 1, status: str = "open", subject: str = "Call them") -> TaskSpec:
    return TaskSpec(f"{account}:play:{step}", account, "play", step, "call", subject, "body", date(2026, 11, 9),
                    "Normal", None, status)  # type: ignore[arg-type]


def run(store: Store, crm: MemoryCrm, specs: list[TaskSpec], dry_run: bool = False) -> SinkReport:
    ctx = SinkContext(store, cast(HttpLayer, None), cast(Config, None), NOW, None, dry_run)
    report = SinkReport(crm.system)
    TaskLedger(ctx, crm, report).sync(specs)
    return report


def test_unchanged_tasks_cost_nothing_and_a_change_updates_in_place(store: Store) -> None:
    crm = MemoryCrm()
    specs = [spec("a1"), spec("a2"), spec("a3")]
    first = run(store, crm, specs)
    assert (first.tasks_created, len(crm.tasks), crm.calls) == (3, 3, [("create", 2), ("create", 1)])
    crm.calls.clear()
    assert run(store, crm, specs).tasks_updated == 0 and crm.calls == []
    changed = run(store, crm, [replace(specs[0], subject="Call them now"), *specs[1:]])
    assert (changed.tasks_updated, changed.tasks_created, crm.calls) == (1, 0, [("update", 1)])
    assert len(crm.tasks) == 3


def test_lost_ledger_finds_tasks_by_key_instead_of_duplicating(tmp_path: Any, store: Store) -> None:
    crm = MemoryCrm()
    run(store, crm, [spec("a1"), spec("a2")])
    fresh = Store(f"sqlite:///{tmp_path / 'lost.db'}")
    try:
        report = run(fresh, crm, [spec("a1"), spec("a2")])
    finally:
        fresh.close()
    assert (report.tasks_created, report.tasks_updated, len(crm.tasks)) == (0, 2, 2)


def test_an_upserting_crm_looks_up_only_the_closed_keys_it_does_not_know(store: Store) -> None:
    crm = MemoryCrm(upserts=True)
    run(store, crm, [spec("a1"), spec("a2", status="closed")])
    assert crm.lookups == [["a2:play:1"]] and len(crm.tasks) == 1  # never created just to be closed


def test_close_once_reopen_when_the_play_comes_back(store: Store) -> None:
    crm = MemoryCrm()
    run(store, crm, [spec("a1")])
    closed = run(store, crm, [spec("a1", status="closed")])
    assert closed.tasks_closed == 1 and crm.tasks["T1"]["status"] == "done"
    crm.calls.clear()
    assert run(store, crm, [spec("a1", status="closed")]).tasks_closed == 0 and crm.calls == []
    reopened = run(store, crm, [spec("a1")])
    assert reopened.tasks_updated == 1 and crm.tasks["T1"]["status"] == "open"


def test_no_parent_is_a_reported_failure_and_dry_run_sends_nothing(store: Store) -> None:
    crm = MemoryCrm(parents={"a1": "c1"})
    dry = run(store, crm, [spec("a1"), spec("a9")], dry_run=True)
    assert [p.action for p in dry.planned] == ["create_task"] and crm.calls == [] and store.tasks("toycrm") == {}
    assert [f.message for f in dry.failures] == ["task a9:play:1: account a9 has no toy account"]


def test_a_refused_batch_fails_its_tasks_and_leaves_them_for_the_next_run(store: Store) -> None:
    crm = MemoryCrm()
    crm.refuse = True
    report = run(store, crm, [spec("a1")])
    assert [f.field for f in report.failures] == ["key"] and store.tasks("toycrm") == {}
    crm.refuse = False
    assert run(store, crm, [spec("a1")]).tasks_created == 1
