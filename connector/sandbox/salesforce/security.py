"""Field-level security of the emulated org: which custom fields a user may read.

In Salesforce a new custom field is invisible to every profile until field-level security grants it: it is
missing from describe and from a record read, and a SOQL query naming it fails with ``INVALID_FIELD`` as if
it did not exist.  That is why ``connector setup`` must grant access, and the emulator keeps the rule so a
test can prove it does:

* the integration session (the admin the connector authenticates as) sees every field;
* a user's session (:meth:`SalesforceBackend.session_for`) sees the org's pre-existing fields (its profile
  grants them) and a field created through the Tooling API only once a ``FieldPermissions`` row with
  ``PermissionsRead``, under a ``PermissionSet`` assigned to the user (``PermissionSetAssignment``), says so.

Object shapes follow the Object Reference: FieldPermissions(ParentId, SobjectType, Field "Obj.Field__c",
PermissionsRead, PermissionsEdit — edit requires read; unique per permission set and field),
PermissionSetAssignment(AssigneeId, PermissionSetId — unique pair), PermissionSet(Name unique, Label).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from connector.sandbox.salesforce.schema import FieldDef, error
from connector.sandbox.world import Owner

#: The user the connector would write as in a real org (its sessions here are the integration admin's).
INTEGRATION_USERNAME = "integration@sandbox.example"
PROFILES = {"00eSb0000000001AAA": "System Administrator", "00eSb0000000002AAA": "Standard User"}

#: Composite keys Salesforce enforces on permission rows (DUPLICATE_VALUE on a second row).
_UNIQUE = {"FieldPermissions": ("ParentId", "Field"), "PermissionSetAssignment": ("AssigneeId", "PermissionSetId")}
Schema = Mapping[str, Mapping[str, FieldDef]]
Records = Mapping[str, Mapping[str, dict[str, Any]]]


def seed_users(put: Callable[[str, dict[str, Any]], str], owners: Iterable[Owner]) -> None:
    """Profiles, the integration user (admin profile) and each owner as a CSM user (standard profile)."""
    admin, standard = PROFILES
    for profile_id, name in PROFILES.items():
        put("Profile", {"Id": profile_id, "Name": name})
    put("User", {"Name": "Integration User", "Email": INTEGRATION_USERNAME, "Username": INTEGRATION_USERNAME,
                 "ProfileId": admin, "IsActive": True})
    for owner in owners:
        put("User", {"Id": owner.salesforce_id, "Name": owner.name, "Email": owner.email, "Username": owner.email,
                     "ProfileId": standard, "IsActive": True})


def readable(records: Records, user_id: str) -> set[str]:
    """``Obj.Field`` names the user's permission sets grant read on."""
    sets = {a.get("PermissionSetId") for a in records.get("PermissionSetAssignment", {}).values()
            if a.get("AssigneeId") == user_id}
    return {str(p.get("Field")) for p in records.get("FieldPermissions", {}).values()
            if p.get("ParentId") in sets and p.get("PermissionsRead")}


def visible_schema(schema: Schema, records: Records, created: set[str], user_id: str | None) -> Schema:
    """The schema as ``user_id`` sees it (``None``: the integration admin, who sees everything)."""
    if user_id is None:
        return schema
    granted = readable(records, user_id)
    return {obj: {name: fd for name, fd in fields.items()
                  if f"{obj}.{name}" not in created or f"{obj}.{name}" in granted}
            for obj, fields in schema.items()}


def rejected(obj: str, values: Mapping[str, Any], records: Records, schema: Schema) -> dict[str, Any] | None:
    """Why Salesforce would refuse to create this permission row, or ``None``."""
    if obj == "FieldPermissions":
        target, _, name = str(values.get("Field") or "").partition(".")
        if name not in schema.get(target, {}) or values.get("SobjectType") != target:
            return error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                         f"Field: bad value for restricted picklist field: {values.get('Field')}", ["Field"])
        if values.get("PermissionsEdit") and not values.get("PermissionsRead"):
            return error("FIELD_INTEGRITY_EXCEPTION", "Permission Read Field depends on permission(s): Edit Field",
                         ["PermissionsRead"])
    key = _UNIQUE.get(obj)
    if key and any(all(r.get(k) == values.get(k) for k in key) for r in records.get(obj, {}).values()):
        return error("DUPLICATE_VALUE", f"duplicate value found: {', '.join(key)} duplicates value on record "
                     "with id: " + next(r["Id"] for r in records[obj].values()
                                        if all(r.get(k) == values.get(k) for k in key)), list(key))
    return None
