"""One task ledger and lifecycle for every CRM that receives tasks; each CRM supplies only its wire encoding.

A CSM must get one task per account plan, updated in place, never a duplicate, never a CSM's edit
overwritten, and never a fake completion.  The rules, written once here (a CRM sink supplies a :class:`TaskTransport`):

* Every task carries its stable :attr:`TaskSpec.key` in a custom key field; the ledger (``store.tasks``)
  maps keys to remote ids and to the fingerprint of what was last sent.
* Unchanged tasks (same fingerprint, still open) cost nothing.  A changed open task is updated; an open
  task whose ledger entry is closed is reopened; a closed task is closed once, and only if it exists, with
  the CRM's close status (never Completed: that is the CSM's word) and its reason kept in the ledger.
* An update never sends the owner, nor the due date unless the step moved on: a CSM's reassignment or new
  date survives (``owner_field`` / ``due_field``).
* Keys the ledger lacks (state store lost) are looked up by key before anything is created — all of them
  for a CRM that can only create or update, only the closed ones for a CRM that upserts on the key
  (an upsert cannot duplicate; a task that was never created must not be created just to close it).
* Only what the CRM confirmed enters the ledger, task by task; failures are reported and retried next run.

The transport is where a CRM differs: how a task is encoded, looked up, sent and read back (``changed``, the
read-back rules in :mod:`connector.sinks.readback`).  Swapping it (e.g. Salesforce Collections → Composite)
touches no rule above.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from connector.records import TaskSpec
from connector.sinks.base import PlannedChange, RecordFailure, SinkContext, SinkReport
from connector.sinks.readback import RemoteTask, read_back
from connector.store import TaskLedgerEntry


@dataclass(frozen=True)
class TaskAction:
    """One task to send: what to do, the wire fields, and where it goes."""

    kind: str  # create_task | update_task | close_task
    spec: TaskSpec
    payload: dict[str, Any]  # the transport's encoding of the spec
    fingerprint: str
    remote_id: str | None  # the CRM's id when known (ledger or look-up); None for a create
    parent: str | None  # the remote record the task hangs on (Salesforce WhatId, HubSpot company)
    reopen: bool = False  # the ledger saw it closed: the open spec brings it back


@dataclass(frozen=True)
class TaskResult:
    """The CRM's answer for one action, in the order the actions were sent."""

    ok: bool
    remote_id: str | None = None
    created: bool = False
    field: str | None = None
    message: str | None = None
    #: The CRM says the task no longer exists (a person deleted it; HubSpot's search never shows archived
    #: tasks, so this is where the connector learns it): evidence, not a failure to retry.
    gone: bool = False


class TasksRefused(Exception):
    """The CRM refused a whole batch for a reason no retry fixes (e.g. the key field is missing)."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


class TaskTransport:
    """A CRM's wire encoding of tasks.  Subclasses set the attributes and fill in ``parent``, ``encode``,
    ``lookup`` and ``send``; the rest has defaults that fit a CRM without budgets or separate endpoints."""

    system: str
    object: str
    batch_size: int
    #: True when a create on an existing key updates that task (Salesforce upsert on an external id).
    upserts: bool = False
    #: How a failure names the missing parent: its field, and what it is.
    parent_field: str | None = None
    parent_label: str = "record"
    #: Payload fields a person may change that an update must not overwrite (the due date only while the
    #: step stays the same).
    owner_field: str = "owner"
    due_field: str = "due"

    def parent(self, spec: TaskSpec) -> str | None:
        """The remote record the task belongs to, None when the account has none in this CRM."""
        raise NotImplementedError

    def encode(self, spec: TaskSpec, parent: str | None) -> dict[str, Any] | None:
        """The task's wire fields (what the fingerprint covers); None when it cannot be placed."""
        raise NotImplementedError

    def lookup(self, keys: Sequence[str]) -> dict[str, str]:
        """key → remote id of the tasks that already carry these keys."""
        raise NotImplementedError

    def send(self, actions: Sequence[TaskAction]) -> list[TaskResult]:
        """Send one batch (one lane); a result per action, in order.  Raise :class:`TasksRefused` to stop."""
        raise NotImplementedError

    def fingerprint(self, payload: dict[str, Any], status: str) -> str:
        return hashlib.sha256(json.dumps([payload, status], sort_keys=True).encode()).hexdigest()

    def lane(self, action: TaskAction) -> str:
        """Actions in one lane share a batch (a CRM with separate create and update endpoints has two)."""
        return "all"

    def halt(self, pending: Callable[[], int]) -> str | None:
        """Why the next batch must not be sent (a spent API budget), given how many actions are left."""
        return None

    def changed(self, cursor: str | None) -> Iterator[tuple[RemoteTask, str]]:
        """Tasks the CRM changed after ``cursor``, oldest first, each with the cursor just after it (the
        read-back, see :mod:`connector.sinks.readback`); a transport that cannot read back yields none."""
        return iter(())


class TaskLedger:
    """One CRM's task lifecycle for one run: plan from specs + ledger + fingerprints, send, record."""

    def __init__(self, ctx: SinkContext, transport: TaskTransport, report: SinkReport):
        self.ctx, self.transport, self.report = ctx, transport, report

    @cached_property
    def entries(self) -> dict[str, TaskLedgerEntry]:
        """The ledger, read when a plan needs it (a read-back does not)."""
        return self.ctx.store.tasks(self.transport.system)

    def sync(self, specs: Sequence[TaskSpec]) -> None:
        """Plan the specs; in a dry run list the actions, else send them and record what the CRM confirmed."""
        actions = self.plan(specs)
        t = self.transport
        if self.ctx.dry_run:
            self.report.planned += [PlannedChange(t.system, t.object, a.spec.key, a.kind, "subject", None,
                                                  a.spec.subject, a.spec.account_id) for a in actions]
        else:
            self.send(actions)

    def plan(self, specs: Sequence[TaskSpec]) -> Iterator[TaskAction]:
        """What to send per task, as a stream (a first sync of a large org opens tens of thousands)."""
        t = self.transport
        unknown = [s.key for s in specs if not self._remote(s.key) and (not t.upserts or s.status == "closed")]
        found = t.lookup(unknown) if unknown else {}
        for spec in specs:
            entry = self.entries.get(spec.key)
            remote = self._remote(spec.key) or found.get(spec.key)
            parent = t.parent(spec)
            payload = t.encode(spec, parent)
            if payload is None or (remote is None and parent is None and spec.status == "open"):
                self._fail(spec, None, t.parent_field, f"account {spec.account_id} has no {t.parent_label}")
                continue
            fingerprint = t.fingerprint(payload, spec.status)
            if spec.status == "closed":
                if remote is None or (entry is not None and entry.status == "closed"):
                    continue
                yield TaskAction("close_task", spec, payload, fingerprint, remote, parent)
            elif remote is None or entry is None or entry.fingerprint != fingerprint or entry.status != "open":
                kind = "create_task" if remote is None else "update_task"
                reopen = entry is not None and entry.status == "closed"
                if kind == "update_task":
                    payload = self._kept_by_csm(payload, entry, spec)
                yield TaskAction(kind, spec, payload, fingerprint, remote, parent, reopen)

    def send(self, actions: Iterable[TaskAction]) -> None:
        """Fill one batch per lane from the stream; send each when full, the remainders at the end."""
        t = self.transport
        stream = iter(actions)
        lanes: dict[str, list[TaskAction]] = {}
        for action in stream:
            lane = lanes.setdefault(t.lane(action), [])
            lane.append(action)
            if len(lane) == t.batch_size and not self._send(lanes.pop(t.lane(action)), lanes, stream):
                return
        for name in list(lanes):
            if not self._send(lanes.pop(name), lanes, stream):
                return

    def read_back(self) -> int:
        """Record what people did to the connector's tasks since the last read; returns the tasks read."""
        return read_back(self.ctx.store, self.transport.system, self.transport.changed, self.ctx.now)

    def _kept_by_csm(self, payload: dict[str, Any], entry: TaskLedgerEntry | None, spec: TaskSpec
                     ) -> dict[str, Any]:
        """An update leaves the owner to whoever owns the task now, and the due date too unless the step
        moved on: a CSM's reassignment or new date is never overwritten (the fingerprint still covers all)."""
        t = self.transport
        drop = {t.owner_field} | ({t.due_field} if entry is not None and entry.step == spec.step else set())
        return {k: v for k, v in payload.items() if k not in drop}

    def _remote(self, key: str) -> str | None:
        entry = self.entries.get(key)
        return entry.remote_id if entry is not None else None

    def _send(self, batch: list[TaskAction], lanes: dict[str, list[TaskAction]], rest: Iterator[TaskAction]) -> bool:
        """Send one batch and record its results; False when the run must stop sending tasks."""
        t = self.transport
        reason = t.halt(lambda: len(batch) + sum(map(len, lanes.values())) + sum(1 for _ in rest))
        if reason is not None:
            self.report.stopped_reason = reason
            return False
        try:
            results = t.send(batch)
        except TasksRefused as exc:
            for action in batch:
                self._fail(action.spec, action.remote_id, exc.field, exc.message)
            return False
        entries: list[TaskLedgerEntry] = []
        gone: list[TaskAction] = []
        log: list[tuple[str, str, str | None, str, str, str | None]] = []
        missing = TaskResult(False, message="no result returned for this task")
        for index, action in enumerate(batch):
            result = results[index] if index < len(results) else missing
            spec, remote = action.spec, result.remote_id or action.remote_id
            if not result.ok and result.gone and action.kind != "create_task":
                gone.append(action)
                log.append((t.system, t.object, remote, action.kind, "skipped", "deleted in the CRM by a person"))
                continue
            if not result.ok:
                message = self._fail(spec, remote, result.field, result.message or "failed")
                log.append((t.system, t.object, remote, action.kind, "failed", message))
                continue
            if action.kind == "close_task":
                self.report.tasks_closed += 1
            elif result.created:
                self.report.tasks_created += 1
            else:
                self.report.tasks_updated += 1
            previous = self.entries.get(spec.key)
            entries.append(TaskLedgerEntry(t.system, spec.key, spec.account_id, spec.play, spec.step, remote,
                                           spec.status, action.fingerprint,
                                           previous.created_at if previous else self.ctx.now, self.ctx.now,
                                           close_reason=spec.close_reason))
            log.append((t.system, t.object, remote, action.kind, "ok", None))
        self.ctx.store.upsert_tasks(entries)
        self._record_gone(gone)
        self.ctx.store.log_records(self.ctx.run_id, log)
        return True

    def _record_gone(self, gone: list[TaskAction]) -> None:
        """Tasks a person deleted, found by a write: dismissed evidence for the next plan (its plays rest
        for their cooldown), exactly as a read-back that saw the deletion would record it."""
        found = [replace(entry, remote_state="dismissed", remote_at=self.ctx.now, touched=False)
                 for a in gone if (entry := self.entries.get(a.spec.key)) is not None]
        if found:
            self.ctx.store.record_readback(self.transport.system, found)

    def _fail(self, spec: TaskSpec, remote: str | None, field: str | None, message: str) -> str:
        text = f"task {spec.key}: {message}"
        self.report.failures.append(RecordFailure(self.transport.system, self.transport.object, remote, field, text))
        return text
