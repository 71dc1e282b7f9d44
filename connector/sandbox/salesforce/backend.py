"""The emulated Salesforce org: records, sessions, the daily API budget, queries and writes (no HTTP).

Rules kept because the connector depends on them: writes fail *per record* (``allOrNone`` false) with
Salesforce's status codes; a field must exist before it is written (``INVALID_FIELD``); queries page at
2,000 rows behind a query locator; sessions expire; every API call spends the daily allocation.
Custom fields created through the Tooling API appear in describe and become writable at once.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connector.sandbox.core import SandboxClock
from connector.sandbox.salesforce import security, soql
from connector.sandbox.salesforce.schema import (
    ID_PREFIX,
    ApiError,
    FieldDef,
    coerce,
    error,
    format_datetime,
    standard_objects,
)
from connector.sandbox.salesforce.task_status import TaskStatuses, task_status_changed, tooling_rows
from connector.sandbox.world import World

QUERY_BATCH = 2000  # rows per query page (nextRecordsUrl beyond)
INTEGRATION_USERNAME = security.INTEGRATION_USERNAME
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_TOOLING_SCHEMA = {"CustomField": {n: FieldDef(n, t) for n, t in (
    ("Id", "id"), ("DeveloperName", "string"), ("TableEnumOrId", "string"), ("NamespacePrefix", "string"))},
    "StandardValueSet": {n: FieldDef(n, t) for n, t in (("Id", "id"), ("MasterLabel", "string"),
                                                        ("Metadata", "anyType"))}}
_METADATA_TYPES = {"Number": "double", "Percent": "percent", "Currency": "currency", "Text": "string",
                   "LongTextArea": "textarea", "TextArea": "textarea", "Date": "date", "DateTime": "datetime",
                   "Picklist": "picklist", "Checkbox": "boolean"}


def salesforce_id(prefix: str, n: int) -> str:
    """An 18-character id with the real case-safe checksum suffix."""
    base = f"{prefix}Sb{n:010d}"
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(base[chunk * 5:chunk * 5 + 5]) if ch.isupper())
        suffix += _CHECKSUM[bits]
    return base + suffix


def _sorter(fd: FieldDef) -> Callable[[dict[str, Any]], Any]:
    return lambda record: soql.sort_key(fd, record[fd.name])


@dataclass
class Session:
    token: str
    expires_at: datetime
    user_id: str | None = None  # None: the integration admin, who sees every field


@dataclass
class QueryCursor:
    rows: list[dict[str, Any]]
    created: datetime


@dataclass
class SalesforceBackend:
    """State and rules of one org.  Thread-safe: uvicorn serves requests on one loop, tests poke directly."""

    clock: SandboxClock
    api_version: str = "59.0"
    daily_api_limit: int = 100_000
    session_lifetime: timedelta = timedelta(hours=2)
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    refresh_token: str = "sandbox-refresh-token"
    schema: dict[str, dict[str, FieldDef]] = field(default_factory=standard_objects)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    custom_fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # full name → tooling record
    validation_rules: dict[str, str] = field(default_factory=dict)  # record id → error message
    task_statuses: TaskStatuses = field(default_factory=TaskStatuses)
    api_used: int = 0
    _sessions: dict[str, Session] = field(default_factory=dict)
    _cursors: dict[str, QueryCursor] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(900_000))
    _budget_day: str = ""
    lock: threading.RLock = field(default_factory=threading.RLock)
    #: (object, field) → unique value → record id, only while a Bulk job runs (see :meth:`bulk_apply`).
    _unique_index: dict[tuple[str, str], dict[Any, str]] | None = None

    def __post_init__(self) -> None:
        for obj in self.schema:
            self.records.setdefault(obj, {})

    # -- sessions and budget ----------------------------------------------------------------------------

    def issue_token(self, user_id: str | None = None) -> str:
        token = "00Dsandbox!" + secrets.token_urlsafe(24)
        with self.lock:
            self._sessions[token] = Session(token, self.clock.now() + self.session_lifetime, user_id)
        return token

    def session_for(self, user_id: str) -> str:
        """A session as that user (a CSM logging in), subject to field-level security (sandbox hook)."""
        user = self.records["User"].get(user_id)
        if user is None or not user.get("IsActive"):
            raise ApiError(400, "INVALID_LOGIN", f"no active user {user_id}")
        return self.issue_token(user_id)

    def oauth_refresh(self, form: dict[str, str], instance_url: str) -> dict[str, Any]:
        """The refresh_token grant; errors use OAuth's ``{"error", "error_description"}`` shape."""
        if form.get("grant_type") != "refresh_token":
            raise ApiError(400, "unsupported_grant_type", "grant type not supported")
        if form.get("refresh_token") != self.refresh_token or form.get("client_id") != self.client_id or \
                form.get("client_secret", self.client_secret) != self.client_secret:
            raise ApiError(400, "invalid_grant", "expired access/refresh token")
        return {"access_token": self.issue_token(), "instance_url": instance_url,
                "id": f"{instance_url}/id/00Dsandbox/005sandbox", "token_type": "Bearer",
                "issued_at": str(int(self.clock.now().timestamp() * 1000)), "scope": "api refresh_token"}

    def authenticate(self, header: str | None) -> str | None:
        """The session's user id (``None`` for the integration admin); 401 when expired or unknown."""
        token = (header or "").removeprefix("Bearer ").removeprefix("OAuth ").strip()
        with self.lock:
            session = self._sessions.get(token)
            if session is None or session.expires_at <= self.clock.now():
                raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            return session.user_id

    def _schema_for(self, user_id: str | None) -> Any:
        return security.visible_schema(self.schema, self.records, set(self.custom_fields), user_id)

    def expire_sessions(self) -> int:
        with self.lock:
            count = len(self._sessions)
            self._sessions.clear()
            return count

    def charge(self) -> None:
        """Spend one call of the daily allocation (reset when the sandbox day changes)."""
        with self.lock:
            today = self.clock.now().date().isoformat()
            if today != self._budget_day:
                self._budget_day, self.api_used = today, 0
            if self.api_used >= self.daily_api_limit:
                raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.api_used += 1

    def spend(self, calls: int) -> None:
        """Use ``calls`` of today's allocation, as other integrations of the org would."""
        with self.lock:
            self.charge()
            self.api_used += calls - 1

    def limits(self) -> dict[str, Any]:
        with self.lock:
            remaining = max(0, self.daily_api_limit - self.api_used)
        return {"DailyApiRequests": {"Max": self.daily_api_limit, "Remaining": remaining},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000}}

    # -- schema ------------------------------------------------------------------------------------------

    def object_fields(self, obj: str) -> dict[str, FieldDef]:
        if obj not in self.schema:
            raise ApiError(404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{obj}'")
        return self.schema[obj]

    def describe(self, obj: str, user_id: str | None = None) -> dict[str, Any]:
        self.object_fields(obj)
        fields = self._schema_for(user_id)[obj]
        return {"name": obj, "label": obj, "custom": False, "keyPrefix": ID_PREFIX.get(obj),
                "fields": [f.describe() for f in fields.values()]}

    def create_custom_field(self, body: dict[str, Any]) -> str:
        full_name = str(body.get("FullName") or "")
        meta = body.get("Metadata") or {}
        obj, _, name = full_name.partition(".")
        if obj not in self.schema or not name.endswith("__c"):
            raise ApiError(400, "INVALID_INPUT", f"FullName must be Object.Field__c, got {full_name!r}")
        kind = _METADATA_TYPES.get(str(meta.get("type")))
        if kind is None:
            raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", f"Unsupported field type {meta.get('type')!r}")
        with self.lock:
            if name in self.schema[obj]:
                raise ApiError(400, "DUPLICATE_DEVELOPER_NAME", f"There is already a field named {name} on {obj}.")
            values = [v["fullName"] for v in (meta.get("valueSet") or {}).get("valueSetDefinition", {})
                      .get("value", [])]
            self.schema[obj][name] = FieldDef(
                name, kind, custom=True, external_id=bool(meta.get("externalId")),
                unique=bool(meta.get("unique")), length=int(meta.get("length") or 0),
                precision=int(meta.get("precision") or 0), scale=int(meta.get("scale") or 0),
                picklist=values, restricted=bool((meta.get("valueSet") or {}).get("restricted", bool(values))),
                label=str(meta.get("label") or name))
            field_id = salesforce_id(ID_PREFIX["CustomField"], next(self._ids))
            self.custom_fields[full_name] = {"Id": field_id, "DeveloperName": name.removesuffix("__c"),
                                             "TableEnumOrId": obj, "NamespacePrefix": None}
        return field_id

    # -- queries -----------------------------------------------------------------------------------------

    def query(self, text: str, *, tooling: bool = False, include_deleted: bool = False,
              user_id: str | None = None) -> dict[str, Any]:
        try:
            q = soql.parse(text, _TOOLING_SCHEMA if tooling else self._schema_for(user_id))
        except soql.SoqlError as exc:
            raise ApiError(400, exc.code, exc.message) from None
        with self.lock:
            source = tooling_rows(self, q.obj) if tooling else self.records[q.obj].values()
            rows = [r for r in source if (include_deleted or not r.get("IsDeleted"))
                    and (q.where is None or q.where(r))]
            schema = (_TOOLING_SCHEMA if tooling else self.schema)[q.obj]
            for name, desc, nulls_last in reversed(q.order):
                fd = schema[name]
                present = [r for r in rows if r.get(name) is not None]
                absent = [r for r in rows if r.get(name) is None]
                present.sort(key=_sorter(fd), reverse=desc)
                rows = present + absent if nulls_last else absent + present
            if q.limit is not None:
                rows = rows[:q.limit]
            projected = [self._project(q.obj, r, q.fields) for r in rows]
            locator = "01g" + secrets.token_hex(6)
            self._cursors[locator] = QueryCursor(projected, self.clock.now())
        return self.query_page(locator, 0)

    def query_page(self, locator: str, offset: int) -> dict[str, Any]:
        with self.lock:
            cursor = self._cursors.get(locator)
        if cursor is None or offset > len(cursor.rows):
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        page = cursor.rows[offset:offset + QUERY_BATCH]
        done = offset + len(page) >= len(cursor.rows)
        result: dict[str, Any] = {"totalSize": len(cursor.rows), "done": done, "records": page}
        if done:
            with self.lock:
                self._cursors.pop(locator, None)
        else:
            result["nextRecordsUrl"] = f"/services/data/v{self.api_version}/query/{locator}-{offset + len(page)}"
        return result

    def _project(self, obj: str, record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        url = f"/services/data/v{self.api_version}/sobjects/{obj}/{record.get('Id')}"
        return {"attributes": {"type": obj, "url": url}, **{f: record.get(f) for f in fields}}

    # -- writes ------------------------------------------------------------------------------------------

    def get(self, obj: str, record_id: str, user_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            record = self.records.get(obj, {}).get(record_id)
        if record is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        self.object_fields(obj)
        return self._project(obj, record, list(self._schema_for(user_id)[obj]))

    def _named(self, obj: str, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` with field names spelled as the schema spells them: Salesforce matches API names without
        regard to case (its own sObject Collections example sends ``"id"``)."""
        spelled = {name.lower(): name for name in (*self.object_fields(obj), "Id")}
        return {spelled.get(key.lower(), key): value for key, value in body.items()}

    def _values(self, obj: str, body: dict[str, Any], creating: bool) -> tuple[dict[str, Any], list[Any]]:
        fields, values, errors = self.object_fields(obj), {}, []
        for name, raw in body.items():
            if name in ("attributes", "Id"):
                continue
            fd = fields.get(name)
            if fd is None:
                errors.append(error("INVALID_FIELD", f"No such column '{name}' on sobject of type {obj}", [name]))
                continue
            if not fd.updateable:
                errors.append(error("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {name}. "
                                    "Please check the security settings of this field.", [name]))
                continue
            value, problem = coerce(fd, raw)
            if problem:
                errors.append(problem)
            values[name] = value
        if creating and obj == "Task":
            values.setdefault("Status", "Not Started")
            values.setdefault("Priority", "Normal")
        for name, value in values.items():
            fd = fields[name]
            if fd.unique and value is not None and self._taken(obj, name, value, body.get("Id")):
                errors.append(error("DUPLICATE_VALUE", f"duplicate value found: {name} duplicates value on "
                                    "another record", [name]))
        return values, errors

    def _touch(self, record: dict[str, Any]) -> None:
        stamp = format_datetime(self.clock.now())
        record["LastModifiedDate"] = record["SystemModstamp"] = stamp

    def _taken(self, obj: str, name: str, value: Any, own_id: Any) -> bool:
        """Another record already holds this unique value (an index during a bulk job, else a scan)."""
        index = self._unique_index.get((obj, name)) if self._unique_index is not None else None
        if index is not None:
            holder = index.get(value)
            return holder is not None and holder != own_id
        return any(r.get(name) == value and r.get("Id") != own_id for r in self.records[obj].values())

    def _indexed(self, obj: str, record: dict[str, Any]) -> None:
        """Keep the bulk job's unique-value index in step with a record just written."""
        if self._unique_index is not None:
            for (kind, name), index in self._unique_index.items():
                if kind == obj and record.get(name) is not None:
                    index[record[name]] = record["Id"]

    def bulk_apply(self, obj: str, apply: Callable[[], None]) -> None:
        """Run a Bulk 2.0 job's rows under one lock with the object's unique values indexed once.

        Why: each row's unique checks and upsert match scan every record of the object, so a job of n rows
        cost n × records — a 3,000-task upsert took a minute of the emulator's CPU.  Real Salesforce has
        indexes; the emulator's job should cost what the modelled processing time says, not more."""
        with self.lock:
            fields = self.object_fields(obj)
            self._unique_index = {(obj, name): {r[name]: r["Id"] for r in self.records[obj].values()
                                                if r.get(name) is not None}
                                  for name, fd in fields.items() if fd.unique}
            try:
                apply()
            finally:
                self._unique_index = None

    def create(self, obj: str, body: dict[str, Any]) -> dict[str, Any]:
        body = self._named(obj, body)
        with self.lock:
            values, errors = self._values(obj, body, creating=True)
            if not errors and (refused := security.rejected(obj, values, self.records, self.schema)):
                errors = [refused]
            if errors:
                return {"id": None, "success": False, "errors": errors}
            record_id = salesforce_id(ID_PREFIX.get(obj, "a00"), next(self._ids))
            record = {"Id": record_id, "IsDeleted": False, "CreatedDate": format_datetime(self.clock.now()),
                      **values}
            if obj == "Task":
                task_status_changed(self, record, None)
            self._touch(record)
            self.records[obj][record_id] = record
            self._indexed(obj, record)
            return {"id": record_id, "success": True, "errors": []}

    def update(self, obj: str, body: dict[str, Any]) -> dict[str, Any]:
        body = self._named(obj, body)
        record_id = body.get("Id")
        with self.lock:
            record = self.records.get(obj, {}).get(str(record_id))
            if record is None:
                return {"id": record_id, "success": False, "errors": [error(
                    "ENTITY_IS_DELETED" if record_id else "MISSING_ARGUMENT",
                    "entity is deleted" if record_id else "Id not specified in an update call", [])]}
            values, errors = self._values(obj, body, creating=False)
            if not errors and record_id in self.validation_rules:
                errors = [error("FIELD_CUSTOM_VALIDATION_EXCEPTION", self.validation_rules[str(record_id)], [])]
            if errors:
                return {"id": record_id, "success": False, "errors": errors}
            before = record.get("Status")
            record.update(values)
            if obj == "Task":
                task_status_changed(self, record, before)
            self._touch(record)
            self._indexed(obj, record)
            return {"id": record_id, "success": True, "errors": []}

    def upsert(self, obj: str, ext_field: str, body: dict[str, Any]) -> dict[str, Any]:
        fd = self.object_fields(obj).get(ext_field)
        if fd is None or not (fd.external_id or fd.type == "id"):
            raise ApiError(400, "INVALID_FIELD", f"Field {ext_field} is not an external id field on {obj}")
        body = self._named(obj, body)
        key = body.get(ext_field)
        with self.lock:
            index = self._unique_index.get((obj, ext_field)) if self._unique_index is not None else None
            if index is not None:
                holder = index.get(key) if key is not None else None
                matches = [self.records[obj][holder]] if holder in self.records[obj] else []
            else:
                matches = [r for r in self.records[obj].values() if key is not None and r.get(ext_field) == key]
            if len(matches) > 1:
                return {"id": None, "success": False, "created": False, "errors": [error(
                    "DUPLICATE_EXTERNAL_ID", f"{ext_field}: more than one record found for external id field: "
                    f"{[m['Id'] for m in matches]}", [ext_field])]}
            if matches:
                return {**self.update(obj, {**body, "Id": matches[0]["Id"]}), "created": False}
            result = self.create(obj, body)
            return {**result, "created": result["success"]}

    def collection(self, op: str, records: list[dict[str, Any]], all_or_none: bool,
                   obj: str | None = None, ext_field: str | None = None) -> list[dict[str, Any]]:
        """sObject Collections create/update/upsert: results in request order, rollback on allOrNone."""
        with self.lock:
            snapshot = copy.deepcopy(self.records) if all_or_none else None
            results = []
            for record in records:
                kind = obj or (record.get("attributes") or {}).get("type")
                if not kind or kind not in self.schema:
                    results.append({"id": None, "success": False, "errors": [error(
                        "INVALID_TYPE", "sObject type is missing or not supported in attributes.type", [])]})
                    continue
                if op == "create":
                    results.append(self.create(kind, record))
                elif op == "update":
                    results.append(self.update(kind, record))
                else:
                    results.append(self.upsert(kind, str(ext_field), record))
            if snapshot is not None and not all(r["success"] for r in results):
                self.records = snapshot
                results = [r if not r["success"] else {**r, "id": None, "success": False, "errors": [error(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records were "
                    "valid and the request was using AllOrNone header", [])]} for r in results]
            return results

    def delete(self, obj: str, record_id: str) -> None:
        """DELETE an sObject: it goes to the recycle bin (``IsDeleted``, still seen by ``queryAll``)."""
        with self.lock:
            record = self.records.get(obj, {}).get(record_id)
            if record is None or record.get("IsDeleted"):
                raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
            record["IsDeleted"] = True
            self._touch(record)

    # -- the sandbox's own hooks -------------------------------------------------------------------------

    def put(self, obj: str, values: dict[str, Any], *, raw: bool = False) -> str:
        """Insert a record directly (seeding, or ``raw=True`` to plant data the API would refuse)."""
        with self.lock:
            record_id = values.get("Id") or salesforce_id(ID_PREFIX.get(obj, "a00"), next(self._ids))
            stamp = format_datetime(self.clock.now())
            record = {"IsDeleted": False, "CreatedDate": stamp, "LastModifiedDate": stamp,
                      "SystemModstamp": stamp, **values}
            if not raw:
                record["Id"] = record_id
            self.records[obj][str(record_id)] = record
            return str(record_id)

    def load_world(self, world: World) -> None:
        """Owners as Users (CSMs), companies with a salesforce_id as Accounts, their contacts as Contacts."""
        security.seed_users(self.put, world.owners)
        for c in world.companies:
            if not c.salesforce_id:
                continue
            self.put("Account", {
                "Id": c.salesforce_id, "Name": c.name, "Website": f"https://www.{c.domain}" if c.domain else None,
                "OwnerId": c.owner.salesforce_id, "Type": "Customer", "Segment__c": c.segment,
                "Contract_Start__c": c.contract_start.isoformat(), "Renewal_Date__c": c.renewal_date.isoformat(),
                "ARR__c": float(c.arr), "External_Id__c": c.external_id, "NPS__c": c.nps,
                "Training_Completed__c": float(c.training_completed), "Services_Purchased__c": c.services_purchased,
                "Upsells_Taken__c": float(c.upsells_taken), "Advocate__c": c.advocacy, "Churned__c": c.churned,
                "Churn_Reason__c": c.churn_reason})
            for person in c.contacts:
                since = c.champion_changed_at or c.contract_start
                self.put("Contact", {
                    **({"Id": person.salesforce_id} if person.salesforce_id else {}),
                    "AccountId": c.salesforce_id, "FirstName": person.first_name, "LastName": person.last_name,
                    "Email": person.email, "HasOptedOutOfEmail": person.email_opt_out,
                    "Is_Champion__c": person.is_champion,
                    "Champion_Since__c": since.isoformat() if person.is_champion else None})

    def accounts_view(self) -> list[dict[str, Any]]:
        """Accounts with their custom field values (for the sandbox web view)."""
        with self.lock:
            custom = [n for n, f in self.schema["Account"].items() if f.custom]
            return [{"Id": r["Id"], "Name": r.get("Name"), **{n: r.get(n) for n in custom}}
                    for r in self.records["Account"].values()]

    def open_tasks(self, account_id: str) -> list[dict[str, Any]]:
        """Tasks on an account that are still open (for the sandbox web view)."""
        with self.lock:
            return [dict(t) for t in self.records["Task"].values()
                    if t.get("WhatId") == account_id and not t.get("IsClosed")]
