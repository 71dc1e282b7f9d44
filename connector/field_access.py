"""Fields people can see: ``connector setup`` grants access to the fields it creates.

Creating a custom field is not enough in Salesforce: a new field is invisible to every profile until
field-level security grants it, so CSMs would see nothing until an admin clicked through Setup for each
field.  Setup therefore keeps two permission sets (REST sObjects, idempotent, dry-run first):

* ``CS_Connector_Read`` — read on every field the connector writes, assigned to the users and to the active
  users of the profiles named in ``[salesforce] field_access_users`` / ``field_access_profiles``;
* ``CS_Connector_Edit`` — read and edit on them (and the task key), assigned to ``integration_username``.

Page layouts are Metadata API territory the sandbox does not emulate faithfully, so setup says what to add
instead of guessing a layout.  HubSpot properties already live in the connector's property group and
Zendesk organization fields are shown to every agent once active: for those, setup prints where to look.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.clients.salesforce import SalesforceClient, soql_identifier, soql_quote
from connector.config import Config
from connector.http import HttpLayer
from connector.mappings import load_mapping

SYSTEM = "salesforce"
READ_SET = ("CS_Connector_Read", "CS connector fields (read)")
EDIT_SET = ("CS_Connector_Edit", "CS connector fields (integration user)")


@dataclass
class AccessPlan:
    """What setup did (or, in a dry run, would do) about access, and what is left to the admin."""

    changes: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    def add(self, obj: str, action: str, detail: str) -> None:
        self.changes.append({"system": SYSTEM, "object": obj, "action": action, "detail": detail})

    def as_json(self) -> dict[str, Any]:
        return {"changes": self.changes, "problems": self.problems, "next_steps": self.next_steps}


def grant_access(config: Config, http: HttpLayer, dry_run: bool) -> dict[str, dict[str, Any]]:
    """Per system, the access changes and the next steps an admin needs so people see the fields."""
    found: dict[str, dict[str, Any]] = {}
    if SYSTEM in config.enabled_systems():
        found[SYSTEM] = salesforce_access(config, SalesforceClient(config.salesforce, http), dry_run).as_json()  # type: ignore[arg-type]
    if "hubspot" in config.enabled_systems():
        found["hubspot"] = AccessPlan(next_steps=[
            "Company record: the connector's properties are in their own property group; add them to the "
            "sidebar with Settings → Objects → Companies → Record customization → 'About this company'."]).as_json()
    if "zendesk" in config.enabled_systems():
        found["zendesk"] = AccessPlan(next_steps=[
            "Organization fields are shown to agents on every organization once active (setup creates them "
            "active); views and SLA policies can key on them and on the cs_p1…cs_p4 ticket tags."]).as_json()
    return found


def salesforce_access(config: Config, client: SalesforceClient, dry_run: bool) -> AccessPlan:
    sf = config.salesforce
    assert sf is not None
    mapping = load_mapping(config.resolve(sf.mapping))
    obj = soql_identifier(str(mapping.setting("object", "Account")))
    owned = [f"{obj}.{fm.name}" for fm in mapping.fields.values()]
    task_key = f"Task.{soql_identifier(str(mapping.setting('task_key_field', 'CS_Task_Key__c')))}"
    plan = AccessPlan()
    readers = _users(client, sf.field_access_users, sf.field_access_profiles, plan)
    writers = _users(client, [sf.integration_username] if sf.integration_username else [], [], plan)
    for (name, label), fields, edit, assignees in ((READ_SET, owned, False, readers),
                                                   (EDIT_SET, [*owned, task_key], True, writers)):
        set_id = _permission_set(client, name, label, dry_run, plan)
        _field_permissions(client, set_id, name, fields, edit, dry_run, plan)
        _assignments(client, set_id, name, assignees, dry_run, plan)
    labels = ", ".join(fm.label or fm.name for fm in mapping.fields.values())
    plan.next_steps.append(f"Page layout: add a 'Customer Success' section to the {obj} page layout(s) your CSMs "
                           f"use (Setup → Object Manager → {obj} → Page Layouts) with: {labels}.")
    if not readers:
        plan.next_steps.append("Nobody reads the fields yet: name CSM users or profiles in [salesforce] "
                               "field_access_users / field_access_profiles and run setup again.")
    return plan


def _users(client: SalesforceClient, usernames: list[str], profiles: list[str], plan: AccessPlan) -> dict[str, str]:
    """User id → how it was named, for the users named and the active users of the profiles named."""
    found: dict[str, str] = {}
    if usernames:
        names = ", ".join(soql_quote(u) for u in usernames)
        rows = list(client.query_iter(f"SELECT Id, Username FROM User WHERE Username IN ({names})"))
        found.update({r["Id"]: str(r["Username"]) for r in rows})
        plan.problems += [f"user {u!r} not found in Salesforce" for u in usernames
                          if u not in {r["Username"] for r in rows}]
    if profiles:
        names = ", ".join(soql_quote(p) for p in profiles)
        ids = {r["Id"]: r["Name"] for r in client.query_iter(f"SELECT Id, Name FROM Profile WHERE Name IN ({names})")}
        plan.problems += [f"profile {p!r} not found in Salesforce" for p in profiles if p not in ids.values()]
        if ids:
            in_ids = ", ".join(soql_quote(i) for i in ids)
            for r in client.query_iter(f"SELECT Id, ProfileId FROM User WHERE ProfileId IN ({in_ids}) "
                                       "AND IsActive = TRUE"):
                found.setdefault(r["Id"], f"profile {ids[r['ProfileId']]}")
    return found


def _permission_set(client: SalesforceClient, name: str, label: str, dry_run: bool, plan: AccessPlan) -> str | None:
    rows = list(client.query_iter(f"SELECT Id FROM PermissionSet WHERE Name = {soql_quote(name)}"))
    if rows:
        return str(rows[0]["Id"])
    plan.add("PermissionSet", "create", name)
    return None if dry_run else _create(client, "PermissionSet", {"Name": name, "Label": label})


def _field_permissions(client: SalesforceClient, set_id: str | None, set_name: str, fields: list[str], edit: bool,
                       dry_run: bool, plan: AccessPlan) -> None:
    existing = {} if set_id is None else {r["Field"]: r for r in client.query_iter(
        "SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions "
        f"WHERE ParentId = {soql_quote(set_id)}")}
    wanted = {"PermissionsRead": True, "PermissionsEdit": edit}
    for name in fields:
        row = existing.get(name)
        if row is not None and all(bool(row.get(k)) == v for k, v in wanted.items()):
            continue
        access = "read+edit" if edit else "read"
        plan.add("FieldPermissions", "update" if row else "create", f"{set_name}: {access} {name}")
        if dry_run or set_id is None:
            continue
        if row is None:
            _create(client, "FieldPermissions", {"ParentId": set_id, "SobjectType": name.split(".", 1)[0],
                                                 "Field": name, **wanted})
        else:
            _update(client, "FieldPermissions", str(row["Id"]), wanted)


def _assignments(client: SalesforceClient, set_id: str | None, set_name: str, assignees: dict[str, str],
                 dry_run: bool, plan: AccessPlan) -> None:
    held = set() if set_id is None else {r["AssigneeId"] for r in client.query_iter(
        f"SELECT AssigneeId FROM PermissionSetAssignment WHERE PermissionSetId = {soql_quote(set_id)}")}
    for user_id, named in sorted(assignees.items()):
        if user_id in held:
            continue
        plan.add("PermissionSetAssignment", "create", f"{set_name} → {user_id} ({named})")
        if not dry_run and set_id is not None:
            _create(client, "PermissionSetAssignment", {"AssigneeId": user_id, "PermissionSetId": set_id})


def _update(client: SalesforceClient, obj: str, record_id: str, values: dict[str, Any]) -> None:
    client.call(lambda sf: getattr(sf, obj).update(record_id, values))


def _create(client: SalesforceClient, obj: str, values: dict[str, Any]) -> str:
    answer = client.call(lambda sf: getattr(sf, obj).create(values))
    return str(answer["id"])
