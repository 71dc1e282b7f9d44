"""The emulated org's data model: which objects exist, their fields and types, and how values are checked.

Salesforce rejects a write per record (not per request) when a value does not fit its field, so the
checks here return an error entry in the wire shape (``statusCode``/``message``/``fields``) instead of
raising; the backend puts it in that record's result.  Types follow the describe names
(``string``, ``double``, ``percent``, ``date``, ``datetime``, ``boolean``, ``picklist``, ``reference``,
``textarea``, ``id``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

ID_PREFIX = {"Account": "001", "Contact": "003", "User": "005", "Task": "00T", "CustomField": "00N", "Profile": "00e",
             "PermissionSet": "0PS", "FieldPermissions": "01k", "PermissionSetAssignment": "0Pa"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMERIC = ("double", "percent", "currency", "int")


@dataclass
class FieldDef:
    name: str
    type: str
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    length: int = 0
    precision: int = 0
    scale: int = 0
    picklist: list[str] = field(default_factory=list)
    restricted: bool = False
    updateable: bool = True
    label: str = ""

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name, "label": self.label or self.name, "type": self.type, "custom": self.custom,
            "externalId": self.external_id, "unique": self.unique, "length": self.length,
            "precision": self.precision, "scale": self.scale, "updateable": self.updateable,
            "createable": self.updateable, "nillable": self.name not in ("Id", "Name", "Subject"),
            "restrictedPicklist": self.restricted,
            "picklistValues": [{"value": v, "label": v, "active": True, "defaultValue": False}
                               for v in self.picklist],
        }


def _f(name: str, type_: str, **kw: Any) -> FieldDef:
    return FieldDef(name, type_, custom=name.endswith("__c"), **kw)


_SYSTEM = [_f("Id", "id", length=18, updateable=False), _f("CreatedDate", "datetime", updateable=False),
           _f("LastModifiedDate", "datetime", updateable=False),
           _f("SystemModstamp", "datetime", updateable=False), _f("IsDeleted", "boolean", updateable=False)]

TASK_STATUSES = ["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"]
#: TaskStatus values that close a task (``IsClosed``); an admin (or ``connector setup``) may add more.
CLOSED_TASK_STATUSES = ["Completed"]
TASK_PRIORITIES = ["High", "Normal", "Low"]


def standard_objects() -> dict[str, dict[str, FieldDef]]:
    """Account/Contact/User/Task with the customer's own (pre-existing) custom fields."""
    objects = {
        "Account": [
            _f("Name", "string", length=255), _f("Website", "url", length=255),
            _f("OwnerId", "reference", length=18), _f("Type", "picklist", picklist=["Customer", "Prospect",
                                                                                   "Partner", "Other"]),
            _f("Segment__c", "picklist", picklist=["Enterprise", "Mid-Market", "SMB"]),
            _f("Contract_Start__c", "date"), _f("Renewal_Date__c", "date"),
            _f("ARR__c", "currency", precision=16, scale=2),
            _f("External_Id__c", "string", length=64, external_id=True, unique=True),
            _f("NPS__c", "double", precision=2, scale=0), _f("Training_Completed__c", "double", precision=4),
            _f("Services_Purchased__c", "boolean"), _f("Upsells_Taken__c", "double", precision=4),
            _f("Advocate__c", "boolean"), _f("Churned__c", "boolean"),
            _f("Churn_Reason__c", "string", length=255),
        ],
        "Contact": [
            _f("AccountId", "reference", length=18), _f("FirstName", "string", length=40),
            _f("LastName", "string", length=80), _f("Email", "email", length=80),
            _f("HasOptedOutOfEmail", "boolean"), _f("Is_Champion__c", "boolean"),
            _f("Champion_Since__c", "date"),
        ],
        "User": [_f("Name", "string", length=121), _f("Email", "email", length=128),
                 _f("Username", "string", length=80, unique=True), _f("ProfileId", "reference", length=18),
                 _f("IsActive", "boolean")],
        "Profile": [_f("Name", "string", length=255)],
        # field-level security (see security.py): permission sets, their field permissions, assignments
        "PermissionSet": [_f("Name", "string", length=80, unique=True), _f("Label", "string", length=80)],
        "FieldPermissions": [_f("ParentId", "reference", length=18), _f("SobjectType", "string", length=40),
                             _f("Field", "string", length=80), _f("PermissionsRead", "boolean"),
                             _f("PermissionsEdit", "boolean")],
        "PermissionSetAssignment": [_f("AssigneeId", "reference", length=18),
                                    _f("PermissionSetId", "reference", length=18)],
        "Task": [
            _f("Subject", "combobox", length=255), _f("Description", "textarea", length=32000),
            _f("ActivityDate", "date"), _f("Status", "picklist", picklist=TASK_STATUSES, restricted=True),
            _f("Priority", "picklist", picklist=TASK_PRIORITIES, restricted=True),
            _f("OwnerId", "reference", length=18), _f("WhatId", "reference", length=18),
            _f("WhoId", "reference", length=18), _f("IsClosed", "boolean", updateable=False),
            _f("CompletedDateTime", "datetime", updateable=False),
        ],
    }
    return {obj: {f.name: f for f in [*_SYSTEM, *fields]} for obj, fields in objects.items()}


def error(status_code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {"statusCode": status_code, "message": message, "fields": fields or []}


def coerce(fd: FieldDef, value: Any) -> tuple[Any, dict[str, Any] | None]:
    """``value`` as stored for field ``fd``, or the per-record error Salesforce would answer."""
    if value is None or value == "":
        return None, None
    bad = error("INVALID_TYPE_ON_FIELD_IN_RECORD" if fd.type in (*_NUMERIC, "boolean") else
                "INVALID_FIELD_FOR_INSERT_UPDATE", f"{fd.name}: value not of required type: {value}", [fd.name])
    if fd.type in _NUMERIC:
        return _number(fd, value, bad)
    if fd.type == "boolean":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true", None
        return None, bad
    if not isinstance(value, str):
        return None, bad
    if fd.type == "date":
        return (value, None) if _DATE.match(value) and _valid_date(value) else (None, bad)
    if fd.type == "datetime":
        return _datetime(value, bad)
    if fd.type == "picklist" and fd.restricted and value not in fd.picklist:
        return None, error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                           f"{fd.label or fd.name}: bad value for restricted picklist field: {value}", [fd.name])
    if fd.length and len(value) > fd.length:
        return None, error("STRING_TOO_LONG", f"{fd.label or fd.name}: data value too large: {value[:40]}"
                           f"... (max length={fd.length})", [fd.name])
    return value, None


def _number(fd: FieldDef, value: Any, bad: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    if isinstance(value, bool):
        return None, bad
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, bad
    number = round(number, fd.scale)
    if fd.precision and abs(number) >= 10 ** (fd.precision - fd.scale):
        return None, error("NUMBER_OUTSIDE_VALID_RANGE", f"{fd.name}: value outside of valid range on numeric "
                           f"field: {value}", [fd.name])
    return number, None


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _datetime(value: str, bad: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None, bad
    if parsed.tzinfo is None:
        return None, bad
    return format_datetime(parsed), None


def format_datetime(when: datetime) -> str:
    """Salesforce's own datetime form: ``2026-11-02T09:00:00.000+0000`` (UTC, milliseconds)."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


class ApiError(Exception):
    """A whole-request error: HTTP ``status`` with Salesforce's ``[{"message", "errorCode"}]`` body."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> list[dict[str, Any]]:
        return [{"message": self.message, "errorCode": self.code}]
