"""The Zendesk Support emulator's state and rules: organizations, their custom fields, tickets, users, jobs.

No HTTP here (moto's split): :mod:`connector.sandbox.zendesk.app` turns requests into calls on
:class:`ZendeskBackend` and its :class:`ZendeskError` into Zendesk's error bodies.  The rules are the ones
that shape how a client must behave against the real service:

* bulk writes (``update_many``/``create_many``) take at most 100 items and run as *jobs*: the request
  answers ``job_status`` ``queued`` and only polling ``job_statuses/{id}`` shows ``completed`` with one
  result per item (``{"id", "status": "Updated"}`` or ``{"id", "error", "details", "status": "Failed"}``,
  https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/#results);
* an organization's ``organization_fields`` may only carry keys of existing organization fields, and each
  value must fit the field's type (dropdowns take an option's *value*, i.e. its tag);
* closed tickets refuse updates.

Bulk changes are applied when the job is created and revealed when it completes, which is what a client
can observe of the real asynchronous jobs.  Every timestamp comes from the sandbox clock.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from connector.sandbox.core import SandboxClock
from connector.sandbox.world import World

#: https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#update-many-organizations
MAX_BULK = 100
FIELD_TYPES = frozenset({"text", "textarea", "checkbox", "date", "integer", "decimal", "regexp", "dropdown",
                         "tagger", "multiselect"})
OPEN_STATUSES = frozenset({"new", "open", "pending", "hold"})
_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class ZendeskError(Exception):
    """A refusal in Zendesk's own shape: ``{"error", "description", "details"?}`` with an HTTP status."""

    def __init__(self, status: int, error: str, description: str, details: dict[str, Any] | None = None):
        super().__init__(f"{status} {error}: {description}")
        self.status, self.error, self.description, self.details = status, error, description, details

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"error": self.error, "description": self.description}
        if self.details is not None:
            data["details"] = self.details
        return data


def not_found() -> ZendeskError:
    return ZendeskError(404, "RecordNotFound", "Not found")


def invalid(field_name: str, message: str) -> ZendeskError:
    return ZendeskError(422, "RecordInvalid", "Record validation errors",
                        {field_name: [{"description": message, "error": "InvalidValue"}]})


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Job:
    """One bulk job; ``polls_left`` counts the status reads before it reports ``completed``."""

    id: str
    total: int
    results: list[dict[str, Any]]
    polls_left: int
    status: str = "queued"


@dataclass
class ZendeskBackend:
    """In-memory Zendesk account.  ``job_polls`` sets how many polls a job stays unfinished."""

    clock: SandboxClock
    job_polls: int = 2
    orgs: dict[int, dict[str, Any]] = field(default_factory=dict)
    org_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Bumped whenever a ticket's export position may move: the export sorts once per version.
    tickets_version: int = 0
    export_order: tuple[tuple[int, int], list[tuple[int, int]]] | None = None
    metrics: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: email → user id, so loading a world is linear (a scan per ticket made 100k accounts take hours).
    user_ids: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(900_000_001))

    def now(self) -> datetime:
        return self.clock.now()

    def next_id(self) -> int:
        return next(self._ids)

    # -- world ----------------------------------------------------------------------------------------

    def load_world(self, world: World) -> None:
        """Organizations for companies with a Zendesk id, their requesters, tickets and ticket metrics."""
        for company in world.companies:
            if company.zendesk_org_id is None:
                continue
            self.orgs[company.zendesk_org_id] = self._org_record(
                company.zendesk_org_id, company.name, company.external_id,
                [company.domain] if company.domain else [], [company.segment.lower().replace(" ", "_")]
                if company.segment else [], datetime.combine(company.contract_start, datetime.min.time(), UTC))
        for ticket in world.tickets:
            requester = self.user_for(ticket.requester_email, ticket.organization_id)
            self.put_ticket({
                "id": ticket.id, "subject": ticket.subject, "status": ticket.status, "priority": ticket.priority,
                "requester_id": requester, "organization_id": ticket.organization_id, "tags": list(ticket.tags),
                "created_at": iso(ticket.created_at), "updated_at": iso(ticket.updated_at),
            }, solved_at=ticket.solved_at)

    def user_for(self, email: str, organization_id: int | None) -> int:
        """The end user with ``email`` (created on first sight, as a ticket's requester would be)."""
        if (known := self.user_ids.get(email)) is not None:
            return known
        user_id = self.next_id()
        self.users[user_id] = {"id": user_id, "name": email.split("@")[0], "email": email, "role": "end-user",
                               "organization_id": organization_id, "created_at": iso(self.now())}
        self.user_ids[email] = user_id
        return user_id

    def put_ticket(self, ticket: dict[str, Any], solved_at: datetime | None = None,
                   business_ratio: float = 0.6) -> None:
        """Store a ticket as given (timestamps included) and derive its metric set."""
        self.tickets[int(ticket["id"])] = ticket
        self.tickets_version += 1
        created = datetime.fromisoformat(ticket["created_at"].replace("Z", "+00:00"))
        minutes = int((solved_at - created).total_seconds() // 60) if solved_at else None
        self.metrics[int(ticket["id"])] = {
            "id": int(ticket["id"]) + 5_000_000_000, "ticket_id": int(ticket["id"]),
            "solved_at": iso(solved_at) if solved_at else None,
            "full_resolution_time_in_minutes": {"calendar": minutes,
                                                "business": None if minutes is None else int(minutes * business_ratio)},
            "reply_time_in_minutes": {"calendar": 42, "business": 30},
            "created_at": ticket["created_at"], "updated_at": ticket["updated_at"],
        }

    def _org_record(self, org_id: int, name: str, external_id: str | None, domains: list[str],
                    tags: list[str], created: datetime | None = None) -> dict[str, Any]:
        stamp = iso(created or self.now())
        return {"id": org_id, "name": name, "external_id": external_id, "domain_names": domains, "tags": tags,
                "details": "", "notes": "", "group_id": None, "shared_tickets": False, "shared_comments": False,
                "organization_fields": {key: None for key in self.org_fields},
                "created_at": stamp, "updated_at": stamp}

    # -- organizations --------------------------------------------------------------------------------

    def org(self, org_id: int) -> dict[str, Any]:
        if org_id not in self.orgs:
            raise not_found()
        return self.orgs[org_id]

    def orgs_sorted(self) -> list[dict[str, Any]]:
        return [self.orgs[k] for k in sorted(self.orgs)]

    def search_orgs(self, external_id: str) -> list[dict[str, Any]]:
        return [o for o in self.orgs_sorted() if o.get("external_id") == external_id]

    def create_org(self, data: dict[str, Any]) -> dict[str, Any]:
        name = str(data.get("name") or "").strip()
        if not name:
            raise invalid("name", "Name: cannot be blank")
        if any(o["name"].lower() == name.lower() for o in self.orgs.values()):
            raise invalid("name", f"Name: {name} has already been taken")
        org = self._org_record(self.next_id(), name, data.get("external_id"),
                               list(data.get("domain_names") or []), list(data.get("tags") or []))
        self.orgs[org["id"]] = org
        return self.update_org(org["id"], {k: v for k, v in data.items() if k == "organization_fields"})

    def update_org(self, org_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """Validate every change first, then apply all of them (a refused update changes nothing)."""
        org = self.org(org_id)
        values = data.get("organization_fields") or {}
        cleaned = {key: self._field_value(key, value) for key, value in values.items()}
        for key in ("name", "external_id", "details", "notes", "group_id"):
            if key in data:
                org[key] = data[key]
        for key in ("domain_names", "tags"):
            if key in data:
                org[key] = list(data[key] or [])
        org["organization_fields"].update(cleaned)
        org["updated_at"] = iso(self.now())
        return org

    def _field_value(self, key: str, value: Any) -> Any:
        spec = self.org_fields.get(key)
        if spec is None:
            raise invalid("organization_fields", f"Organization field key '{key}' does not exist")
        if value is None or value == "":
            return None
        kind, check = spec["type"], _VALUE_CHECKS.get(spec["type"])
        if kind in ("dropdown", "tagger", "multiselect"):
            allowed = {o["value"] for o in spec["custom_field_options"]}
            chosen = value if isinstance(value, list) else [value]
            if (kind != "multiselect" and isinstance(value, list)) or not set(chosen) <= allowed:
                raise invalid("organization_fields", f"{spec['title']}: {value!r} is not a valid option")
            return value
        if kind == "regexp" and not re.fullmatch(spec.get("regexp_for_validation") or ".*", str(value)):
            raise invalid("organization_fields", f"{spec['title']}: {value!r} does not match the pattern")
        try:
            return check(value) if check else value
        except (TypeError, ValueError):
            raise invalid("organization_fields", f"{spec['title']}: {value!r} is not a valid {kind}") from None

    # -- organization fields --------------------------------------------------------------------------

    def create_field(self, data: dict[str, Any]) -> dict[str, Any]:
        key, kind = str(data.get("key") or ""), str(data.get("type") or "")
        if not _KEY.match(key):
            raise invalid("key", "Key: must be letters, digits and underscores")
        if key in self.org_fields:
            raise invalid("key", f"Key: {key} has already been taken")
        if kind not in FIELD_TYPES:
            raise invalid("type", f"Type: {kind!r} is not a valid field type")
        if not data.get("title"):
            raise invalid("title", "Title: cannot be blank")
        stamp = iso(self.now())
        spec = {"id": self.next_id(), "key": key, "type": kind, "title": data["title"],
                "description": data.get("description") or "", "active": True, "position": len(self.org_fields),
                "regexp_for_validation": data.get("regexp_for_validation"),
                "custom_field_options": self._options(kind, data.get("custom_field_options")),
                "created_at": stamp, "updated_at": stamp}
        self.org_fields[key] = spec
        for org in self.orgs.values():
            org["organization_fields"].setdefault(key, None)
        return spec

    def update_field(self, field_id: int, data: dict[str, Any]) -> dict[str, Any]:
        spec = next((f for f in self.org_fields.values() if f["id"] == field_id), None)
        if spec is None:
            raise not_found()
        if "type" in data and data["type"] != spec["type"]:
            raise invalid("type", "Type: cannot be changed")
        for key in ("title", "description", "active"):
            if key in data:
                spec[key] = data[key]
        if "custom_field_options" in data:
            spec["custom_field_options"] = self._options(spec["type"], data["custom_field_options"])
        spec["updated_at"] = iso(self.now())
        return spec

    def _options(self, kind: str, options: Any) -> list[dict[str, Any]]:
        if kind not in ("dropdown", "tagger", "multiselect"):
            return []
        if not options:
            raise invalid("custom_field_options", "Field options: a drop-down needs at least one option")
        return [{"id": self.next_id(), "name": str(o["name"]), "value": str(o["value"]), "raw_name": str(o["name"])}
                for o in options]

    # -- tickets ----------------------------------------------------------------------------------------

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        if ticket_id not in self.tickets:
            raise not_found()
        return self.tickets[ticket_id]

    def edit_ticket(self, ticket_id: int, **changes: Any) -> dict[str, Any]:
        """Change a ticket's fields as an agent's edit would (tests, the world's evolution); ``updated_at``
        is part of ``changes`` when the caller wants the export to see the edit at a given time."""
        ticket = self.ticket(ticket_id)
        ticket.update(changes)
        self.tickets_version += 1
        return ticket

    def change_tags(self, ticket_id: int, add: Iterable[str] = (), remove: Iterable[str] = ()) -> dict[str, Any]:
        ticket = self.ticket(ticket_id)
        if ticket["status"] == "closed":
            raise ZendeskError(422, "RecordInvalid", "Record validation errors",
                               {"status": [{"description": "Status: closed prevents ticket update"}]})
        dropped = set(remove)
        tags = [t for t in ticket["tags"] if t not in dropped]
        tags += [t for t in dict.fromkeys(add) if t not in tags]
        if tags != ticket["tags"]:
            ticket["tags"], ticket["updated_at"] = tags, iso(self.now())
            self.tickets_version += 1
            self.metrics[ticket_id]["updated_at"] = ticket["updated_at"]
        return ticket

    def set_tags(self, ticket_id: int, tags: list[str]) -> dict[str, Any]:
        ticket = self.ticket(ticket_id)
        return self.change_tags(ticket_id, tags, [t for t in ticket["tags"] if t not in tags])

    # -- jobs -------------------------------------------------------------------------------------------

    def run_job(self, items: list[Any], apply: Callable[[Any], dict[str, Any]]) -> Job:
        """Apply ``apply`` to each item and keep one result per item; more than 100 items is refused."""
        if len(items) > MAX_BULK:
            raise ZendeskError(400, "TooManyValues", f"You can only update up to {MAX_BULK} records at once")
        results = []
        for index, item in enumerate(items):
            try:
                results.append({"index": index, **apply(item), "success": True})
            except ZendeskError as exc:
                ident = item.get("id") if isinstance(item, dict) else item
                results.append({"index": index, "id": ident, "error": exc.error, "status": "Failed",
                                "success": False, "details": _details_text(exc)})
        job = Job(uuid.uuid4().hex, len(items), results, self.job_polls)
        self.jobs[job.id] = job
        return job

    def poll_job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise not_found()
        if job.status != "completed":
            job.polls_left -= 1
            job.status = "completed" if job.polls_left <= 0 else "working"
        return job

    def update_orgs(self, items: list[dict[str, Any]]) -> Job:
        def apply(item: dict[str, Any]) -> dict[str, Any]:
            org_id = _int_id(item.get("id"))
            self.update_org(org_id, item)
            return {"id": org_id, "action": "update", "status": "Updated"}

        return self.run_job(items, apply)

    def create_orgs(self, items: list[dict[str, Any]]) -> Job:
        def apply(item: dict[str, Any]) -> dict[str, Any]:
            return {"id": self.create_org(item)["id"], "action": "create", "status": "Created"}

        return self.run_job(items, apply)

    def update_tickets(self, items: list[dict[str, Any]]) -> Job:
        def apply(item: dict[str, Any]) -> dict[str, Any]:
            ticket_id = _int_id(item.get("id"))
            if "tags" in item:
                self.set_tags(ticket_id, list(item["tags"]))
            self.change_tags(ticket_id, item.get("additional_tags") or [], item.get("remove_tags") or [])
            return {"id": ticket_id, "action": "update", "status": "Updated"}

        return self.run_job(items, apply)

    # -- read helpers for the sandbox web view ---------------------------------------------------------

    def ticket_queue(self) -> list[dict[str, Any]]:
        """Unsolved tickets, each with its organization's name and the CS fields written on it."""
        rows = []
        for ticket in sorted(self.tickets.values(), key=lambda t: t["updated_at"], reverse=True):
            if ticket["status"] not in OPEN_STATUSES:
                continue
            org = self.orgs.get(ticket.get("organization_id") or -1)
            rows.append({"ticket_id": ticket["id"], "subject": ticket["subject"], "status": ticket["status"],
                         "priority": ticket["priority"], "tags": list(ticket["tags"]),
                         "organization": org["name"] if org else None,
                         "cs_fields": {k: v for k, v in (org or {}).get("organization_fields", {}).items()
                                       if v is not None}})
        return rows


def _int_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid("id", f"Id: {value!r} is not a valid id") from None


def _details_text(exc: ZendeskError) -> str:
    if not exc.details:
        return exc.description
    return "; ".join(d.get("description", "") for items in exc.details.values() for d in items)


def _date(value: Any) -> str:
    return date.fromisoformat(str(value)[:10]).isoformat()


def _checkbox(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(value)
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or float(value) != int(float(value)):
        raise ValueError(value)
    return int(float(value))


def _decimal(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value)


def _text(limit: int) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = str(value)
        if len(text) > limit:
            raise ValueError(value)
        return text

    return check


_VALUE_CHECKS: dict[str, Callable[[Any], Any]] = {
    "date": _date, "checkbox": _checkbox, "integer": _integer, "decimal": _decimal,
    "text": _text(255), "regexp": _text(255), "textarea": _text(65_535),
}
