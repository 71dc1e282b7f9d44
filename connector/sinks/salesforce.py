"""Salesforce sink: owned Account fields and idempotent Tasks, within the daily API budget.

How it writes, and why:

* Field values: diffed against the last confirmed write (:func:`stream_changes`), then checked for drift (a
  person editing an owned field) against the live values.  Those come from this run's Salesforce source
  read, which selects the mapped fields along with the signals (:data:`LIVE_MARK`): no extra call.  Only
  when that read did not happen this run are the records about to be written read back by SOQL.  An
  unchanged re-sync therefore makes no call at all here.  Changed records go out 1,000 per call (one
  Composite request of five sObject Collections of 200, ``allOrNone=false``), or in one Bulk API 2.0 job
  once ``bulk_threshold`` records changed (4 calls when every record succeeds).  Only records the API
  confirmed are recorded as written; the rest are retried on the next run because their diff is still there.
* Tasks: upserted on the external-id field ``task_key_field`` holding :attr:`TaskSpec.key`, so a retry, a
  second run or a lost state store updates the same Task instead of creating another — through the same
  paths (Composite, or one Bulk upsert job above the threshold).  The task ledger's fingerprint skips
  unchanged tasks; open tasks never overwrite a CSM's Status; closing sets ``close_status``, never Completed.
* Budget: ``/limits`` is read first; writing stops before ``daily_api_share`` of the daily allocation and
  the report says so (``stopped_reason``); what is left is written by the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from itertools import chain, islice
from typing import Any

from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest

from connector.batching import batched
from connector.clients.salesforce import (
    COMPOSITE_LIMIT,
    LIVE_MARK,
    SalesforceClient,
    parse_sf_datetime,
    soql_identifier,
    soql_quote,
)
from connector.config import Config, ConfigError
from connector.http import HttpLayer
from connector.mappings import FieldMapping, load_mapping
from connector.records import AccountOutput, TaskSpec
from connector.sinks.base import (
    Counted,
    Failed,
    FieldSink,
    FieldsMissing,
    FieldSpec,
    PlannedChange,
    RecordChange,
    SinkContext,
    SinkReport,
    unconfirmed,
)
from connector.sinks.readback import RemoteTask, salesforce_changes, salesforce_close_status
from connector.sinks.tasks import TaskAction, TaskLedger, TaskResult, TasksRefused, TaskTransport

SYSTEM = "salesforce"
DESCRIBE_TYPES = {"number": "double", "integer": "double", "percent": "percent", "text": "string",
                  "textarea": "textarea", "date": "date", "datetime": "datetime", "picklist": "picklist"}
_IDS_PER_QUERY = 300  # keeps the GET query URL well under Salesforce's 16 KB limit
_BULK_CALLS = 5  # create, upload, close, status (a results file when some failed)
#: Records per Bulk 2.0 job: one job per object per sync up to an org of this size (Salesforce processes a
#: job in internal batches of 10,000), so a first sync costs ~5 calls per object.  A job's CSV may reach
#: 150 MB; the bound keeps the rows and their CSV of one job a few MB (a 100k-account first sync sends ten).
BULK_JOB_RECORDS = 10_000


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


class SalesforceSink(FieldSink):
    name, object, entity, live_batch, skip_absent = SYSTEM, "Account", "account", _IDS_PER_QUERY, True
    stop_on = (SalesforceRefusedRequest,)

    def __init__(self, config: Config):
        if config.salesforce is None:
            raise ConfigError("<config>", [("salesforce", "the Salesforce sink needs a [salesforce] section")])
        self.config, self.sf = config, config.salesforce
        self.mapping = load_mapping(config.resolve(self.sf.mapping))
        self.object = soql_identifier(str(self.mapping.setting("object", "Account")))
        self.task_key = soql_identifier(str(self.mapping.setting("task_key_field", "CS_Task_Key__c")))
        self.on_drift = str(self.mapping.setting("on_drift", "skip"))
        self.close_status = str(self.mapping.setting("close_status", "Not needed"))
        for fm in self.mapping.fields.values():
            soql_identifier(fm.name)
        self._http: HttpLayer | None = None
        self._owners: dict[str, str | None] = {}

    def client(self, ctx: SinkContext) -> SalesforceClient:
        """One client per HTTP layer (setup's describe and creates, a run's reads and writes share it)."""
        if self._http is not ctx.http:
            self._client, self._http = SalesforceClient(self.sf, ctx.http), ctx.http
        return self._client

    # -- setup and check ---------------------------------------------------------------------------------

    def wanted_fields(self) -> list[FieldSpec]:
        key_meta = {"type": "Text", "label": "CS Task Key", "length": 255, "externalId": True, "unique": True}
        return [*(FieldSpec(self.object, fm.name, DESCRIBE_TYPES[fm.type], field_metadata(fm))
                  for fm in self.mapping.fields.values()), FieldSpec("Task", self.task_key, "string", key_meta)]

    def existing_fields(self, ctx: SinkContext) -> dict[str, dict[str, Any]]:
        """Describe of each written object: field name → its describe entry (type, updateable, …)."""
        client = self.client(ctx)
        return {obj: {f["name"]: f for f in client.describe(obj)["fields"]} for obj in (self.object, "Task")}

    def field_problem(self, spec: FieldSpec, found: Any) -> str | None:
        if found["type"] != spec.type:
            return f"wrong type: expected {spec.type}, found {found['type']}"
        if not found.get("updateable", True):
            return "not writable by the connector's user (check its field-level security)"
        return None

    def create_field(self, ctx: SinkContext, spec: FieldSpec) -> None:
        self.client(ctx).create_custom_field(f"{spec.object}.{spec.name}", spec.meta)

    def setup_containers(self, ctx: SinkContext, dry_run: bool) -> list[PlannedChange]:
        """The TaskStatus value the connector closes its tasks with (``close_status``, a *closed* value, so
        activity reports can exclude it; never Completed), added to the org's value set when missing."""
        added = salesforce_close_status(self.client(ctx), self.close_status, dry_run)
        return [PlannedChange(SYSTEM, "Task", "TaskStatus", "create_field", "Status", None, f"{v} (closed)")
                for v in added]

    def read_back(self, ctx: SinkContext) -> int:
        """Record what people did to the connector's tasks since the last read (see ``sinks/readback.py``)."""
        self.client(ctx)
        return TaskLedger(ctx, _TaskWire(self, self.remote_ids(ctx)), SinkReport(SYSTEM)).read_back()

    # -- write -------------------------------------------------------------------------------------------

    def begin(self, ctx: SinkContext) -> None:
        self._owners, client = {}, self.client(ctx)
        self._budget = _LazyBudget(lambda: DailyBudget(client, self.sf.daily_api_share, ctx))
        fresh = self.object == "Account" and ctx.store.get_cursor(SYSTEM, LIVE_MARK) == ctx.now.isoformat()
        self._replica = ctx.store if fresh else None

    def prepare(self, output: AccountOutput) -> AccountOutput:
        """Salesforce keeps DateTime to the second; trim so a re-read value compares equal (dates and times
        only: the output keeps its ``origin``, see :meth:`SinkBase.prepare`).  A row of an output table
        is read so when a field is read, not copied."""
        to_the_second = getattr(output.fields, "to_the_second", None)  # an OutputTable's RowFields
        if to_the_second is not None:
            return replace(output, fields=to_the_second())
        fields = {k: v.replace(microsecond=0) if isinstance(v, datetime) else v for k, v in output.fields.items()}
        return replace(output, fields=fields)

    def read_live(self, batch: list[RecordChange]) -> dict[str, dict[str, Any]]:
        """Live values from this run's source read when it happened; by SOQL only for the rest."""
        ids = [c.record_id for c in batch]
        current = self._read_back(ids)
        missing = [i for i in ids if i not in current] + unconfirmed(batch, current)
        return {**current, **self._current(missing)} if missing else current

    def _read_back(self, record_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Mapped values and owners of ``record_ids`` as this run's Salesforce source read them."""
        if self._replica is None:
            return {}
        kinds = {fm.name: fm.type for fm in self.mapping.fields.values()}
        current: dict[str, dict[str, Any]] = {}
        for row in self._replica.replica(SYSTEM, "Account", record_ids):
            current[row.record_id] = {f: _normalise(row.payload.get(f), k) for f, k in kinds.items()}
            self._owners[row.record_id] = row.payload.get("OwnerId")
        return current

    def _current(self, record_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Mapped field values (normalised to what :func:`format_value` produces) per record; their owners
        are kept for tasks."""
        fields = self.mapping.remote_fields()
        kinds = {fm.name: fm.type for fm in self.mapping.fields.values()}
        current: dict[str, dict[str, Any]] = {}
        soql = (f"SELECT Id, OwnerId, {', '.join(fields)} FROM {self.object} "
                f"WHERE Id IN ({', '.join(soql_quote(i) for i in record_ids)})")
        try:
            for row in self._client.query_iter(soql):
                current[row["Id"]] = {f: _normalise(row.get(f), kinds[f]) for f in fields}
                self._owners[row["Id"]] = row.get("OwnerId")
        except SalesforceMalformedRequest as exc:
            if "INVALID_FIELD" not in str(exc.content):
                raise
            raise FieldsMissing(f"salesforce: mapped {self.object} fields are missing ({_codes(exc.content)}); "
                                "run `connector setup` (or `connector check` to list them)") from None
        return current

    def batches(self, changes: Iterator[RecordChange], pending: Counted, report: SinkReport
                ) -> Iterator[list[RecordChange]]:
        """Composite calls of 1,000, or one Bulk 2.0 job once ``bulk_threshold`` records changed; each batch
        only while the daily budget allows it."""
        head = list(islice(changes, self.sf.bulk_threshold))
        self._bulk = len(head) >= self.sf.bulk_threshold
        sent = 0
        for batch in batched(chain(head, changes), BULK_JOB_RECORDS if self._bulk else COMPOSITE_LIMIT):
            if not self._budget().allows(_BULK_CALLS if self._bulk else 1):
                report.stopped_reason = self._budget().reason(f"{pending.total() - sent} record updates")
                return
            yield batch
            sent += len(batch)

    def send_batch(self, batch: list[RecordChange]) -> Failed:
        rows = [{"Id": c.record_id, **c.values} for c in batch]
        if self._bulk:
            results = self._client.bulk_update(self.object, rows)
        else:
            results = self._client.update_records([{"attributes": {"type": self.object}, **r} for r in rows])
        failed: Failed = {}
        for index, change in enumerate(batch):  # results match the batch by position
            result = results[index] if index < len(results) else None
            if result is None:
                failed[change.record_id] = (None, "no result returned for this record")
            elif not result.success:
                field = next((e.fields[0] for e in result.errors if e.fields), None)
                failed[change.record_id] = (field, "; ".join(f"{e.status_code}: {e.message}" for e in result.errors)
                                            or "failed")
        return failed

    def after_fields(self, ctx: SinkContext, tasks: Sequence[TaskSpec], report: SinkReport) -> None:
        """Tasks, on the first Salesforce record of each account; owners not read with the fields are read."""
        records = self.remote_ids(ctx)
        wanted = {ids[0] for t in tasks if (ids := records(t.account_id))} - self._owners.keys()
        for chunk in batched(sorted(wanted), _IDS_PER_QUERY):
            if missing := sorted(set(chunk) - self._read_back(chunk).keys()):
                self._current(missing)
        TaskLedger(ctx, _TaskWire(self, records), report).sync(tasks)

    def stopped(self, exc: Exception) -> str:
        assert isinstance(exc, SalesforceRefusedRequest)
        return f"Salesforce refused the request ({exc.status}): {_codes(exc.content)}"


class _TaskWire(TaskTransport):
    """Tasks upserted on the external-id key field, 1,000 per Composite call or one Bulk 2.0 upsert job
    once a batch reaches ``bulk_threshold``."""

    system, object, batch_size, upserts, parent_field, parent_label = (
        SYSTEM, "Task", BULK_JOB_RECORDS, True, "WhatId", "Salesforce account")
    owner_field, due_field = "OwnerId", "ActivityDate"

    def __init__(self, sink: SalesforceSink, records: Callable[[str], list[str]]):
        self.sink, self.records = sink, records

    def parent(self, spec: TaskSpec) -> str | None:
        ids = self.records(spec.account_id)
        return ids[0] if ids and ids[0] in self.sink._owners else None

    def encode(self, spec: TaskSpec, parent: str | None) -> dict[str, Any] | None:
        if parent is None:
            return None
        owner = spec.owner_id if (spec.owner_id or "").startswith("005") else self.sink._owners.get(parent)
        return {"Subject": spec.subject[:255], "Description": spec.body[:32000],
                "ActivityDate": spec.due_date.isoformat(), "Priority": spec.priority, "OwnerId": owner,
                "WhatId": parent}

    def changed(self, cursor: str | None) -> Iterator[tuple[RemoteTask, str]]:
        return salesforce_changes(self.sink._client, self.sink.task_key, self.sink.close_status)(cursor)

    def lookup(self, keys: Sequence[str]) -> dict[str, str]:
        key, found = self.sink.task_key, {}
        for chunk in batched(keys, _IDS_PER_QUERY):
            soql = f"SELECT Id, {key} FROM Task WHERE {key} IN ({', '.join(soql_quote(k) for k in chunk)})"
            found.update({str(r[key]): str(r["Id"]) for r in self.sink._client.query_iter(soql)})
        return found

    def halt(self, pending: Callable[[], int]) -> str | None:
        budget = self.sink._budget()
        return None if budget.allows(1) else budget.reason(f"{pending()} task writes")

    def send(self, actions: Sequence[TaskAction]) -> list[TaskResult]:
        key = self.sink.task_key
        records = [{"attributes": {"type": "Task"}, key: a.spec.key,
                    **({"Status": self.sink.close_status} if a.kind == "close_task" else
                       {**a.payload, **({"Status": "Not Started"} if a.reopen else {})})} for a in actions]
        client = self.sink._client
        try:
            if len(records) >= self.sink.sf.bulk_threshold:
                results = client.bulk_upsert("Task", key, records)
            else:
                results = [r for chunk in batched(records, COMPOSITE_LIMIT)
                           for r in client.upsert_records("Task", key, chunk)]
        except SalesforceMalformedRequest as exc:
            raise TasksRefused(key, f"{_codes(exc.content)}; run `connector setup` to create Task.{key}") from None
        return [TaskResult(r.success, r.record_id, r.created, next((e.fields[0] for e in r.errors if e.fields), None),
                           "; ".join(f"{e.status_code}: {e.message}" for e in r.errors) or None) for r in results]


class _LazyBudget:
    """The daily budget, read (one ``/limits`` call) only once something is about to be written."""

    def __init__(self, make: Callable[[], DailyBudget]):
        self._make = make
        self._budget: DailyBudget | None = None

    def __call__(self) -> DailyBudget:
        if self._budget is None:
            self._budget = self._make()
        return self._budget


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
