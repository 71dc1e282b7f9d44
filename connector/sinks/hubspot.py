"""Write Success Vector fields onto HubSpot companies and keep CS tasks in step, with the fewest calls.

* **Which company**: the account id itself when HubSpot is the primary CRM, else the HubSpot companies
  identity matched to the account (``store.matched_entities("hubspot", "company")``).
* **What to send**: :func:`stream_changes` against the last confirmed values, so an unchanged re-sync makes
  no call at all.  With ``detect_drift`` the records about to be written are batch-read first (100 per
  call) and fields a person edited since are reported as drift (``on_drift``: skip or overwrite).
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
from connector.clients.hubspot import HubSpotApiError, HubSpotClient
from connector.config import Config
from connector.mappings import FieldMapping, load_mapping
from connector.mappings import Mapping as FieldMap
from connector.records import AccountOutput, TaskSpec
from connector.sinks.base import (
    FieldProblem,
    PlannedChange,
    RecordChange,
    RecordFailure,
    SinkContext,
    SinkReport,
    apply_drift,
    planned_updates,
    stream_changes,
)
from connector.store import TaskLedgerEntry

NAME, COMPANIES, TASKS = "hubspot", "companies", "tasks"
BATCH = 100  # inputs per batch call: https://developers.hubspot.com/docs/api/crm/understanding-the-crm
TASK_TO_COMPANY = 192  # HUBSPOT_DEFINED association type task → company
#: canonical mapping type → (HubSpot type, fieldType)
HUBSPOT_TYPES = {"number": ("number", "number"), "integer": ("number", "number"), "percent": ("number", "number"),
                 "text": ("string", "text"), "textarea": ("string", "textarea"), "date": ("date", "date"),
                 "datetime": ("datetime", "date"), "picklist": ("enumeration", "select")}
PRIORITY = {"High": "HIGH", "Normal": "MEDIUM", "Low": "LOW"}
TASK_TYPE = {"call": "CALL", "email": "EMAIL", "email_other_sender": "EMAIL", "sms": "TODO", "task": "TODO"}


class HubSpotSink:
    name = NAME

    def __init__(self, config: Config):
        self.config = config

    def _open(self, ctx: SinkContext) -> tuple[HubSpotClient, FieldMap]:
        cfg = ctx.config.hubspot
        if cfg is None:
            raise ValueError("hubspot sink used without a [hubspot] section in the config")
        return HubSpotClient(cfg, ctx.http), load_mapping(ctx.config.resolve(cfg.mapping))

    # -- setup and check -------------------------------------------------------------------------------

    def setup(self, ctx: SinkContext, dry_run: bool) -> list[PlannedChange]:
        """Create the property group and every mapped property (plus the task key property) if missing."""
        client, mapping = self._open(ctx)
        group = mapping.setting("property_group", "customer_success")
        label = mapping.setting("property_group_label", "Customer Success")
        planned: list[PlannedChange] = []
        for obj, wanted in wanted_properties(mapping).items():
            groups = client.call(f"list {obj} property groups", client.crm.properties.groups_api.get_all, obj)
            if group not in {g.name for g in groups.results}:
                planned.append(PlannedChange(NAME, obj, group, "create_field", group, None, "property group"))
                if not dry_run:
                    client.call(f"create {obj} property group {group}", client.crm.properties.groups_api.create,
                                obj, {"name": group, "label": label})
            existing = {p.name for p in _properties(client, obj)}
            for spec in wanted:
                if spec["name"] in existing:
                    continue
                planned.append(PlannedChange(NAME, obj, spec["name"], "create_field", spec["name"], None, spec["type"]))
                if not dry_run:
                    client.call(f"create {obj} property {spec['name']}", client.crm.properties.core_api.create,
                                obj, {**spec, "groupName": group})
        return planned

    def check(self, ctx: SinkContext) -> list[FieldProblem]:
        client, mapping = self._open(ctx)
        problems: list[FieldProblem] = []
        for obj, wanted in wanted_properties(mapping).items():
            existing = {p.name: p for p in _properties(client, obj)}
            for spec in wanted:
                found = existing.get(spec["name"])
                if found is None:
                    problems.append(FieldProblem(NAME, obj, spec["name"], "missing"))
                elif (found.type, found.field_type) != (spec["type"], spec["fieldType"]):
                    problems.append(FieldProblem(NAME, obj, spec["name"], f"wrong type: expected {spec['type']}/"
                                                 f"{spec['fieldType']}, found {found.type}/{found.field_type}"))
                elif getattr(found.modification_metadata, "read_only_value", False):
                    problems.append(FieldProblem(NAME, obj, spec["name"], "not writable (a read-only property)"))
        return problems

    # -- write -----------------------------------------------------------------------------------------

    def write(self, ctx: SinkContext, outputs: Sequence[AccountOutput], tasks: Sequence[TaskSpec]) -> SinkReport:
        report = SinkReport(NAME)
        client, mapping = self._open(ctx)
        companies = self._companies(ctx)
        targets = ((cid, o) for o in outputs for cid in companies(o.account_id))
        try:
            _FieldWriter(ctx, client, mapping, report).write(targets)
            if tasks:
                _TaskWriter(ctx, client, mapping, report).write(tasks, companies)
        except HubSpotApiError as exc:
            if exc.status != 429:
                raise
            report.stopped_reason = (f"HubSpot rate limit ({exc.body.get('policyName', 'unknown')}) still refused "
                                     "after retries; unwritten changes are retried next run")
        return report

    def _companies(self, ctx: SinkContext) -> Callable[[str], list[str]]:
        """account id → its HubSpot company ids (itself when HubSpot is primary, else identity's matches)."""
        if ctx.config.connector.primary_crm == NAME:
            return lambda account_id: [account_id]
        matched = ctx.store.matched_entities(NAME, "company")
        return lambda account_id: sorted(matched.get(account_id, []))


class _FieldWriter:
    def __init__(self, ctx: SinkContext, client: HubSpotClient, mapping: FieldMap, report: SinkReport):
        self.ctx, self.client, self.mapping, self.report = ctx, client, mapping, report

    def write(self, targets: Iterable[tuple[str, AccountOutput]]) -> None:
        """Diff → (batch-read live values, drift) → batch update, streamed: one batch in memory per stage."""
        changes = stream_changes(self.ctx.store, NAME, COMPANIES, self.mapping, targets)
        if self.mapping.setting("detect_drift", True):
            changes = self._drift_checked(changes, str(self.mapping.setting("on_drift", "skip")))
        if self.ctx.dry_run:
            self.report.planned.extend(planned_updates(NAME, COMPANIES, changes))
            return
        for chunk in batched(changes, BATCH):
            self._update(chunk)

    def _drift_checked(self, changes: Iterable[RecordChange], on_drift: str) -> Iterator[RecordChange]:
        for batch in batched(changes, BATCH):
            kept, drift = apply_drift(NAME, COMPANIES, self.mapping, batch, self._read_current(batch), on_drift)
            self.report.drift.extend(drift)
            yield from kept

    def _read_current(self, batch: list[RecordChange]) -> dict[str, dict[str, Any]]:
        """Live values of the owned properties, normalised so an unedited value equals what we wrote."""
        fields = {fm.name: fm for fm in self.mapping.fields.values()}
        written = {c.record_id: c.written for c in batch}
        body = {"inputs": [{"id": i} for i in written], "properties": list(fields), "propertiesWithHistory": []}
        answer = self.client.call("batch read companies", self.client.crm.companies.batch_api.read, body)
        current: dict[str, dict[str, Any]] = {}
        for obj in answer.results:
            props, last = obj.properties or {}, written.get(obj.id) or {}
            current[obj.id] = {n: _live(props.get(n), fm, last.get(n)) for n, fm in fields.items()}
        return current

    def _update(self, chunk: list[RecordChange]) -> None:
        inputs = [{"id": c.record_id, "properties": {f: _wire(v) for f, v in c.values.items()}} for c in chunk]
        try:
            answer = self.client.call("batch update companies", self.client.crm.companies.batch_api.update,
                                      {"inputs": inputs})
        except HubSpotApiError as exc:
            if exc.status not in (400, 404):
                raise
            if len(chunk) > 1:  # refused whole: split to isolate the bad record(s)
                middle = len(chunk) // 2
                self._update(chunk[:middle])
                self._update(chunk[middle:])
                return
            self._settle(chunk, {chunk[0].record_id: (_problem_field(exc.body), exc.message)})
            return
        self._settle(chunk, _failed_records(getattr(answer, "errors", None) or []))

    def _settle(self, chunk: list[RecordChange], failed: dict[str, tuple[str | None, str]]) -> None:
        ok = [c for c in chunk if c.record_id not in failed]
        self.ctx.store.record_written(NAME, COMPANIES, [(c.record_id, f, v) for c in ok for f, v in c.values.items()],
                                      self.ctx.run_id)
        self.report.records_updated += len(ok)
        self.report.fields_written += sum(len(c.values) for c in ok)
        for c in chunk:
            if c.record_id in failed:
                field, message = failed[c.record_id]
                self.report.failures.append(RecordFailure(NAME, COMPANIES, c.record_id, field, message))
        self.ctx.store.log_records(self.ctx.run_id, [
            (NAME, COMPANIES, c.record_id, "update", "failed" if c.record_id in failed else "ok",
             failed.get(c.record_id, (None, None))[1]) for c in chunk])


class _TaskWriter:
    def __init__(self, ctx: SinkContext, client: HubSpotClient, mapping: FieldMap, report: SinkReport):
        self.ctx, self.client, self.report = ctx, client, report
        self.key_property = str(mapping.setting("task_key_property", "cs_task_key"))

    def write(self, tasks: Sequence[TaskSpec], companies: Callable[[str], list[str]]) -> None:
        ledger = self.ctx.store.tasks(NAME)
        found = self._lookup([t.key for t in tasks if not (t.key in ledger and ledger[t.key].remote_id)])
        owners = self._owners() if any(t.owner_id for t in tasks) else {}
        creates: list[tuple[TaskSpec, dict[str, str], str]] = []
        updates: list[tuple[TaskSpec, dict[str, str], str]] = []
        for spec in tasks:
            props = task_properties(spec, self.key_property, owners.get((spec.owner_id or "").lower()))
            entry = ledger.get(spec.key)
            remote = (entry.remote_id if entry else None) or found.get(spec.key)
            if remote and entry and entry.fingerprint == _fingerprint(props):
                continue
            if remote:
                updates.append((spec, props, remote))
            elif spec.status == "open" and (company := companies(spec.account_id)):
                creates.append((spec, props, company[0]))
            elif spec.status == "open":
                self.report.failures.append(RecordFailure(NAME, TASKS, None, None, f"task {spec.key}: account "
                                                          f"{spec.account_id} has no matched HubSpot company"))
        if self.ctx.dry_run:
            self.report.planned += [PlannedChange(NAME, TASKS, s.key, "create_task", None, None, p["hs_task_subject"],
                                                  s.account_id) for s, p, _ in creates]
            self.report.planned += [PlannedChange(NAME, TASKS, r, _update_action(s), "hs_task_status", None,
                                                  p["hs_task_status"], s.account_id) for s, p, r in updates]
            return
        for chunk in batched(creates, BATCH):
            self._create(chunk)
        for chunk in batched(updates, BATCH):
            self._update(chunk)

    def _lookup(self, keys: list[str]) -> dict[str, str]:
        """HubSpot ids of tasks already carrying these keys (the ledger lost them, or never had them)."""
        found: dict[str, str] = {}
        for chunk in batched(keys, 100):  # IN takes at most 100 values
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

    def _owners(self) -> dict[str, str]:
        """owner id and lower-cased e-mail → HubSpot owner id (what an output's owner_id may be)."""
        index: dict[str, str] = {}
        after: str | None = None
        while True:
            page = self.client.call("list owners", self.client.crm.owners.owners_api.get_page, limit=500, after=after)
            for owner in page.results:
                index[str(owner.id)] = str(owner.id)
                if owner.email:
                    index[owner.email.lower()] = str(owner.id)
            after = page.paging.next.after if page.paging and page.paging.next else None
            if after is None:
                return index

    def _create(self, chunk: list[tuple[TaskSpec, dict[str, str], str]]) -> None:
        inputs = [{"properties": props, "objectWriteTraceId": spec.key,
                   "associations": [{"to": {"id": company}, "types": [
                       {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TASK_TO_COMPANY}]}]}
                  for spec, props, company in chunk]
        answer = self.client.call("batch create tasks", self.client.crm.objects.tasks.batch_api.create,
                                  {"inputs": inputs})
        created = {r.properties.get(self.key_property): r.id for r in answer.results}
        errors = {trace: err.message for err in getattr(answer, "errors", None) or []
                  for trace in (err.context or {}).get("objectWriteTraceId", [])}
        self._settle([(s, p, created.get(s.key)) for s, p, _ in chunk], errors, "create")

    def _update(self, chunk: list[tuple[TaskSpec, dict[str, str], str]]) -> None:
        inputs = [{"id": remote, "properties": props} for _, props, remote in chunk]
        answer = self.client.call("batch update tasks", self.client.crm.objects.tasks.batch_api.update,
                                  {"inputs": inputs})
        failed = _failed_records(getattr(answer, "errors", None) or [])
        by_remote = {remote: spec.key for spec, _, remote in chunk}
        self._settle(list(chunk), {by_remote[r]: m for r, (_, m) in failed.items() if r in by_remote}, "update")

    def _settle(self, done: Iterable[tuple[TaskSpec, dict[str, str], str | None]], errors: dict[str, str],
                action: str) -> None:
        now, entries = datetime.now(UTC), []
        ledger = self.ctx.store.tasks(NAME)
        for spec, props, remote in done:
            if spec.key in errors or remote is None:
                message = errors.get(spec.key, "HubSpot did not return the task")
                self.report.failures.append(RecordFailure(NAME, TASKS, remote, None, f"task {spec.key}: {message}"))
                continue
            previous = ledger.get(spec.key)
            entries.append(TaskLedgerEntry(NAME, spec.key, spec.account_id, spec.play, spec.step, remote, spec.status,
                                           _fingerprint(props), previous.created_at if previous else now, now))
            if action == "create":
                self.report.tasks_created += 1
            elif spec.status == "closed":
                self.report.tasks_closed += 1
            else:
                self.report.tasks_updated += 1
        self.ctx.store.upsert_tasks(entries)


def task_properties(spec: TaskSpec, key_property: str, owner_id: str | None) -> dict[str, str]:
    """A TaskSpec in HubSpot's task properties (``hs_timestamp`` is required: the due date, midnight UTC)."""
    props = {"hs_timestamp": datetime.combine(spec.due_date, time(0), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
             "hs_task_subject": spec.subject[:255], "hs_task_body": spec.body,
             "hs_task_status": "COMPLETED" if spec.status == "closed" else "NOT_STARTED",
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


def _properties(client: HubSpotClient, obj: str) -> list[Any]:
    return list(client.call(f"list {obj} properties", client.crm.properties.core_api.get_all, obj).results)


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


def _fingerprint(props: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(props, sort_keys=True).encode()).hexdigest()[:32]


def _update_action(spec: TaskSpec) -> str:
    return "close_task" if spec.status == "closed" else "update_task"
