"""Object records and the property schema of the emulated portal (the part batch and search build on).

Kept apart from :mod:`backend` so each file has one job: this one stores records and validates writes
against the property definitions; the backend adds the endpoints' rules (batches, search, associations).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.sandbox.core import SandboxClock
from connector.sandbox.hubspot.errors import HubSpotError, PropertyProblem, validation
from connector.sandbox.hubspot.schema import (
    FIELD_TYPES,
    PROPERTY_TYPES,
    PropertyDef,
    default_groups,
    default_properties,
    iso,
    normalise_value,
)

#: Properties returned when a request names none (HubSpot's defaults per object type).
DEFAULT_VIEW = {"companies": ("name", "domain"), "contacts": ("email", "firstname", "lastname"),
                "tasks": ("hs_task_subject", "hs_task_status", "hs_timestamp")}
ALWAYS = ("hs_object_id", "createdate", "hs_lastmodifieddate")


@dataclass
class HsObject:
    id: str
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime
    archived: bool = False

    def view(self, names: Sequence[str] | None, object_type: str) -> dict[str, Any]:
        """The object as the API shows it: requested (or default) properties, null when unset."""
        wanted = list(dict.fromkeys([*(names or DEFAULT_VIEW.get(object_type, ())), *ALWAYS]))
        return {"id": self.id, "properties": {n: self.properties.get(n) for n in wanted},
                "createdAt": iso(self.created_at), "updatedAt": iso(self.updated_at), "archived": self.archived}


class ObjectStore:
    """Records per object type plus the property definitions and groups that govern them."""

    def __init__(self, clock: SandboxClock):
        self.clock = clock
        self.objects: dict[str, dict[str, HsObject]] = {t: {} for t in ("companies", "contacts", "tasks")}
        self.properties: dict[str, dict[str, PropertyDef]] = default_properties()
        self.groups: dict[str, dict[str, dict[str, Any]]] = default_groups()
        self.owners: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(10_000_001)

    def table(self, object_type: str) -> dict[str, HsObject]:
        if object_type not in self.objects:
            raise HubSpotError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
        return self.objects[object_type]

    def existing(self, object_type: str, object_id: str) -> HsObject:
        obj = self.table(object_type).get(str(object_id))
        if obj is None or obj.archived:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.",
                               {"id": [str(object_id)]})
        return obj

    def find(self, object_type: str, key: str, id_property: str | None = None) -> HsObject | None:
        """By id, or by a unique property's value when ``id_property`` is given."""
        if not id_property or id_property == "hs_object_id":
            obj = self.table(object_type).get(key)
            return obj if obj and not obj.archived else None
        return next((o for o in self.table(object_type).values()
                     if not o.archived and o.properties.get(id_property) == key), None)

    def check_properties(self, object_type: str, values: Mapping[str, Any],
                         creating: bool = False) -> list[PropertyProblem]:
        defs, owners = self.properties[object_type], set(self.owners)
        problems = [p for name, raw in values.items()
                    if (p := normalise_value(defs.get(name), name, raw, owners)[1]) is not None]
        if creating and object_type == "tasks" and not values.get("hs_timestamp"):
            problems.append(PropertyProblem("hs_timestamp", "REQUIRED", "hs_timestamp is required"))
        return problems

    def insert(self, object_type: str, values: Mapping[str, Any], when: datetime | None = None,
               object_id: str | None = None) -> HsObject:
        now = when or self.clock.now()
        oid = object_id or str(next(self._ids))
        obj = HsObject(oid, {"hs_object_id": oid, "createdate": iso(now), "hs_lastmodifieddate": iso(now)}, now, now)
        self.table(object_type)[oid] = obj
        self._write(object_type, obj, values)
        return obj

    def apply(self, obj: HsObject, values: Mapping[str, Any]) -> HsObject:
        object_type = next(t for t, rows in self.objects.items() if rows.get(obj.id) is obj)
        self._write(object_type, obj, values)
        now = self.clock.now()
        obj.updated_at, obj.properties["hs_lastmodifieddate"] = now, iso(now)
        return obj

    def _write(self, object_type: str, obj: HsObject, values: Mapping[str, Any]) -> None:
        defs, owners = self.properties[object_type], set(self.owners)
        for name, raw in values.items():
            value, _ = normalise_value(defs.get(name), name, raw, owners)
            if value is None:
                obj.properties.pop(name, None)
            else:
                obj.properties[name] = value

    # -- properties API --------------------------------------------------------------------------------

    def list_properties(self, object_type: str) -> dict[str, Any]:
        self.table(object_type)
        return {"results": [p.as_json() for p in self.properties[object_type].values()]}

    def get_property(self, object_type: str, name: str) -> dict[str, Any]:
        prop = self.properties.get(object_type, {}).get(name)
        if prop is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find property {name} for object {object_type}",
                               {"propertyName": [name]})
        return prop.as_json()

    def create_property(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /crm/v3/properties/{type}``: name, label, type, fieldType and an existing groupName."""
        self.table(object_type)
        missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
        if missing:
            raise validation(f"Property definition is missing required fields: {missing}", fields=missing)
        name, ptype, ftype, group = body["name"], body["type"], body["fieldType"], body["groupName"]
        if name in self.properties[object_type]:
            raise HubSpotError(409, "OBJECT_ALREADY_EXISTS", f"A property named '{name}' already exists.",
                               {"propertyName": [name]})
        if ptype not in PROPERTY_TYPES or ftype not in FIELD_TYPES:
            raise validation(f"Invalid type/fieldType {ptype}/{ftype} for property {name}.")
        if group not in self.groups[object_type]:
            raise validation(f"Property group {group} does not exist.", groupName=[group])
        if ptype == "enumeration" and not body.get("options"):
            raise validation(f"Enumeration property {name} needs options.")
        options = [{"label": o["label"], "value": o["value"], "displayOrder": o.get("displayOrder", i),
                    "hidden": bool(o.get("hidden", False))} for i, o in enumerate(body.get("options") or [])]
        prop = PropertyDef(name, body["label"], ptype, ftype, group, options, body.get("description") or "",
                           bool(body.get("hasUniqueValue")), created_at=self.clock.now())
        self.properties[object_type][name] = prop
        return prop.as_json()

    def list_groups(self, object_type: str) -> dict[str, Any]:
        self.table(object_type)
        return {"results": list(self.groups[object_type].values())}

    def create_group(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        self.table(object_type)
        if not body.get("name") or not body.get("label"):
            raise validation("Property group needs name and label.")
        if body["name"] in self.groups[object_type]:
            raise HubSpotError(409, "OBJECT_ALREADY_EXISTS", f"A property group named '{body['name']}' already exists.")
        group = {"name": body["name"], "label": body["label"], "displayOrder": int(body.get("displayOrder", -1)),
                 "archived": False}
        self.groups[object_type][body["name"]] = group
        return group
