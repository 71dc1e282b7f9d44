"""Property definitions and value rules of the emulated portal (what the properties API serves).

HubSpot keeps every property value as a string and validates it against the property's ``type`` on
write; these rules are what make "wrong type for a number property" or "undefined property" fail the way
they do in a real portal.  Values are normalised the way HubSpot hands them back (dates ``YYYY-MM-DD``,
datetimes ISO-8601 with milliseconds and ``Z``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from connector.sandbox.hubspot.errors import PropertyProblem

OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "tasks": "0-27"}
PROPERTY_TYPES = {"string", "number", "date", "datetime", "enumeration", "bool"}
FIELD_TYPES = {"text", "textarea", "number", "date", "select", "radio", "checkbox", "booleancheckbox",
               "calculation_equation", "html", "phonenumber", "file"}
#: Properties HubSpot maintains itself: readable, never writable.
READ_ONLY = {"hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate", "hs_createdate"}


@dataclass
class PropertyDef:
    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    options: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    has_unique_value: bool = False
    hubspot_defined: bool = False
    created_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        stamp = iso(self.created_at) if self.created_at else None
        return {"name": self.name, "label": self.label, "type": self.type, "fieldType": self.field_type,
                "groupName": self.group_name, "description": self.description, "options": self.options,
                "hasUniqueValue": self.has_unique_value, "hubspotDefined": self.hubspot_defined,
                "displayOrder": -1, "hidden": False, "formField": False, "archived": False,
                "calculated": False, "externalOptions": False, "createdAt": stamp, "updatedAt": stamp,
                "modificationMetadata": {"archivable": not self.hubspot_defined, "readOnlyDefinition":
                                         self.hubspot_defined, "readOnlyValue": self.name in READ_ONLY}}


def _opts(*values: str) -> list[dict[str, Any]]:
    return [{"label": v.replace("_", " ").title(), "value": v, "displayOrder": i, "hidden": False}
            for i, v in enumerate(values)]


def _builtin(name: str, type_: str, field_type: str, group: str, options: list[dict[str, Any]] | None = None,
             unique: bool = False) -> PropertyDef:
    return PropertyDef(name, name.replace("_", " ").title(), type_, field_type, group, options or [],
                       has_unique_value=unique, hubspot_defined=True)


def default_properties() -> dict[str, dict[str, PropertyDef]]:
    """The HubSpot-defined properties a fresh portal has for each object type we emulate."""
    common = [_builtin("hs_object_id", "number", "number", "{g}"), _builtin("createdate", "datetime", "date", "{g}"),
              _builtin("hs_lastmodifieddate", "datetime", "date", "{g}"),
              _builtin("hubspot_owner_id", "enumeration", "select", "{g}")]
    per_type = {
        "companies": ("companyinformation", [_builtin("name", "string", "text", "companyinformation"),
                                             _builtin("domain", "string", "text", "companyinformation")]),
        "contacts": ("contactinformation", [
            _builtin("email", "string", "text", "contactinformation", unique=True),
            _builtin("firstname", "string", "text", "contactinformation"),
            _builtin("lastname", "string", "text", "contactinformation"),
            _builtin("hs_email_optout", "bool", "booleancheckbox", "contactinformation",
                     [{"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                      {"label": "No", "value": "false", "displayOrder": 1, "hidden": False}]),
            _builtin("associatedcompanyid", "number", "number", "contactinformation")]),
        "tasks": ("taskinformation", [
            _builtin("hs_timestamp", "datetime", "date", "taskinformation"),
            _builtin("hs_task_subject", "string", "text", "taskinformation"),
            _builtin("hs_task_body", "string", "textarea", "taskinformation"),
            _builtin("hs_task_status", "enumeration", "select", "taskinformation",
                     _opts("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")),
            _builtin("hs_task_priority", "enumeration", "select", "taskinformation",
                     _opts("NONE", "LOW", "MEDIUM", "HIGH")),
            _builtin("hs_task_type", "enumeration", "select", "taskinformation",
                     _opts("EMAIL", "CALL", "TODO", "LINKED_IN"))]),
    }
    out: dict[str, dict[str, PropertyDef]] = {}
    for object_type, (group, props) in per_type.items():
        defs = [PropertyDef(p.name, p.label, p.type, p.field_type, group, p.options, hubspot_defined=True)
                for p in common] + props
        out[object_type] = {p.name: p for p in defs}
    return out


def default_groups() -> dict[str, dict[str, dict[str, Any]]]:
    names = {"companies": "companyinformation", "contacts": "contactinformation", "tasks": "taskinformation"}
    return {t: {g: {"name": g, "label": g.replace("information", " information").title(), "displayOrder": 0,
                    "archived": False}} for t, g in names.items()}


def normalise_value(prop: PropertyDef | None, name: str, raw: Any,
                    owners: set[str]) -> tuple[str | None, PropertyProblem | None]:
    """The stored text for ``raw`` (``None`` clears the value), or why HubSpot would refuse it."""
    if prop is None:
        return None, PropertyProblem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
    if name in READ_ONLY:
        return None, PropertyProblem(name, "READ_ONLY_VALUE", f'"{name}" is a read only property; it cannot be set.')
    if raw is None or raw == "":
        return None, None
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)
    try:
        return _coerce(prop, text, owners), None
    except ValueError as exc:
        return None, PropertyProblem(name, _CODES.get(prop.type, "INVALID_VALUE"), f"{text} {exc}")


_CODES = {"number": "INVALID_DECIMAL", "date": "INVALID_DATE", "datetime": "INVALID_DATETIME",
          "enumeration": "INVALID_OPTION", "bool": "INVALID_BOOLEAN"}


def _coerce(prop: PropertyDef, text: str, owners: set[str]) -> str:
    if prop.type == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError("was not a valid number.") from None
        return str(int(number)) if number.is_integer() else repr(number)
    if prop.type == "date":
        if text.isdigit():
            moment = datetime.fromtimestamp(int(text) / 1000, UTC)
            if (moment.hour, moment.minute, moment.second) != (0, 0, 0):
                raise ValueError("is not a valid date: dates must be midnight UTC.")
            return moment.date().isoformat()
        try:
            if len(text) != 10:
                raise ValueError(text)
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError("was not a valid date (YYYY-MM-DD or midnight UTC in milliseconds).") from None
    if prop.type == "datetime":
        return iso(parse_instant(text))
    if prop.type == "bool":
        if text not in ("true", "false"):
            raise ValueError("was not a valid boolean (true/false).")
        return text
    if prop.type == "enumeration":
        allowed = owners if prop.name == "hubspot_owner_id" else {o["value"] for o in prop.options}
        values = text.split(";") if prop.field_type == "checkbox" else [text]
        if any(v not in allowed for v in values):
            raise ValueError(f"was not one of the allowed options: {sorted(allowed)[:20]}")
        return text
    return text


def parse_instant(text: str) -> datetime:
    """Epoch milliseconds or ISO-8601 → aware datetime (what HubSpot accepts for datetime values)."""
    if text.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("was not a valid datetime (ISO-8601 or epoch milliseconds).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """HubSpot's timestamp text: ``2026-11-02T09:00:00.000Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

