"""Write Success Vector fields onto HubSpot companies and keep CS tasks in step, with the fewest calls.

* **Which company**: the account id itself when HubSpot is the primary CRM, else the HubSpot companies
  identity matched to the account (``store.matched_entities("hubspot", "company")``).
* **What to send**: :func:`stream_changes` against the last confirmed values, so an unchanged re-sync makes
  no call at all.  With ``detect_drift`` the live values of the records about to be written come from this
  run's HubSpot source read (which selects the owned properties too), ``batch/read`` (100 per call) only
  for records it did not read; fields a person edited since are reported as drift (``on_drift``: skip or
  overwrite).
* **How**: ``batch/update`` with 100 inputs per call (HubSpot's maximum).  A 207 answer is settled record
  by record: successes are recorded as written, failures reported (record, field, message) and left
  unrecorded so the next run retries them.  A batch refused whole (400) is split in halves until the bad
  record is isolated (as Hightouch and Census do).
* **Tasks**: keyed by ``TaskSpec.key`` in a custom task property (``task_key_property``).  The task ledger
  maps keys to HubSpot ids; keys it lacks (state store lost) are looked up by search (``IN``, ≤ 100 values)
  before anything is created, so tasks are never duplicated.  Unchanged tasks (same fingerprint) cost
  nothing; ``status == "closed"`` completes the task.  New tasks are associated to their company inline
  (task→company type 192).
* 429s are waited out by the HttpLayer; if a limit (e.g. the daily one) still refuses, the run stops
  with ``stopped_reason`` and the rest is retried next run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, time
from typing import Any

from connector.batching import batched
from connector.clients.hubspot import LIVE_MARK, HubSpotApiError, HubSpotClient
from connector.config import Config
from connector.mappings import FieldMapping, load_mapping
from connector.mappings import Mapping as FieldMap
from connector.records import TaskSpec
from connector.sinks.base import (
    Failed,
    FieldSink,
    FieldSpec,
    PlannedChange,
    RecordChange,
    SinkContext,
    SinkReport,
    unconfirmed,
)
from connector.sinks.readback import RemoteTask, hubspot_changes
from connector.sinks.tasks import TaskAction, TaskLedger, TaskResult, TaskTransport

NAME, COMPANIES, TASKS = "hubspot", "companies", "tasks"
BATCH = 100  # inputs per batch call: https://developers.hubspot.com/docs/api/crm/understanding-the-crm
TASK_TO_COMPANY = 192  # HUBSPOT_DEFINED association type task → company
#: canonical mapping type → (HubSpot type, fieldType)
HUBSPOT_TYPES = {"number": ("number", "number"), "integer": ("number", "number"), "percent": ("number", "number"),
                 "text": ("string", "text"), "textarea": ("string", "textarea"), "date": ("date", "date"),
                 "datetime": ("datetime", "date"), "picklist": ("enumeration", "select")}
PRIORITY = {"High": "HIGH", "Normal": "MEDIUM", "Low": "LOW"}
TASK_TYPE = {"call": "CALL", "email": "EMAIL", "email_other_sender": "EMAIL", "sms": "TODO", "task": "TODO"}


class HubSpotSink(FieldSink):
    name, object, entity, batch_size = NAME, COMPANIES, "company", BATCH
    stop_on = (HubSpotApiError,)

    def __init__(self, config: Config):
        if config.hubspot is None:
            raise ValueError("hubspot sink used without a [hubspot] section in the config")
        self.config, self.cfg = config, config.hubspot
        self.mapping = load_mapping(config.resolve(self.cfg.mapping))
        self.live_batch = BATCH if self.mapping.setting("detect_drift", True) else 0
        self.on_drift = str(self.mapping.setting("on_drift", "skip"))
        self.key_property = str(self.mapping.setting("task_key_property", "cs_task_key"))

    def begin(self, ctx: SinkContext) -> None:
        self.client = HubSpotClient(self.cfg, ctx.http)
        fresh = ctx.store.get_cursor(NAME, LIVE_MARK) == ctx.now.isoformat()
        self._replica = ctx.store if fresh else None

    # -- setup and check -------------------------------------------------------------------------------

    def wanted_fields(self) -> list[FieldSpec]:
        return [FieldSpec(obj, p["name"], f"{p['type']}/{p['fieldType']}", p)
                for obj, props in wanted_properties(self.mapping).items() for p in props]

    def existing_fields(self, ctx: SinkContext) -> dict[str, dict[str, Any]]:
        self.begin(ctx)
        call, get_all = self.client.call, self.client.crm.properties.core_api.get_all
        return {obj: {p.name: p for p in call(f"list {obj} properties", get_all, obj).results}
                for obj in (COMPANIES, TASKS)}

    def field_problem(self, spec: FieldSpec, found: Any) -> str | None:
        if (have := f"{found.type}/{found.field_type}") != spec.type:
            return f"wrong type: expected {spec.type}, found {have}"
        if getattr(found.modification_metadata, "read_only_value", False):
            return "not writable (a read-only property)"
        return None

    def setup_containers(self, ctx: SinkContext, dry_run: bool) -> list[PlannedChange]:
        """The property group every mapped property goes in, per object."""
        group = self.mapping.setting("property_group", "customer_success")
        label = self.mapping.setting("property_group_label", "Customer Success")
        groups_api, planned = self.client.crm.properties.groups_api, []
        for obj in (COMPANIES, TASKS):
            if group not in {g.name for g in self.client.call(f"list {obj} property groups", groups_api.get_all,
                                                              obj).results}:
                planned.append(PlannedChange(NAME, obj, group, "create_field", group, None, "property group"))
                if not dry_run:
                    self.client.call(f"create {obj} property group {group}", groups_api.create, obj,
                                     {"name": group, "label": label})
        return planned

    def create_field(self, ctx: SinkContext, spec: FieldSpec) -> None:
        group = self.mapping.setting("property_group", "customer_success")
        self.client.call(f"create {spec.object} property {spec.name}", self.client.crm.properties.core_api.create,
                         spec.object, {**spec.meta, "groupName": group})

    # -- write -----------------------------------------------------------------------------------------

    def read_live(self, batch: list[RecordChange]) -> dict[str, dict[str, Any]]:
        """Live values of the owned properties, normalised so an unedited value equals what we wrote: from
        this run's source read (it selects them, :data:`LIVE_MARK`), by ``batch/read`` only for the rest."""
        fields = {fm.name: fm for fm in self.mapping.fields.values()}
        written = {c.record_id: c.written for c in batch}

        def normal(rid: str, props: dict[str, Any]) -> dict[str, Any]:
            return {n: _live(props.get(n), fm, (written.get(rid) or {}).get(n)) for n, fm in fields.items()}

        live: dict[str, dict[str, Any]] = {}
        if self._replica is not None:
            live = {r.record_id: normal(r.record_id, r.payload)
                    for r in self._replica.replica(NAME, COMPANIES, list(written))}
        if missing := [i for i in written if i not in live] + unconfirmed(batch, live):
            body = {"inputs": [{"id": i} for i in missing], "properties": list(fields), "propertiesWithHistory": []}
            answer = self.client.call("batch read companies", self.client.crm.companies.batch_api.read, body)
            live.update({obj.id: normal(obj.id, obj.properties or {}) for obj in answer.results})
        return live

    def send_batch(self, batch: list[RecordChange]) -> Failed:
        """One ``batch/update``; a batch refused whole (400/404) is split in halves to isolate the bad record."""
        inputs = [{"id": c.record_id, "properties": {f: _wire(v) for f, v in c.values.items()}} for c in batch]
        try:
            answer = self.client.call("batch update companies", self.client.crm.companies.batch_api.update,
                                      {"inputs": inputs})
        except HubSpotApiError as exc:
            if exc.status not in (400, 404):
                raise
            if len(batch) > 1:
                middle = len(batch) // 2
                return {**self.send_batch(batch[:middle]), **self.send_batch(batch[middle:])}
            return {batch[0].record_id: (_problem_field(exc.body), exc.message)}
        return _failed_records(getattr(answer, "errors", None) or [])

    def after_fields(self, ctx: SinkContext, tasks: Sequence[TaskSpec], report: SinkReport) -> None:
        TaskLedger(ctx, _TaskWire(self, self.remote_ids(ctx)), report).sync(tasks)

    def read_back(self, ctx: SinkContext) -> int:
        """Record what people did to the connector's tasks since the last read (see ``sinks/readback.py``)."""
        self.begin(ctx)
        return TaskLedger(ctx, _TaskWire(self, self.remote_ids(ctx)), SinkReport(NAME)).read_back()

    def stopped(self, exc: Exception) -> str:
        if not isinstance(exc, HubSpotApiError) or exc.status != 429:
            raise exc
        return (f"HubSpot rate limit ({exc.body.get('policyName', 'unknown')}) still refused after retries; "
                "unwritten changes are retried next run")


class _TaskWire(TaskTransport):
    """Tasks created (associated to their company inline) or updated by id, found by key through search."""

    system, object, batch_size, parent_label = NAME, TASKS, BATCH, "matched HubSpot company"
    owner_field, due_field = "hubspot_owner_id", "hs_timestamp"

    def __init__(self, sink: HubSpotSink, companies: Callable[[str], list[str]]):
        self.client, self.key_property, self.companies = sink.client, sink.key_property, companies
        self._owners: dict[str, str] | None = None

    def parent(self, spec: TaskSpec) -> str | None:
        return next(iter(self.companies(spec.account_id)), None)

    def encode(self, spec: TaskSpec, parent: str | None) -> dict[str, Any]:
        owner = self.owners().get(spec.owner_id.lower()) if spec.owner_id else None
        return task_properties(spec, self.key_property, owner)

    def fingerprint(self, payload: dict[str, Any], status: str) -> str:
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]

    def lane(self, action: TaskAction) -> str:
        return "archive" if action.kind == "close_task" else "create" if action.remote_id is None else "update"

    def changed(self, cursor: str | None) -> Iterator[tuple[RemoteTask, str]]:
        return hubspot_changes(self.client, self.key_property)(cursor)

    def lookup(self, keys: Sequence[str]) -> dict[str, str]:
        """HubSpot ids of tasks already carrying these keys (search ``IN`` takes at most 100 values)."""
        found: dict[str, str] = {}
        for chunk in batched(keys, 100):
            after: str | None = None
            while True:
                request: dict[str, Any] = {"filterGroups": [{"filters": [
                    {"propertyName": self.key_property, "operator": "IN", "values": list(chunk)}]}],
                    "properties": [self.key_property], "limit": 200}
                if after:
                    request["after"] = after
                page = self.client.call("search tasks by key", self.client.crm.objects.tasks.search_api.do_search,
                                        request)
                found.update({r.properties[self.key_property]: r.id for r in page.results})
                after = page.paging.next.after if page.paging and page.paging.next else None
                if after is None:
                    break
        return found

    def owners(self) -> dict[str, str]:
        """owner id and lower-cased e-mail → HubSpot owner id (what an output's owner_id may be); read once."""
        if self._owners is None:
            self._owners, after = {}, None
            while True:
                page = self.client.call("list owners", self.client.crm.owners.owners_api.get_page, limit=500,
                                        after=after)
                for owner in page.results:
                    self._owners[str(owner.id)] = str(owner.id)
                    if owner.email:
                        self._owners[owner.email.lower()] = str(owner.id)
                after = page.paging.next.after if page.paging and page.paging.next else None
                if after is None:
                    break
        return self._owners

    def send(self, actions: Sequence[TaskAction]) -> list[TaskResult]:
        batch_api = self.client.crm.objects.tasks.batch_api
        if actions[0].kind == "close_task":
            # HubSpot has no custom task status: a task no longer needed is archived (it leaves the CSM's
            # queue without counting as done, restorable for 90 days); the ledger keeps the close reason.
            self.client.call("batch archive tasks", batch_api.archive,
                             {"inputs": [{"id": a.remote_id} for a in actions]})
            return [TaskResult(True, a.remote_id) for a in actions]
        if actions[0].remote_id is None:
            inputs = [{"properties": a.payload, "objectWriteTraceId": a.spec.key,
                       "associations": [{"to": {"id": a.parent}, "types": [
                           {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TASK_TO_COMPANY}]}]}
                      for a in actions]
            answer = self.client.call("batch create tasks", batch_api.create, {"inputs": inputs})
            created = {r.properties.get(self.key_property): r.id for r in answer.results}
            errors = {trace: err.message for err in getattr(answer, "errors", None) or []
                      for trace in (err.context or {}).get("objectWriteTraceId", [])}
            return [TaskResult(True, created[a.spec.key], created=True) if a.spec.key in created and
                    a.spec.key not in errors else
                    TaskResult(False, message=errors.get(a.spec.key, "HubSpot did not return the task"))
                    for a in actions]
        answer = self.client.call("batch update tasks", batch_api.update,
                                  {"inputs": [{"id": a.remote_id, "properties": a.payload} for a in actions]})
        failed = _failed_records(getattr(answer, "errors", None) or [])
        results = []
        for a in actions:
            problem = failed.get(str(a.remote_id))
            message = problem[1] if problem else None
            results.append(TaskResult(problem is None, a.remote_id, message=message,
                                      gone=bool(message and message.startswith("OBJECT_NOT_FOUND"))))
        return results


def task_properties(spec: TaskSpec, key_property: str, owner_id: str | None) -> dict[str, str]:
    """A TaskSpec in HubSpot's task properties (``hs_timestamp`` is required: the due date, midnight UTC)."""
    props = {"hs_timestamp": datetime.combine(spec.due_date, time(0), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
             "hs_task_subject": spec.subject[:255], "hs_task_body": spec.body,
             "hs_task_status": "NOT_STARTED",  # never COMPLETED: a closed task is archived (_TaskWire.send)
             "hs_task_priority": PRIORITY[spec.priority], "hs_task_type": TASK_TYPE.get(spec.channel, "TODO"),
             key_property: spec.key}
    if owner_id:
        props["hubspot_owner_id"] = owner_id
    return props


def wanted_properties(mapping: FieldMap) -> dict[str, list[dict[str, Any]]]:
    """Property definitions ``setup`` creates, per object type (without the group)."""
    companies = []
    for fm in mapping.fields.values():
        ptype, ftype = HUBSPOT_TYPES[fm.type]
        spec: dict[str, Any] = {"name": fm.name, "label": fm.label, "type": ptype, "fieldType": ftype,
                                "description": fm.description}
        if fm.type == "picklist":
            spec["options"] = [{"label": o, "value": o, "displayOrder": i} for i, o in enumerate(fm.options)]
        companies.append(spec)
    key = str(mapping.setting("task_key_property", "cs_task_key"))
    task_key = {"name": key, "label": "CS task key", "type": "string", "fieldType": "text",
                "description": "Set by the Customer Success connector: makes task writes idempotent",
                "hasUniqueValue": True}
    return {COMPANIES: companies, TASKS: [task_key]}


def _failed_records(errors: Iterable[Any]) -> dict[str, tuple[str | None, str]]:
    """record id → (field, message) from a 207 answer's ``errors[]``."""
    failed: dict[str, tuple[str | None, str]] = {}
    for err in errors:
        details = err.errors or []
        field = next((d.context.get("propertyName", [None])[0] for d in details if d.context), None)
        message = "; ".join(f"{d.code}: {d.message}" if d.code else d.message for d in details) or err.message
        for record_id in (err.context or {}).get("ids", []):
            failed[record_id] = (field, f"{err.category}: {message}")
    return failed


def _problem_field(body: dict[str, Any]) -> str | None:
    for detail in body.get("errors") or []:
        names = (detail.get("context") or {}).get("propertyName") or []
        if names:
            return str(names[0])
    return None


def _wire(value: Any) -> str:
    """HubSpot property values are strings; ``""`` clears a value."""
    return "" if value is None else str(value)


def _live(raw: str | None, fm: FieldMapping, previous: str | None) -> Any:
    """A live value, given back as ``previous`` when it means the same (71 vs 71.0, ms-rounded datetimes)."""
    if raw in (None, ""):
        return None
    if previous is not None and _same(raw, previous, fm.type):
        return previous
    return raw


def _same(raw: str, previous: str, kind: str) -> bool:
    try:
        if kind in ("number", "integer", "percent"):
            return float(raw) == float(previous)
        if kind == "date":
            return raw[:10] == previous[:10]
        if kind == "datetime":
            delta = _instant(raw) - _instant(previous)
            return abs(delta.total_seconds()) < 0.001
    except ValueError:
        return False
    return raw == previous


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
