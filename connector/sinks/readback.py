"""Read back what people did to the connector's tasks, so the next plan respects it.

Before scoring, each run reads the tasks the CRM changed since the last read (an incremental cursor on the
modification time, ties broken by id) and turns each into evidence in the task ledger:

* **completed** — the CRM's completed status (Salesforce ``Completed``, HubSpot ``COMPLETED``): a CSM did
  the step (the connector never sets it);
* **dismissed** — deleted, or closed with any other status while the connector still had it open (e.g. a
  CSM picked "Not needed"): not wanted, so not recreated within the play's cooldown;
* **open**, ``touched`` when what the CRM holds differs from what the connector last wrote (same
  fingerprint rule as the write side, so no clock is compared) or its status moved on (In Progress …).

Tasks the connector itself closed are left alone.  A key the ledger lost (state store lost) is adopted, so
the next write updates it instead of creating another.  The CRM's owner and due date are kept with the
evidence: a CSM's reassignment or new due date wins over what the plan would write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from typing import Any

from connector.store import Store, TaskLedgerEntry

CURSOR_STREAM = "task_readback"


@dataclass(frozen=True)
class RemoteTask:
    """A connector task as the CRM holds it now."""

    key: str
    remote_id: str
    parent: str | None
    state: str  # open | completed | closed_other | closed_by_connector (its close status) | deleted
    open_untouched: bool  # still in the default open status with the fields the connector wrote
    fingerprint: str | None
    owner: str | None
    due: date | None
    modified_at: datetime | None
    completed_at: datetime | None


def evidence_entries(system: str, ledger: dict[str, TaskLedgerEntry], remote: Iterable[RemoteTask],
                     now: datetime) -> list[TaskLedgerEntry]:
    """Ledger entries carrying what the CRM says (see the module doc); the connector's closes are skipped."""
    out: list[TaskLedgerEntry] = []
    for task in remote:
        entry = ledger.get(task.key)
        if entry is not None and entry.status == "closed":
            continue  # the connector closed it itself (with its close status and a reason)
        if entry is None and task.state == "closed_by_connector":
            out.append(TaskLedgerEntry(system, task.key, task.parent or "", "plan", 0, task.remote_id, "closed",
                                       None, now, now))  # the ledger was lost: adopt the connector's close
            continue
        if task.state == "deleted":
            state, at = "dismissed", task.modified_at
        elif task.state == "completed":
            state, at = "completed", task.completed_at or task.modified_at
        elif task.state in ("closed_other", "closed_by_connector"):  # a person chose it while we had it open
            state, at = "dismissed", task.completed_at or task.modified_at
        else:
            state, at = "open", task.modified_at
        touched = state == "open" and (not task.open_untouched or entry is None
                                       or entry.fingerprint != task.fingerprint)
        base = entry or TaskLedgerEntry(system, task.key, task.parent or "", "plan", 0, task.remote_id,
                                        "open" if state == "open" else "closed", None, now, now)
        out.append(replace(base, remote_id=task.remote_id, remote_state=state, remote_at=at, touched=touched,
                           remote_due=task.due, remote_owner=task.owner))
    return out


def read_back(store: Store, system: str, changed: Any, now: datetime) -> int:
    """Run one incremental read: ``changed(cursor)`` yields ``(RemoteTask, cursor_after_it)`` pairs in
    cursor order; evidence is recorded and the cursor saved batch by batch.  Returns the tasks read."""
    cursor = store.get_cursor(system, CURSOR_STREAM)
    ledger: dict[str, TaskLedgerEntry] | None = None  # read once something was: a quiet read costs one call
    count, batch, last = 0, [], cursor
    for task, position in changed(cursor):
        ledger = store.tasks(system) if ledger is None else ledger
        batch.append(task)
        last = position
        if len(batch) >= 2000:
            count += store.record_readback(system, evidence_entries(system, ledger, batch, now))
            store.set_cursor(system, CURSOR_STREAM, last)
            batch = []
    if batch:
        count += store.record_readback(system, evidence_entries(system, ledger or {}, batch, now))
    if last is not None and last != cursor:
        store.set_cursor(system, CURSOR_STREAM, last)
    return count


def fingerprint(fields: dict[str, Any], status: str) -> str:
    """The write side's fingerprint of a task (``[fields, status]``, sorted keys)."""
    return hashlib.sha256(json.dumps([fields, status], sort_keys=True).encode()).hexdigest()


# -- Salesforce ------------------------------------------------------------------------------------------

SF_FIELDS = ("Id", "WhatId", "OwnerId", "Status", "IsClosed", "IsDeleted", "CompletedDateTime", "ActivityDate",
             "LastModifiedDate", "Subject", "Description", "Priority")


def salesforce_changes(client: Any, key_field: str, close_status: str, open_status: str = "Not Started") -> Any:
    """``changed(cursor)`` for :func:`read_back`: the connector's tasks modified since the cursor
    (``"<LastModifiedDate>|<Id>"``), deleted ones included (``queryAll``), oldest first, 2,000 per page."""
    from connector.clients.salesforce import parse_sf_datetime, soql_quote

    def changed(cursor: str | None) -> Iterator[tuple[RemoteTask, str]]:
        where = f"{key_field} != null"
        if cursor:
            stamp, _, last_id = cursor.partition("|")
            where += (f" AND (LastModifiedDate > {stamp} OR (LastModifiedDate = {stamp} AND Id > "
                      f"{soql_quote(last_id)}))")
        soql = (f"SELECT {', '.join(SF_FIELDS)}, {key_field} FROM Task WHERE {where} "
                f"ORDER BY LastModifiedDate, Id")
        for row in client.query_iter(soql, deleted=True):
            modified = parse_sf_datetime(row["LastModifiedDate"]) if row.get("LastModifiedDate") else None
            completed = parse_sf_datetime(row["CompletedDateTime"]) if row.get("CompletedDateTime") else None
            if row.get("IsDeleted"):
                state = "deleted"
            elif row.get("IsClosed"):
                state = {"Completed": "completed", close_status: "closed_by_connector"}.get(
                    str(row.get("Status")), "closed_other")
            else:
                state = "open"
            written = {"Subject": row.get("Subject"), "Description": row.get("Description"),
                       "ActivityDate": row.get("ActivityDate"), "Priority": row.get("Priority"),
                       "OwnerId": row.get("OwnerId"), "WhatId": row.get("WhatId")}
            due = date.fromisoformat(row["ActivityDate"]) if row.get("ActivityDate") else None
            task = RemoteTask(str(row[key_field]), str(row["Id"]), row.get("WhatId"), state,
                              row.get("Status") == open_status, fingerprint(written, "open"), row.get("OwnerId"),
                              due, modified, completed)
            moment = (modified or datetime.now(UTC)).astimezone(UTC)
            yield task, f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z|{row['Id']}"

    return changed


def salesforce_close_status(client: Any, status: str, dry_run: bool) -> list[str]:
    """Make sure the TaskStatus value set has ``status`` as a *closed* value (what the connector closes
    its tasks with, so activity reports can exclude it); returns what was (or would be) added."""
    describe = client.describe("Task")
    values = next((f.get("picklistValues") or [] for f in describe["fields"] if f["name"] == "Status"), [])
    if any(v.get("value") == status for v in values):
        return []
    if dry_run:
        return [status]
    rows = list(client.query_iter("SELECT Id, Metadata FROM StandardValueSet WHERE MasterLabel = 'TaskStatus'",
                                  tooling=True))
    if not rows:
        raise RuntimeError("the org exposes no TaskStatus value set; add the status by hand (Setup → Task "
                           f"Fields → Status → New: {status!r}, closed)")
    metadata = dict(rows[0]["Metadata"] or {})
    metadata["standardValue"] = [*(metadata.get("standardValue") or []),
                                 {"fullName": status, "label": status, "default": False, "closed": True}]
    client.call(lambda sf: sf.toolingexecute(f"sobjects/StandardValueSet/{rows[0]['Id']}", method="PATCH",
                                             data={"Metadata": metadata}))
    return [status]


# -- HubSpot ---------------------------------------------------------------------------------------------

HS_PROPERTIES = ("hs_task_status", "hs_timestamp", "hubspot_owner_id", "hs_lastmodifieddate", "hs_task_subject",
                 "hs_task_body", "hs_task_priority", "hs_task_type", "hs_task_completion_date")


def hubspot_changes(client: Any, key_property: str) -> Any:
    """``changed(cursor)`` for :func:`read_back`: tasks carrying the key whose ``hs_lastmodifieddate`` is
    at or after the cursor (ms since epoch), by search, 100 a page, oldest first."""

    def changed(cursor: str | None) -> Iterator[tuple[RemoteTask, str]]:
        since = int(cursor) if cursor else 0
        after: str | None = None
        while True:
            request: dict[str, Any] = {
                "filterGroups": [{"filters": [{"propertyName": key_property, "operator": "HAS_PROPERTY"},
                                              {"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                               "value": str(since)}]}],
                "properties": [key_property, *HS_PROPERTIES], "limit": 100,
                "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]}
            if after:
                request["after"] = after
            page = client.call("search changed tasks", client.crm.objects.tasks.search_api.do_search, request)
            for record in page.results:
                task, stamp = _hubspot_task(record, key_property)
                yield task, str(max(stamp, since))
            after = page.paging.next.after if page.paging and page.paging.next else None
            if after is None:
                return

    return changed


def _hubspot_task(record: Any, key_property: str) -> tuple[RemoteTask, int]:
    props = record.properties or {}
    status = props.get("hs_task_status") or "NOT_STARTED"
    modified = _hs_instant(props.get("hs_lastmodifieddate"))
    due_at = _hs_instant(props.get("hs_timestamp"))
    due = due_at.date() if due_at else None
    written = {"hs_timestamp": datetime.combine(due, time(0), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z") if due
               else props.get("hs_timestamp"), "hs_task_subject": props.get("hs_task_subject"),
               "hs_task_body": props.get("hs_task_body"), "hs_task_status": status,
               "hs_task_priority": props.get("hs_task_priority"), "hs_task_type": props.get("hs_task_type"),
               key_property: props.get(key_property)}
    if props.get("hubspot_owner_id"):
        written["hubspot_owner_id"] = props["hubspot_owner_id"]
    fp = hashlib.sha256(json.dumps(written, sort_keys=True).encode()).hexdigest()[:32]
    state = "completed" if status == "COMPLETED" else "open"
    task = RemoteTask(str(props.get(key_property)), str(record.id), None, state, status == "NOT_STARTED", fp,
                      props.get("hubspot_owner_id"), due, modified, _hs_instant(props.get("hs_task_completion_date")))
    return task, int(modified.timestamp() * 1000) if modified else 0


def _hs_instant(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
