"""Task status as the org defines it: which TaskStatus values exist and which close a task.

Salesforce keeps the TaskStatus picklist in a standard value set; each value says whether it *closes* the
task.  ``IsClosed`` follows the status and ``CompletedDateTime`` is stamped when a task becomes closed —
the fields a read-back of what a CSM did relies on.  An admin (or ``connector setup``) adds a value such as
"Not needed" through the Tooling API: ``SELECT Id, Metadata FROM StandardValueSet WHERE MasterLabel =
'TaskStatus'``, then ``PATCH /tooling/sobjects/StandardValueSet/{id}`` with the full value list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connector.sandbox.salesforce.schema import CLOSED_TASK_STATUSES, ApiError, format_datetime

if TYPE_CHECKING:
    from connector.sandbox.salesforce.backend import SalesforceBackend

VALUE_SET_ID = "0Ax000000000001AAA"


@dataclass
class TaskStatuses:
    """The TaskStatus value set: values in order, and the ones that close a task."""

    closed: set[str] = field(default_factory=lambda: set(CLOSED_TASK_STATUSES))

    def row(self, values: list[str]) -> dict[str, Any]:
        return {"Id": VALUE_SET_ID, "MasterLabel": "TaskStatus", "IsDeleted": False, "Metadata": {
            "sorted": False, "standardValue": [{"fullName": v, "label": v, "default": v == "Not Started",
                                                "closed": v in self.closed} for v in values]}}


def tooling_rows(backend: SalesforceBackend, obj: str) -> list[dict[str, Any]]:
    if obj == "StandardValueSet":
        return [backend.task_statuses.row(backend.schema["Task"]["Status"].picklist)]
    return list(backend.custom_fields.values())


def update_value_set(backend: SalesforceBackend, record_id: str, body: dict[str, Any]) -> None:
    """PATCH of the TaskStatus value set: the new full list of values and which of them close a task."""
    values = ((body.get("Metadata") or {}).get("standardValue")) if isinstance(body, dict) else None
    if record_id != VALUE_SET_ID or not isinstance(values, list) or not values:
        raise ApiError(400, "INVALID_INPUT", "Metadata.standardValue must list the TaskStatus values")
    names = [str(v.get("fullName")) for v in values if isinstance(v, dict) and v.get("fullName")]
    with backend.lock:
        missing = set(backend.schema["Task"]["Status"].picklist) - set(names)
        if missing:
            raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", f"values in use cannot be removed: {sorted(missing)}")
        backend.schema["Task"]["Status"].picklist = names
        backend.task_statuses.closed = {str(v["fullName"]) for v in values if isinstance(v, dict) and v.get("closed")}


def task_status_changed(backend: SalesforceBackend, record: dict[str, Any], before: str | None) -> None:
    """Keep ``IsClosed`` and ``CompletedDateTime`` in step with ``Status`` (as Salesforce does)."""
    closed = record.get("Status") in backend.task_statuses.closed
    if closed and (before not in backend.task_statuses.closed or record.get("CompletedDateTime") is None):
        record["CompletedDateTime"] = format_datetime(backend.clock.now())
    if not closed:
        record["CompletedDateTime"] = None
    record["IsClosed"] = closed
