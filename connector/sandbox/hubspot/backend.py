"""The emulated HubSpot portal: CRM objects, properties, associations and owners, with HubSpot's rules.

Pure state and rules (no HTTP), like a moto backend; :mod:`connector.sandbox.hubspot.app` speaks the wire
format.  Every method returns the JSON body the real API would send (and, for batch calls, the status),
or raises :class:`HubSpotError` with the real error shape.

Batch rules (https://developers.hubspot.com/docs/api-reference/crm-companies-v3/batch): ≤ 100 inputs,
200 when every input succeeded (201 for create), 207 with ``errors[]``/``numErrors`` when some failed.
``batch_validation="reject_batch"`` makes invalid property values fail the whole batch with 400 instead,
which is what portals do for some validation errors; a client must handle both.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from connector.sandbox.core import SandboxClock
from connector.sandbox.hubspot.auth import TokenStore
from connector.sandbox.hubspot.errors import (
    HubSpotError,
    PropertyProblem,
    invalid_properties,
    property_message,
    record_error,
    validation,
)
from connector.sandbox.hubspot.objects import HsObject, ObjectStore
from connector.sandbox.hubspot.schema import OBJECT_TYPE_IDS, iso
from connector.sandbox.hubspot.search import check_request, matcher, sort_records

MAX_BATCH = 100  # https://developers.hubspot.com/docs/api/crm/understanding-the-crm#batch-limits
#: HUBSPOT_DEFINED association type ids we accept, (from, to) → id.
ASSOCIATION_TYPES = {("tasks", "companies"): 192, ("companies", "tasks"): 191, ("tasks", "contacts"): 204,
                     ("contacts", "tasks"): 203, ("contacts", "companies"): 1, ("companies", "contacts"): 2}


@dataclass(frozen=True)
class Association:
    from_type: str
    from_id: str
    to_type: str
    to_id: str
    type_id: int


class HubSpotBackend(ObjectStore):
    """One portal's state.  ``search_cap`` and the batch validation mode are configurable for tests."""

    def __init__(self, clock: SandboxClock, *, search_cap: int = 10_000, token_lifetime_seconds: float = 1800.0,
                 batch_validation: Literal["multi_status", "reject_batch"] = "multi_status"):
        super().__init__(clock)
        self.search_cap, self.batch_validation = search_cap, batch_validation
        self.tokens = TokenStore(clock, token_lifetime_seconds)
        self.associations: set[Association] = set()
        self._lock = threading.RLock()
        self._owner_ids = itertools.count(70_000_001)

    # -- object endpoints ------------------------------------------------------------------------------

    def list_page(self, object_type: str, limit: int, after: str | None,
                  properties: Sequence[str] | None) -> dict[str, Any]:
        """``GET /crm/v3/objects/{type}``: ascending ids, ``after`` is the last id seen plus one."""
        if not 1 <= limit <= 100:
            raise validation(f"limit must be between 1 and 100 (got {limit}).")
        start = int(after) if after and after.isdigit() else 0
        with self._lock:
            ids = sorted((int(i) for i, o in self.table(object_type).items() if not o.archived))
            page = [i for i in ids if i >= start][: limit + 1]
            results = [self.table(object_type)[str(i)].view(properties, object_type) for i in page[:limit]]
        body: dict[str, Any] = {"results": results}
        if len(page) > limit:
            body["paging"] = {"next": {"after": str(page[limit]), "link": f"?after={page[limit]}"}}
        return body

    def get(self, object_type: str, object_id: str, properties: Sequence[str] | None) -> dict[str, Any]:
        with self._lock:
            return self.existing(object_type, object_id).view(properties, object_type)

    def create(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            problems = self.check_properties(object_type, body.get("properties") or {}, creating=True)
            if problems:
                raise invalid_properties(problems)
            links = self._inline_associations(object_type, body.get("associations") or [])
            obj = self.insert(object_type, body.get("properties") or {})
            self.associations.update(Association(object_type, obj.id, t, i, k) for t, i, k in links)
            return obj.view(None, object_type)

    def update(self, object_type: str, object_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            obj = self.existing(object_type, object_id)
            problems = self.check_properties(object_type, body.get("properties") or {})
            if problems:
                raise invalid_properties(problems)
            return self.apply(obj, body.get("properties") or {}).view(None, object_type)

    # -- batch -----------------------------------------------------------------------------------------

    def batch(self, object_type: str, op: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """``POST /crm/v3/objects/{type}/batch/{op}`` → (status, body)."""
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise validation("inputs must be a non-empty list.")
        if len(inputs) > MAX_BATCH:
            raise validation(f"The maximum number of inputs supported in a batch request is {MAX_BATCH}. "
                             "Please reduce the number of items and try again", inputs=[str(len(inputs))])
        started = iso(self.clock.now())
        if op == "archive":  # 204, no body: archived objects leave lists and search (restorable 90 days)
            with self._lock:
                for item in inputs:
                    obj = self.table(object_type).get(str(item.get("id")))
                    if obj is not None and not obj.archived:
                        obj.archived = True
                        self.stamp(obj, self.clock.now())
            return 204, {}
        handler = {"read": self._batch_read, "create": self._batch_create, "update": self._batch_update,
                   "upsert": self._batch_upsert}.get(op)
        if handler is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unknown batch operation {op!r}.")
        with self._lock:
            results, errors = handler(object_type, inputs, body)
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                               "completedAt": iso(self.clock.now())}
        if errors:
            out.update(numErrors=len(errors), errors=errors)
            return 207, out
        return (201 if op == "create" else 200), out

    def _batch_read(self, object_type: str, inputs: list[dict[str, Any]],
                    body: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        props, id_prop = body.get("properties") or None, body.get("idProperty")
        found, missing = [], []
        for item in inputs:
            obj = self.find(object_type, str(item.get("id")), id_prop)
            (found.append(obj.view(props, object_type)) if obj else missing.append(str(item.get("id"))))
        errors = [record_error("OBJECT_NOT_FOUND", f"Could not get some {object_type} objects, they may be "
                               "deleted or not exist. Check that ids are valid.", {"ids": missing})] if missing else []
        return found, errors

    def _batch_create(self, object_type: str, inputs: list[dict[str, Any]],
                      body: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        checked = [(item, self.check_properties(object_type, item.get("properties") or {}, creating=True))
                   for item in inputs]
        self._maybe_reject_whole(checked, lambda i: str(i.get("objectWriteTraceId") or ""))
        results, errors = [], []
        for item, problems in checked:
            trace = {"objectWriteTraceId": [str(item["objectWriteTraceId"])]} if item.get("objectWriteTraceId") else {}
            if problems:
                errors.append(record_error("VALIDATION_ERROR", property_message(problems), trace, problems))
                continue
            try:
                links = self._inline_associations(object_type, item.get("associations") or [])
            except HubSpotError as exc:
                errors.append(record_error(exc.category, exc.message, trace))
                continue
            obj = self.insert(object_type, item.get("properties") or {})
            self.associations.update(Association(object_type, obj.id, t, i, k) for t, i, k in links)
            results.append(obj.view(list(item.get("properties") or {}), object_type))
        return results, errors

    def _batch_update(self, object_type: str, inputs: list[dict[str, Any]],
                      body: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        ids = [str(i.get("id")) for i in inputs]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise validation(f"Duplicate IDs found in batch input: {dupes}. IDs must be unique", ids=dupes)
        checked = [(item, self.check_properties(object_type, item.get("properties") or {})) for item in inputs]
        self._maybe_reject_whole(checked, lambda i: str(i.get("id")))
        results, errors, missing = [], [], []
        for item, problems in checked:
            obj = self.find(object_type, str(item.get("id")), item.get("idProperty"))
            if obj is None:
                missing.append(str(item.get("id")))
            elif problems:
                errors.append(record_error("VALIDATION_ERROR", property_message(problems), {"ids": [obj.id]},
                                           problems))
            else:
                props = item.get("properties") or {}
                results.append(self.apply(obj, props).view(list(props), object_type))
        if missing:
            errors.append(record_error("OBJECT_NOT_FOUND", f"Could not get some {object_type} objects, they may "
                                       "be deleted or not exist. Check that ids are valid.", {"ids": missing}))
        return results, errors

    def _batch_upsert(self, object_type: str, inputs: list[dict[str, Any]],
                      body: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        results, errors = [], []
        for item in inputs:
            id_prop = item.get("idProperty")
            prop = self.properties[object_type].get(str(id_prop))
            if prop is None or not prop.has_unique_value:
                raise validation(f"Unable to perform update/upsert by non-unique {OBJECT_TYPE_IDS[object_type]} "
                                 f"property {id_prop} in portal ID 0")
            props = dict(item.get("properties") or {})
            problems = self.check_properties(object_type, props)
            key = str(item.get("id"))
            if problems:
                errors.append(record_error("VALIDATION_ERROR", property_message(problems), {"ids": [key]}, problems))
                continue
            obj = self.find(object_type, key, id_prop)
            if obj is None:
                obj = self.insert(object_type, {**props, str(id_prop): key})
                results.append({**obj.view(None, object_type), "new": True})
            else:
                results.append({**self.apply(obj, props).view(None, object_type), "new": False})
        return results, errors

    def _maybe_reject_whole(self, checked: list[tuple[dict[str, Any], list[PropertyProblem]]],
                            ident: Any) -> None:
        bad = [(ident(item), p) for item, problems in checked for p in problems]
        if bad and self.batch_validation == "reject_batch":
            error = invalid_properties([p for _, p in bad])
            error.context = {"ids": sorted({i for i, _ in bad if i})}
            raise error

    # -- search ----------------------------------------------------------------------------------------

    def search(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /crm/v3/objects/{type}/search`` with HubSpot's operators, one sort, and the result cap."""
        offset, limit = check_request(body, self.search_cap)
        with self._lock:
            props = self.properties[object_type]
            test = matcher(body.get("filterGroups") or [], props)
            rows = [(i, o.properties) for i, o in self.table(object_type).items()
                    if not o.archived and test(o.properties)]
            ordered = sort_records(rows, body.get("sorts") or [], props)
            page = ordered[offset:offset + limit]
            results = [self.table(object_type)[i].view(body.get("properties") or None, object_type) for i, _ in page]
        out: dict[str, Any] = {"total": len(ordered), "results": results}
        if offset + limit < len(ordered):
            out["paging"] = {"next": {"after": str(offset + limit)}}
        return out

    # -- associations ----------------------------------------------------------------------------------

    def _inline_associations(self, object_type: str, specs: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
        links = []
        for spec in specs:
            to_id = str((spec.get("to") or {}).get("id"))
            for kind in spec.get("types") or []:
                to_type = self._association_target(object_type, int(kind.get("associationTypeId", -1)))
                self.existing(to_type, to_id)
                links.append((to_type, to_id, int(kind["associationTypeId"])))
        return links

    def _association_target(self, from_type: str, type_id: int) -> str:
        for (src, dst), known in ASSOCIATION_TYPES.items():
            if src == from_type and known == type_id:
                return dst
        raise validation(f"associationTypeId {type_id} is not valid from {from_type}.",
                         associationTypeId=[str(type_id)])

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str,
                  specs: list[dict[str, Any]]) -> dict[str, Any]:
        """``PUT /crm/v4/objects/{from}/{id}/associations/{to}/{toId}``."""
        with self._lock:
            self.existing(from_type, from_id)
            self.existing(to_type, to_id)
            for spec in specs:
                type_id = int(spec.get("associationTypeId", -1))
                if ASSOCIATION_TYPES.get((from_type, to_type)) != type_id:
                    raise validation(f"associationTypeId {type_id} is not valid between {from_type} and {to_type}.")
                self.associations.add(Association(from_type, from_id, to_type, to_id, type_id))
        return {"fromObjectTypeId": OBJECT_TYPE_IDS[from_type], "fromObjectId": int(from_id),
                "toObjectTypeId": OBJECT_TYPE_IDS[to_type], "toObjectId": int(to_id), "labels": []}

    def batch_associate(self, from_type: str, to_type: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """``POST /crm/v4/associations/{from}/{to}/batch/create``."""
        inputs = body.get("inputs") or []
        if len(inputs) > MAX_BATCH:
            raise validation(f"The maximum number of inputs supported in a batch request is {MAX_BATCH}. "
                             "Please reduce the number of items and try again")
        started, results, errors = iso(self.clock.now()), [], []
        for item in inputs:
            try:
                results.append(self.associate(from_type, str(item["from"]["id"]), to_type, str(item["to"]["id"]),
                                              item.get("types") or []))
            except HubSpotError as exc:
                errors.append(record_error(exc.category, exc.message, {"fromId": [str(item["from"]["id"])]}))
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                               "completedAt": iso(self.clock.now())}
        if errors:
            out.update(numErrors=len(errors), errors=errors)
        return (207 if errors else 201), out

    def associated(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        return sorted(a.to_id for a in self.associations
                      if (a.from_type, a.from_id, a.to_type) == (from_type, from_id, to_type))

    # -- owners ----------------------------------------------------------------------------------------

    def add_owner(self, email: str, first: str, last: str, owner_id: str | None = None) -> str:
        owner_id = owner_id or str(next(self._owner_ids))
        stamp = iso(self.clock.now())
        self.owners[owner_id] = {"id": owner_id, "email": email, "firstName": first, "lastName": last,
                                 "userId": int(owner_id) % 10_000_000, "createdAt": stamp, "updatedAt": stamp,
                                 "archived": False, "type": "PERSON", "teams": []}
        return owner_id

    def owner_ids(self) -> set[str]:
        return set(self.owners)

    def list_owners(self, email: str | None, limit: int, after: str | None) -> dict[str, Any]:
        """``GET /crm/v3/owners/`` (``limit`` ≤ 500, ``after`` cursor, optional ``email`` filter)."""
        if not 1 <= limit <= 500:
            raise validation(f"limit must be between 1 and 500 (got {limit}).")
        rows = sorted((o for o in self.owners.values() if not email or o["email"].lower() == email.lower()),
                      key=lambda o: int(o["id"]))
        start = int(after or 0)
        body: dict[str, Any] = {"results": rows[start:start + limit]}
        if start + limit < len(rows):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return body

    # -- web view helpers ------------------------------------------------------------------------------

    def companies_view(self) -> list[dict[str, Any]]:
        """Companies with all their properties, for the sandbox web view."""
        with self._lock:
            return [{"id": o.id, **o.properties} for o in self.table("companies").values() if not o.archived]

    def open_tasks(self) -> list[dict[str, Any]]:
        """Tasks not yet completed, with the companies they are associated to."""
        with self._lock:
            return [{"id": o.id, **o.properties, "companies": self.associated("tasks", o.id, "companies")}
                    for o in self.table("tasks").values()
                    if not o.archived and o.properties.get("hs_task_status") != "COMPLETED"]

    def stamp(self, obj: HsObject, when: datetime) -> None:
        """Set an object's modification time (the dataset's history, or a test's)."""
        obj.updated_at = when
        obj.properties["hs_lastmodifieddate"] = iso(when)
