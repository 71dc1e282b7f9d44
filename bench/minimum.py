"""The independent minimum number of API calls for one sync, computed from the sandbox's world.

Why this exists: the earlier benchmark derived each endpoint's minimum from the records the connector itself
chose to send (and skipped endpoints it could not count), so its ratio of 1.000 was close to circular.
Here nothing comes from the connector:

* **Reads** — per stream, the records the sync must read ÷ the largest page of any endpoint that reads
  them: on a first sync every record; on a later sync the records new or changed since the previous sync
  began (its sources read then, so that includes the echo of its own writes, which an incremental reader
  cannot tell from an edit), and at least one call per incremental stream to learn that nothing changed.
  Stripe reads its three lists in full once and only events afterwards (events carry the objects'
  snapshots); a full read needs one event call (the newest event's id becomes the cursor: an id, not a
  clock, so no event is lost to clock skew).
* **Writes** — the records that actually changed in the sandbox during the sync (fingerprints before and
  after) ÷ the write endpoint's true maximum: Salesforce 1,000 per call (Composite of 5 sObject Collections
  of 200) or one Bulk 2.0 job (create, upload, UploadComplete, one status read = 4 calls) whichever is
  fewer, per object; HubSpot batch 100; Zendesk ``update_many`` 100.  A Zendesk job is reported complete on
  its second status read (the emulator's rule), and ``job_statuses/show_many`` reads 100 jobs per call:
  2 × ceil(jobs ÷ 100).
* **Task read-back** — the primary CRM's connector tasks changed since the last read (Salesforce
  ``queryAll``, so deleted ones show): the tasks the world changed since the previous sync (CSMs' edits and
  the echo of the connector's own task writes) ÷ 2,000, and at least one call to learn that none changed.
* **Fixed allowance** — calls no record count explains, allowed up to a stated number per sync and
  credited only when made: the OAuth token, Salesforce ``/limits`` (the daily-budget guard), describe /
  field-list reads of the pre-flight check.

Every call the ledger saw counts; a call matching no work and no allowance has minimum 0 and shows as
excess.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

BULK_JOB_CALLS = 4  # create, PUT CSV, PATCH UploadComplete, one status read (results only if some failed)
ZENDESK_JOB_READS = 2  # the emulator reports completed on a job's 2nd status read
SHOW_MANY = 100  # job ids per job_statuses/show_many call


@dataclass(frozen=True)
class Work:
    """One kind of work a sync does, the ledger rows that do it, and how its minimum follows from the world."""

    system: str
    name: str
    endpoint: str  # regex over "METHOD /path"
    streams: tuple[tuple[str, int], ...] = ()  # (world stream, records per call)
    kind: str = "read"  # read | incremental | write | sf_write | zd_polls | allowance | none
    allowance: int = 0
    why: str = ""
    full_only: bool = False  # read in full on the first sync only (Stripe lists, lookups)
    later_only: bool = False  # read only after the first sync (Stripe events)


WORK: tuple[Work, ...] = (
    Work("salesforce", "task read-back", r"^GET .*/queryAll/", (("salesforce.Task", 2000),), "incremental",
         why="the connector's tasks changed since the last read, deleted ones too (queryAll, ≤ 2,000 rows per "
             "batch): what CSMs did, read before every plan"),
    Work("salesforce", "SOQL reads", r"^GET .*/query/", (("salesforce.Account", 2000),
                                                                 ("salesforce.Contact", 2000)), "incremental",
         why="≤ 2,000 rows per SOQL batch"),
    Work("salesforce", "writes", r"^(POST|PATCH) .*/composite(/sobjects.*)?$|/jobs/ingest",
         (("salesforce.Account", 1000), ("salesforce.Task", 1000)), "sf_write",
         why="Composite 5 × 200 = 1,000 records/call, or one Bulk 2.0 job (4 calls) per object"),
    Work("salesforce", "OAuth token", r"/oauth2/token", kind="allowance", allowance=1),
    Work("salesforce", "limits", r"/limits", kind="allowance", allowance=1, why="daily-budget guard"),
    Work("salesforce", "describe", r"/sobjects/\w+/describe", kind="allowance", allowance=2,
         why="pre-flight field check: Account, Task"),
    Work("hubspot", "companies read", r"^(GET /crm/v3/objects/companies|POST /crm/v3/objects/companies/search)$",
         (("hubspot.companies", 200),), "incremental", why="search 200/page (keyset paging passes the 10k cap)"),
    Work("hubspot", "companies write", r"^POST /crm/v3/objects/companies/batch/update$",
         (("hubspot.companies", 100),), "write", why="batch ≤ 100"),
    Work("hubspot", "tasks write", r"^POST /crm/v3/objects/tasks/batch/(create|update|upsert)$",
         (("hubspot.tasks", 100),), "write", why="batch ≤ 100"),
    Work("hubspot", "properties", r"^GET /crm/v3/properties/", kind="allowance", allowance=2,
         why="pre-flight field check: companies, tasks"),
    Work("zendesk", "organizations read", r"/incremental/organizations", (("zendesk.organizations", 1000),),
         "incremental", why="incremental export 1,000/page"),
    Work("zendesk", "tickets read", r"/incremental/tickets", (("zendesk.tickets", 1000),), "incremental",
         why="cursor export 1,000/page"),
    Work("zendesk", "organizations write", r"/organizations/update_many", (("zendesk.organizations", 100),),
         "write", why="update_many ≤ 100"),
    Work("zendesk", "tickets write", r"/tickets/update_many", (("zendesk.tickets", 100),), "write",
         why="update_many ≤ 100"),
    Work("zendesk", "job status reads", r"/job_statuses", kind="zd_polls",
         why="2 reads to see a job complete; show_many reads 100 jobs"),
    Work("zendesk", "fields", r"^GET /api/v2/(organization|ticket)_fields", kind="allowance", allowance=1,
         why="pre-flight field check"),
    Work("stripe", "lists", r"^GET /v1/(customers|subscriptions|invoices)$",
         (("stripe.customers", 100), ("stripe.subscriptions", 100), ("stripe.invoices", 100)), "read",
         full_only=True, why="lists ≤ 100; events carry the snapshots afterwards"),
    Work("stripe", "events", r"^GET /v1/events$", (("stripe.events", 100),), "incremental", later_only=True,
         why="events ≤ 100 per page, after the first full read"),
    Work("techlookup", "lookups", r"/api\.json$", (("techlookup.domains", 16),), "read", full_only=True,
         why="16 domains per lookup"),
)


@dataclass
class Line:
    """One row of the result: a kind of work, its calls (every matching ledger row) and its minimum."""

    work: Work
    calls: int = 0
    minimum: int = 0
    records: dict[str, int] = field(default_factory=dict)
    endpoints: dict[str, int] = field(default_factory=dict)


def _match(row: dict[str, Any]) -> Work | None:
    key = f"{row['method']} {row['endpoint']}"
    return next((w for w in WORK if w.system == row["system"] and re.search(w.endpoint, key)), None)


def compute(rows: list[dict[str, Any]], read: dict[str, dict[str, int]], written: dict[str, dict[str, int]],
            *, first: bool) -> list[Line]:
    """Lines for every kind of work plus one per system for calls matching nothing (minimum 0).

    ``read`` is the world's answer for what changed since the previous sync (everything on a first sync),
    ``written`` for what changed during this sync.
    """
    lines = {(w.system, w.name): Line(w) for w in WORK}
    for row in rows:
        work = _match(row)
        if work is None:
            work = Work(row["system"], "unexplained", "", kind="none", why="no work needs it")
            lines.setdefault((work.system, work.name), Line(work))
        line = lines[(work.system, work.name)]
        line.calls += row["calls"]
        label = f"{row['method']} {row['endpoint']} {row['status']}"
        line.endpoints[label] = line.endpoints.get(label, 0) + row["calls"]
    for line in lines.values():
        line.minimum = _minimum(line, read, written, first)
    zd_jobs = sum(line.minimum for line in lines.values()
                  if line.work.system == "zendesk" and line.work.kind == "write")
    for line in lines.values():
        if line.work.kind == "zd_polls":
            line.minimum = ZENDESK_JOB_READS * math.ceil(zd_jobs / SHOW_MANY)
    return [line for line in lines.values() if line.calls or line.minimum]


def _minimum(line: Line, read: dict[str, dict[str, int]], written: dict[str, dict[str, int]], first: bool) -> int:
    work = line.work
    if work.kind == "allowance":
        return min(line.calls, work.allowance)
    if work.kind in ("none", "zd_polls"):
        return 0
    if work.full_only and not first:
        return 0
    if work.later_only and first:  # the newest event's id becomes the cursor: an id, so no clock skew loses one
        return min(line.calls, 1)
    total = 0
    for stream, per_call in work.streams:
        if work.kind in ("write", "sf_write"):
            n = written.get(stream, {}).get("changed", 0)
            calls = math.ceil(n / per_call)
            if work.kind == "sf_write" and n:
                calls = min(calls, BULK_JOB_CALLS)
        else:
            n = read.get(stream, {}).get("changed", 0)
            calls = math.ceil(n / per_call)
            if work.kind == "incremental":
                calls = max(1, calls)  # an incremental stream must ask once to learn nothing changed
        line.records[stream] = n
        total += calls
    return total


def by_system(lines: list[Line]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for line in lines:
        calls, minimum = out.get(line.work.system, (0, 0))
        out[line.work.system] = (calls + line.calls, minimum + line.minimum)
    return out


def writes(lines: list[Line]) -> dict[str, tuple[int, int]]:
    """(write calls, write minimum) per system: the 1 %-changed target is calls = ceil(changed ÷ maximum)."""
    out: dict[str, tuple[int, int]] = {}
    for line in lines:
        if line.work.kind in ("write", "sf_write"):
            calls, minimum = out.get(line.work.system, (0, 0))
            out[line.work.system] = (calls + line.calls, minimum + line.minimum)
    return out


def ratio(calls: int, minimum: int) -> str:
    if minimum == 0:
        return "—" if calls == 0 else "∞"
    return f"{calls / minimum:.3f}"


def print_lines(lines: list[Line]) -> None:
    print(f"    {'system':<11} {'work':<20} {'calls':>6} {'min':>6} {'ratio':>6}  records → minimum rule; endpoints")
    for line in sorted(lines, key=lambda x: (x.work.system, x.work.name)):
        w = line.work
        records = ", ".join(f"{s.split('.', 1)[1]} {n:,}" for s, n in line.records.items())
        endpoints = "; ".join(f"{k} ×{v}" for k, v in sorted(line.endpoints.items()))
        share = ratio(line.calls, line.minimum)
        print(f"    {w.system:<11} {w.name:<20} {line.calls:>6} {line.minimum:>6} {share:>6}  "
              f"{records or '-'} ({w.why or w.kind}); {endpoints or 'no call'}")
