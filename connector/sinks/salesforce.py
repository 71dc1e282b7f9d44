"""Salesforce sink: owned Account fields and idempotent Tasks, within the daily API budget.

How it writes, and why:

* Field values: diffed against the last confirmed write (:func:`stream_changes`) after reading the mapped
  fields back by SOQL (reads are how drift — a person editing an owned field — is found).  An unchanged
  re-sync therefore makes no write call.  Changed records go out through sObject Collections (200 per
  call, ``allOrNone=false``), or Bulk API 2.0 once ``bulk_threshold`` records changed (cheaper in calls
  from about 2,000).  Only records the API confirmed are recorded as written; the rest are retried on the
  next run because their diff is still there.
* Tasks: upserted on the external-id field ``task_key_field`` holding :attr:`TaskSpec.key`, so a retry, a
  second run or a lost state store updates the same Task instead of creating another.  The task ledger's
  fingerprint skips unchanged tasks; open tasks never overwrite a CSM's Status, closing sets Completed.
* Budget: ``/limits`` is read first; writing stops before ``daily_api_share`` of the daily allocation and
  the report says so (``stopped_reason``); what is left is written by the next run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import chain, islice
from typing import Any

from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest

from connector.batching import batched
from connector.clients.salesforce import COLLECTION_LIMIT, SalesforceClient, WriteResult
from connector.config import Config, ConfigError
from connector.mappings import FieldMapping, load_mapping
from connector.records import AccountOutput, TaskSpec
from connector.sinks.base import (
    FieldProblem,
    FieldsMissing,
    PlannedChange,
    RecordChange,
    RecordFailure,
    SinkContext,
    SinkReport,
    apply_drift,
    planned_updates,
    stream_changes,
)
from connector.sources.salesforce import parse_sf_datetime, soql_identifier, soql_quote
from connector.store import TaskLedgerEntry

SYSTEM = "salesforce"
DESCRIBE_TYPES = {"number": "double", "integer": "double", "percent": "percent", "text": "string",
                  "textarea": "textarea", "date": "date", "datetime": "datetime", "picklist": "picklist"}
_IDS_PER_QUERY = 300  # keeps the GET query URL well under Salesforce's 16 KB limit
_BULK_CALLS = 6  # create, upload, close, poll, two result files
#: Records per Bulk 2.0 job: a job's CSV may reach 150 MB, but 5,000 rows (a few MB) bound the memory a
#: first sync of a large org needs (the rows, their CSV and the result files of one job), at 6 calls per
#: job — still over 800 times fewer than one per record.
BULK_JOB_RECORDS = 5_000


def field_metadata(fm: FieldMapping) -> dict[str, Any]:
    """Tooling API ``Metadata`` for a mapped field (CustomField types and their sizes)."""
    meta: dict[str, Any] = {"label": fm.label, "description": fm.description or None}
    if fm.type in ("number", "integer"):
        meta.update(type="Number", precision=18, scale=0 if fm.type == "integer" else 1)
    elif fm.type == "percent":
        meta.update(type="Percent", precision=5, scale=1)
    elif fm.type == "text":
        meta.update(type="Text", length=255)
    elif fm.type == "textarea":
        meta.update(type="LongTextArea", length=32768, visibleLines=3)
    elif fm.type == "date":
        meta.update(type="Date")
    elif fm.type == "datetime":
        meta.update(type="DateTime")
    else:
        meta.update(type="Picklist", valueSet={"restricted": True, "valueSetDefinition": {
            "sorted": False, "value": [{"fullName": o, "label": o, "default": False} for o in fm.options]}})
    return {k: v for k, v in meta.items() if v is not None}


@dataclass(frozen=True)
class TaskAction:
    kind: str  # create_task | update_task | close_task
    spec: TaskSpec
    record: dict[str, Any]
    fingerprint: str


class DailyBudget:
    """``DailyApiRequests`` as read at the start, plus every call this run made since (from the ledger)."""

    def __init__(self, client: SalesforceClient, share: float, ctx: SinkContext):
        self.max, remaining = client.daily_budget()
        self.used, self.limit, self.ctx = self.max - remaining, int(self.max * share), ctx
        self.start = ctx.http.ledger.total(SYSTEM)

    def allows(self, calls: int) -> bool:
        return self.used + (self.ctx.http.ledger.total(SYSTEM) - self.start) + calls <= self.limit

    def reason(self, pending: str) -> str:
        spent = self.used + self.ctx.http.ledger.total(SYSTEM) - self.start
        return (f"daily API budget: {spent} of {self.max} calls used and the connector stops at {self.limit} "
                f"(daily_api_share); {pending} left for the next run")


class SalesforceSink:
    name = SYSTEM

    def __init__(self, config: Config):
        if config.salesforce is None:
            raise ConfigError("<config>", [("salesforce", "the Salesforce sink needs a [salesforce] section")])
        self.config, self.sf = config, config.salesforce
        self.mapping = load_mapping(config.resolve(self.sf.mapping))
        self.object = soql_identifier(str(self.mapping.setting("object", "Account")))
        self.task_key = soql_identifier(str(self.mapping.setting("task_key_field", "CS_Task_Key__c")))
        self.on_drift = str(self.mapping.setting("on_drift", "skip"))
        for fm in self.mapping.fields.values():
            soql_identifier(fm.name)

    def client(self, ctx: SinkContext) -> SalesforceClient:
        return SalesforceClient(self.sf, ctx.http)

    # -- setup and check ---------------------------------------------------------------------------------

    def _wanted(self) -> list[tuple[str, str, dict[str, Any]]]:
        wanted = [(self.object, fm.name, field_metadata(fm)) for fm in self.mapping.fields.values()]
        key_meta = {"type": "Text", "label": "CS Task Key", "length": 255, "externalId": True, "unique": True}
        return [*wanted, ("Task", self.task_key, key_meta)]

    def _existing(self, client: SalesforceClient) -> dict[str, dict[str, dict[str, Any]]]:
        """Describe of each written object: field name → its describe entry (type, updateable, …)."""
        return {obj: {f["name"]: f for f in client.describe(obj)["fields"]} for obj in (self.object, "Task")}

    def setup(self, ctx: SinkContext, dry_run: bool) -> list[PlannedChange]:
        client = self.client(ctx)
        existing = self._existing(client)
        planned = []
        for obj, name, meta in self._wanted():
            if name in existing[obj]:
                continue
            if not dry_run:
                client.create_custom_field(f"{obj}.{name}", meta)
            planned.append(PlannedChange(SYSTEM, obj, f"{obj}.{name}", "create_field", name, None, meta["type"]))
        return planned

    def check(self, ctx: SinkContext) -> list[FieldProblem]:
        existing = self._existing(self.client(ctx))
        problems = []
        expected = {fm.name: DESCRIBE_TYPES[fm.type] for fm in self.mapping.fields.values()}
        expected[self.task_key] = "string"
        for obj, name, _meta in self._wanted():
            found = existing[obj].get(name)
            if found is None:
                problems.append(FieldProblem(SYSTEM, obj, name, "missing"))
            elif found["type"] != expected[name]:
                problem = f"wrong type: expected {expected[name]}, found {found['type']}"
                problems.append(FieldProblem(SYSTEM, obj, name, problem))
            elif not found.get("updateable", True):
                problem = "not writable by the connector's user (check its field-level security)"
                problems.append(FieldProblem(SYSTEM, obj, name, problem))
        return problems

    # -- write -------------------------------------------------------------------------------------------

    def write(self, ctx: SinkContext, outputs: Sequence[AccountOutput], tasks: Sequence[TaskSpec]) -> SinkReport:
        """Stream the outputs through diff → live read (drift) → send, one batch in memory at a time.

        Live values are read only for records about to be written (drift check, and task owners on the
        way), so an unchanged re-sync costs no call at all, not even a read.
        """
        report = SinkReport(SYSTEM)
        records = self._records(ctx)
        client = self.client(ctx)
        task_records = {ids[0] for t in tasks if (ids := records(t.account_id))}
        owners: dict[str, str | None] = {}
        targets = ((rid, _seconds(o)) for o in outputs for rid in records(o.account_id))
        pending = _Counted(stream_changes(ctx.store, SYSTEM, self.object, self.mapping, targets))
        changes = self._drift_checked(client, pending, owners, report)
        head = list(islice(changes, self.sf.bulk_threshold))
        if ctx.dry_run:
            report.planned = planned_updates(SYSTEM, self.object, chain(head, changes))
            self._read_owners(client, task_records - owners.keys(), owners)
            actions = self._plan_tasks(ctx, client, tasks, records, owners, report)
            report.planned += [PlannedChange(SYSTEM, "Task", a.spec.key, a.kind, "Subject", None, a.spec.subject,
                                             a.spec.account_id) for a in actions]
            return report
        budget = _LazyBudget(lambda: DailyBudget(client, self.sf.daily_api_share, ctx))
        bulk = len(head) >= self.sf.bulk_threshold
        try:
            if self._write_fields(ctx, client, chain(head, changes), bulk, pending, budget, report):
                self._read_owners(client, task_records - owners.keys(), owners)
                self._write_tasks(ctx, client, self._plan_tasks(ctx, client, tasks, records, owners, report),
                                  budget, report)
        except SalesforceRefusedRequest as exc:
            report.stopped_reason = f"Salesforce refused the request ({exc.status}): {_codes(exc.content)}"
        return report

    def _records(self, ctx: SinkContext) -> Callable[[str], list[str]]:
        """account_id → Salesforce Account ids (itself when primary, else matched by identity)."""
        if self.config.connector.primary_crm == SYSTEM:
            return lambda account_id: [account_id]
        matched = ctx.store.matched_entities(SYSTEM, "account")
        return lambda account_id: matched.get(account_id, [])

    def _drift_checked(self, client: SalesforceClient, pending: Iterable[RecordChange],
                       owners: dict[str, str | None], report: SinkReport) -> Iterator[RecordChange]:
        """The pending changes, read back ``_IDS_PER_QUERY`` records at a time; drift skipped or kept per
        ``on_drift``; records deleted in Salesforce dropped.  Owners seen on the way are kept for tasks."""
        for batch in batched(pending, _IDS_PER_QUERY):
            current = self._current(client, [c.record_id for c in batch], owners)
            present = [c for c in batch if c.record_id in current]
            kept, drift = apply_drift(SYSTEM, self.object, self.mapping, present, current, self.on_drift)
            report.drift.extend(drift)
            yield from kept

    def _current(self, client: SalesforceClient, record_ids: Sequence[str],
                 owners: dict[str, str | None]) -> dict[str, dict[str, Any]]:
        """Mapped field values (normalised to what :func:`format_value` produces) per record; owners into
        ``owners``."""
        fields = self.mapping.remote_fields()
        kinds = {fm.name: fm.type for fm in self.mapping.fields.values()}
        current: dict[str, dict[str, Any]] = {}
        soql = (f"SELECT Id, OwnerId, {', '.join(fields)} FROM {self.object} "
                f"WHERE Id IN ({', '.join(soql_quote(i) for i in record_ids)})")
        try:
            for row in client.query_iter(soql):
                current[row["Id"]] = {f: _normalise(row.get(f), kinds[f]) for f in fields}
                owners[row["Id"]] = row.get("OwnerId")
        except SalesforceMalformedRequest as exc:
            if "INVALID_FIELD" not in str(exc.content):
                raise
            raise FieldsMissing(f"salesforce: mapped {self.object} fields are missing ({_codes(exc.content)}); "
                                "run `connector setup` (or `connector check` to list them)") from None
        return current

    def _read_owners(self, client: SalesforceClient, record_ids: Iterable[str],
                     owners: dict[str, str | None]) -> None:
        """Owners of task records the field stream did not read already (one query per 300)."""
        for chunk in batched(sorted(record_ids), _IDS_PER_QUERY):
            self._current(client, chunk, owners)

    def _write_fields(self, ctx: SinkContext, client: SalesforceClient, changes: Iterator[RecordChange],
                      bulk: bool, pending: _Counted, budget: _LazyBudget, report: SinkReport) -> bool:
        """Send field changes batch by batch; False when the budget stopped the run."""
        sent = 0
        for batch in batched(changes, BULK_JOB_RECORDS if bulk else COLLECTION_LIMIT):
            if not budget().allows(_BULK_CALLS if bulk else 1):
                left = pending.total() - sent
                report.stopped_reason = budget().reason(f"{left} record updates")
                return False
            rows = [{"Id": c.record_id, **c.values} for c in batch]
            if bulk:
                results = client.bulk_update(self.object, rows)
            else:
                results = client.update_collection([{"attributes": {"type": self.object}, **r} for r in rows])
            self._apply_results(ctx, batch, results, report)
            sent += len(batch)
        return True

    def _apply_results(self, ctx: SinkContext, batch: list[RecordChange], results: list[WriteResult],
                       report: SinkReport) -> None:
        """Match results to the batch by position; record only what succeeded."""
        written: list[tuple[str, str, Any]] = []
        log: list[tuple[str, str, str | None, str, str, str | None]] = []
        for index, change in enumerate(batch):
            result = results[index] if index < len(results) else None
            if result is not None and result.success:
                written.extend((change.record_id, f, v) for f, v in change.values.items())
                report.records_updated += 1
                report.fields_written += len(change.values)
                log.append((SYSTEM, self.object, change.record_id, "update", "ok", None))
                continue
            errors = result.errors if result is not None else ()
            for err in errors or (None,):
                message = f"{err.status_code}: {err.message}" if err else "no result returned for this record"
                field = err.fields[0] if err and err.fields else None
                report.failures.append(RecordFailure(SYSTEM, self.object, change.record_id, field, message))
            log.append((SYSTEM, self.object, change.record_id, "update", "failed",
                        "; ".join(f"{e.status_code}: {e.message}" for e in errors) or "no result"))
        ctx.store.record_written(SYSTEM, self.object, written, ctx.run_id)
        ctx.store.log_records(ctx.run_id, log)

    # -- tasks -------------------------------------------------------------------------------------------

    def _plan_tasks(self, ctx: SinkContext, client: SalesforceClient, tasks: Sequence[TaskSpec],
                    records: Callable[[str], list[str]], owners: dict[str, str | None],
                    report: SinkReport) -> Iterator[TaskAction]:
        """What to send per task, as a stream (a first sync of a large org opens tens of thousands)."""
        ledger = ctx.store.tasks(SYSTEM)
        unknown_closed = [t.key for t in tasks if t.status == "closed" and t.key not in ledger]
        existing = self._existing_task_keys(client, unknown_closed)
        for spec in tasks:
            ids = records(spec.account_id)
            what = ids[0] if ids else None
            if what is None or what not in owners:
                report.failures.append(RecordFailure(SYSTEM, "Task", None, "WhatId",
                                                     f"task {spec.key}: no Salesforce account for {spec.account_id}"))
                continue
            owner = spec.owner_id if (spec.owner_id or "").startswith("005") else owners.get(what)
            fields = {"Subject": spec.subject[:255], "Description": spec.body[:32000],
                      "ActivityDate": spec.due_date.isoformat(), "Priority": spec.priority, "OwnerId": owner,
                      "WhatId": what}
            fingerprint = hashlib.sha256(json.dumps([fields, spec.status], sort_keys=True).encode()).hexdigest()
            entry = ledger.get(spec.key)
            base = {"attributes": {"type": "Task"}, self.task_key: spec.key}
            if spec.status == "closed":
                if (entry is not None and entry.status == "closed") or (entry is None and spec.key not in existing):
                    continue
                yield TaskAction("close_task", spec, {**base, "Status": "Completed"}, fingerprint)
            elif entry is None or entry.fingerprint != fingerprint or entry.status != "open":
                reopen = {"Status": "Not Started"} if entry is not None and entry.status == "closed" else {}
                kind = "create_task" if entry is None else "update_task"
                yield TaskAction(kind, spec, {**base, **fields, **reopen}, fingerprint)

    def _existing_task_keys(self, client: SalesforceClient, keys: list[str]) -> set[str]:
        found: set[str] = set()
        for chunk in batched(keys, _IDS_PER_QUERY):
            soql = (f"SELECT Id, {self.task_key} FROM Task "
                    f"WHERE {self.task_key} IN ({', '.join(soql_quote(k) for k in chunk)})")
            found.update(str(r[self.task_key]) for r in client.query_iter(soql))
        return found

    def _write_tasks(self, ctx: SinkContext, client: SalesforceClient, actions: Iterable[TaskAction],
                     budget: _LazyBudget, report: SinkReport) -> None:
        ledger = ctx.store.tasks(SYSTEM)
        pending = iter(actions)
        for batch in batched(pending, COLLECTION_LIMIT):
            if not budget().allows(1):
                report.stopped_reason = budget().reason(f"{len(batch) + sum(1 for _ in pending)} task writes")
                return
            try:
                results = client.upsert_collection("Task", self.task_key, [a.record for a in batch])
            except SalesforceMalformedRequest as exc:
                message = f"{_codes(exc.content)}; run `connector setup` to create Task.{self.task_key}"
                report.failures.extend(RecordFailure(SYSTEM, "Task", None, self.task_key, message) for _ in batch)
                return
            entries: list[TaskLedgerEntry] = []
            log: list[tuple[str, str, str | None, str, str, str | None]] = []
            for action, result in zip(batch, results, strict=False):
                spec = action.spec
                if not result.success:
                    err = result.errors[0] if result.errors else None
                    msg = f"task {spec.key}: {err.status_code}: {err.message}" if err else f"task {spec.key}: failed"
                    report.failures.append(RecordFailure(SYSTEM, "Task", result.record_id,
                                                         err.fields[0] if err and err.fields else None, msg))
                    log.append((SYSTEM, "Task", result.record_id, action.kind, "failed", msg))
                    continue
                if action.kind == "close_task":
                    report.tasks_closed += 1
                elif result.created:
                    report.tasks_created += 1
                else:
                    report.tasks_updated += 1
                previous = ledger.get(spec.key)
                entries.append(TaskLedgerEntry(SYSTEM, spec.key, spec.account_id, spec.play, spec.step,
                                               result.record_id, spec.status, action.fingerprint,
                                               previous.created_at if previous else ctx.now, ctx.now))
                log.append((SYSTEM, "Task", result.record_id, action.kind, "ok", None))
            ctx.store.upsert_tasks(entries)
            ctx.store.log_records(ctx.run_id, log)


class _Counted(Iterator[RecordChange]):
    """The pending-change stream, counted: when the budget stops a run, the report says how many updates
    are left without reading them back from Salesforce."""

    def __init__(self, stream: Iterator[RecordChange]):
        self._stream, self.pulled = stream, 0

    def __next__(self) -> RecordChange:
        item = next(self._stream)
        self.pulled += 1
        return item

    def total(self) -> int:
        return self.pulled + sum(1 for _ in self._stream)


class _LazyBudget:
    """The daily budget, read (one ``/limits`` call) only once something is about to be written."""

    def __init__(self, make: Callable[[], DailyBudget]):
        self._make = make
        self._budget: DailyBudget | None = None

    def __call__(self) -> DailyBudget:
        if self._budget is None:
            self._budget = self._make()
        return self._budget


def _seconds(output: AccountOutput) -> AccountOutput:
    """Salesforce keeps DateTime to the second; trim so a re-read value compares equal."""
    fields = {k: v.replace(microsecond=0) if isinstance(v, datetime) else v for k, v in output.fields.items()}
    return replace(output, fields=fields)


def _normalise(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "datetime" and isinstance(value, str):
        return parse_sf_datetime(value).isoformat()
    if kind == "integer" and isinstance(value, float):
        return int(value)
    return value


def _codes(content: Any) -> str:
    if isinstance(content, list):
        return "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for e in content if isinstance(e, dict))
    return str(content)[:200]
