"""Zendesk sink: the Success Vector on each matched organization, and a priority tag on its open tickets.

Support is not Success, but agents need the vector to order their queue: organization fields let them sort
and let SLA policies and triggers key on the band; the ``cs_p1``…``cs_p4`` ticket tag feeds views.

How it writes (Zendesk's rules, https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#update-many-organizations):

* only fields that changed since the last confirmed write are sent (:func:`stream_changes`), so an unchanged
  re-sync makes no write call at all;
* ``organizations/update_many`` takes at most 100 organizations and answers with a job; the job is polled
  with a growing interval until ``completed``, and its per-item results decide what is recorded as
  written — a refused organization is reported with its id and Zendesk's message and, not being recorded,
  is sent again next run;
* when an organization's band changes, its open tickets (from the source's replica) get the new band tag
  and lose the others, through ``tickets/update_many`` in jobs of at most 100 tickets.  Tickets opened
  later are tagged at the next band change; a Zendesk trigger on the organization field covers them.

Tasks are not written to Zendesk: a CSM gets one task, in the CRM.  Dropdown fields store an option's
*value* (a tag), so picklist values are translated to ``<field>_<option>`` on the way out.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import requests
import structlog
from zenpy.lib.api_objects import Organization, OrganizationField, Ticket
from zenpy.lib.exception import ZenpyException

from connector.batching import batched
from connector.clients.zendesk import ZendeskApiError, ZendeskClient, build_client
from connector.config import Config
from connector.http import HttpLayer
from connector.mappings import FieldMapping, Mapping, load_mapping, option_value
from connector.records import AccountOutput, TaskSpec
from connector.sinks.base import (
    WINDOW,
    Failed,
    FieldSink,
    FieldSpec,
    PlannedChange,
    RecordChange,
    RecordFailure,
    SinkContext,
    SinkReport,
)

log = structlog.get_logger(__name__)

NAME, ORG = "zendesk", "organization"
#: The band each organisation's open tickets were last tagged with, kept apart from the organisation
#: field: a crash between the two writes must leave the tags to redo, not silently skipped next run.
TAGGED = "ticket_tags"
MAX_BULK = 100
OPEN = frozenset({"new", "open", "pending", "hold"})
#: Mapping type → Zendesk organization field type (Zendesk has no datetime or percent field).
ZENDESK_TYPES = {"number": "decimal", "percent": "decimal", "integer": "integer", "text": "text",
                 "textarea": "textarea", "date": "date", "datetime": "text", "picklist": "dropdown"}
_ALIASES = {"tagger": "dropdown"}
_API_ERRORS = (ZenpyException, ZendeskApiError, requests.RequestException)
#: Bulk jobs in flight at once, all polled by one ``job_statuses/show_many`` call per round.  Zendesk keeps
#: only the last 100 job statuses and queues a limited number of background jobs per account, so the window
#: stays well under both (30: 2 status calls per 3,000 records instead of 2 per 100).
JOB_WINDOW = 30
#: Jobs of a window submitted at once, each thread with its own client.  A submission only queues a job, so
#: sending them side by side costs Zendesk nothing more (the same requests, each paced by the HTTP layer's
#: limiter) and saves a round trip per 100 records: the write stage's longest leg at 5k accounts.
SUBMITTERS = 4
T = TypeVar("T")


class JobFailed(Exception):
    """A bulk job that did not complete (failed, killed, or still running at the deadline)."""


@dataclass(frozen=True)
class BandMove:
    org_id: str
    account_id: str
    old: str | None
    new: str | None


class ZendeskSink(FieldSink):
    name, object, entity, batch_size = NAME, ORG, ORG, MAX_BULK

    def __init__(self, config: Config, client: ZendeskClient | None = None):
        if config.zendesk is None:
            raise ValueError("zendesk sink: the config has no [zendesk] section")
        self.config, self.cfg = config, config.zendesk
        self.mapping = load_mapping(config.resolve(self.cfg.mapping))
        self.band = self.mapping.fields.get("priority_band")
        self._client = client
        self._http: HttpLayer | None = None  # set when the sink builds its own clients (not a test's injected one)
        #: Bulk jobs submitted and status polls made by the last ``write`` (also in the HTTP ledger).
        self.stats = {"jobs": 0, "polls": 0}
        self._moves: list[BandMove] = []

    def _zendesk(self, ctx: SinkContext) -> ZendeskClient:
        if self._client is None:
            self._client = build_client(self.config, ctx.http)
            self._http = ctx.http
        return self._client

    # -- fields -----------------------------------------------------------------------------------------

    def wanted_fields(self) -> list[FieldSpec]:
        return [FieldSpec(ORG, fm.name, ZENDESK_TYPES[fm.type], fm) for fm in self.mapping.fields.values()]

    def existing_fields(self, ctx: SinkContext) -> dict[str, dict[str, Any]]:
        return {ORG: {f.key: f for f in self._zendesk(ctx).zenpy.organization_fields()}}

    def create_field(self, ctx: SinkContext, spec: FieldSpec) -> None:
        fm, wanted = spec.meta, _wanted_options(spec.meta)
        self._zendesk(ctx).zenpy.organization_fields.create(OrganizationField(
            key=fm.name, title=fm.label, type=spec.type, description=fm.description,
            **({"custom_field_options": wanted} if wanted else {})))

    def amend_field(self, ctx: SinkContext, spec: FieldSpec, found: Any, dry_run: bool) -> list[PlannedChange]:
        """Add the dropdown options the mapping has and the field lacks; existing options are kept."""
        wanted, have = _wanted_options(spec.meta), _options(found)
        missing = [o for o in wanted if o["value"] not in have]
        if not missing or _kind(found) != "dropdown":
            return []
        if not dry_run:
            keep = [{"id": o.id, "name": o.name, "value": o.value} for o in found.custom_field_options]
            self._zendesk(ctx).zenpy.organization_fields.update(
                OrganizationField(id=found.id, custom_field_options=keep + missing))
        return [PlannedChange(NAME, ORG, spec.name, "update_field", "custom_field_options", sorted(have),
                              [o["value"] for o in wanted])]

    def field_problem(self, spec: FieldSpec, found: Any) -> str | None:
        if _kind(found) != spec.type:
            return f"wrong type: expected {spec.type}, found {found.type}"
        if missing := [o for o in spec.meta.options if option_value(spec.name, o) not in _options(found)]:
            return f"missing options: {', '.join(missing)}"
        return None

    # -- write ------------------------------------------------------------------------------------------

    def begin(self, ctx: SinkContext) -> None:
        self.stats, self._moves = {"jobs": 0, "polls": 0}, []  # moves fill as the changes stream is consumed
        self._zendesk(ctx)

    def targets(self, ctx: SinkContext, outputs: Iterable[AccountOutput]) -> Iterator[tuple[str, AccountOutput]]:
        return self._noting_moves(ctx, self.band, super().targets(ctx, outputs), self._moves)

    def send(self, batches: Iterable[list[RecordChange]]) -> Iterator[tuple[list[RecordChange], Failed]]:
        """``update_many`` jobs, ``JOB_WINDOW`` in flight; a value Zendesk cannot take fails its record only."""
        client = self._client
        assert client is not None
        by_name = {fm.name: fm for fm in self.mapping.fields.values()}

        def jobs() -> Iterator[tuple[tuple[list[RecordChange], Failed], Callable[[Any], Any] | None]]:
            for batch in batches:
                failed: Failed = {}
                payload = []
                for change in batch:
                    try:
                        fields = {name: _encode(by_name[name], value)
                                  for name, value in change.values.items()}
                    except ValueError as exc:
                        failed[change.record_id] = (None, str(exc))
                        continue
                    payload.append(Organization(id=int(change.record_id), organization_fields=fields))
                yield (batch, failed), partial(_update_organizations, payload) if payload else None

        for (batch, failed), outcome, batch_error in self._run_jobs(client, jobs()):
            for change in batch:
                if change.record_id not in failed:
                    error = batch_error or outcome.get(change.record_id, "no result for this organization in the job")
                    if error is not None:
                        failed[change.record_id] = (None, error)
            yield batch, failed

    def after_fields(self, ctx: SinkContext, tasks: Sequence[TaskSpec], report: SinkReport) -> None:
        """Re-tag the open tickets of organizations whose band moved (tasks are not written to Zendesk)."""
        band, moves = self.band, self._moves
        if ctx.dry_run:
            report.planned += [PlannedChange(NAME, "ticket", str(tid), "retag", "tags", remove, add, m.account_id)
                               for m, tid, add, remove in self._retags(ctx, self.mapping, band, moves)]
            return
        refused = {f.record_id for f in report.failures if f.object == ORG}
        moves = [m for m in moves if m.org_id not in refused]
        unfinished = self._retag(ctx, self._zendesk(ctx), self._retags(ctx, self.mapping, band, moves), report)
        if band is not None:
            ctx.store.record_written(NAME, TAGGED, [(m.org_id, band.name, m.new) for m in moves
                                                    if m.org_id not in unfinished], ctx.run_id)
        log.info("zendesk.sink.written", organizations=report.records_updated, failures=len(report.failures),
                 **self.stats)

    @staticmethod
    def _noting_moves(ctx: SinkContext, band: FieldMapping | None, targets: Iterable[tuple[str, AccountOutput]],
                      moves: list[BandMove]) -> Iterator[tuple[str, AccountOutput]]:
        """Pass ``targets`` through, noting in ``moves`` the organisations whose band differs from the band
        their open tickets were last tagged with (tags are tracked apart from the org field: see TAGGED)."""
        for window in batched(targets, WINDOW):
            if band is not None:
                tagged = ctx.store.written_values(NAME, TAGGED, [org_id for org_id, _ in window])
                for org_id, output in window:
                    new = output.fields.get("priority_band")
                    old = tagged.get((org_id, band.name))
                    if new is not None and str(new) != old:
                        moves.append(BandMove(org_id, output.account_id, old, str(new)))
            yield from window

    def _retags(self, ctx: SinkContext, mapping: Mapping, band: FieldMapping | None, moves: Sequence[BandMove]
                ) -> Iterator[tuple[BandMove, int, list[str], list[str]]]:
        """``(move, ticket id, tags to add, tags to remove)`` for the open tickets of the moved organizations.

        One replica read per window of moves (a read per organization was 9k queries, ~10 s, on a
        10k-account sync), and a stream: a first sync re-tags every open ticket, too many to hold at once.
        """
        if band is None or not moves:
            return
        prefix = str(mapping.setting("ticket_tag_prefix", "cs_"))
        for window in batched(moves, WINDOW):
            open_tickets: dict[str, list[int]] = defaultdict(list)
            for r in ctx.store.replica(NAME, "tickets", [f"org:{m.org_id}" for m in window]):
                if r.group_key and r.payload.get("status") in OPEN:
                    open_tickets[r.group_key].append(int(r.record_id))
            for move in window:
                new = [f"{prefix}{move.new.lower()}"] if move.new else []
                remove = [f"{prefix}{o.lower()}" for o in band.options if [f"{prefix}{o.lower()}"] != new]
                for tid in open_tickets.get(f"org:{move.org_id}", []):
                    yield move, tid, new, remove

    def _retag(self, ctx: SinkContext, client: ZendeskClient,
               retags: Iterable[tuple[BandMove, int, list[str], list[str]]], report: SinkReport) -> set[str]:
        """Apply the tag changes; the organizations with a ticket whose change failed (to redo next run)."""
        unfinished: set[str] = set()

        def jobs() -> Iterator[tuple[list[tuple[BandMove, int, list[str], list[str]]], Callable[[Any], Any]]]:
            for batch in batched(retags, MAX_BULK):
                tickets = [Ticket(id=tid, additional_tags=add, remove_tags=remove) for _, tid, add, remove in batch]
                yield batch, partial(_update_tickets, tickets)

        for batch, outcome, batch_error in self._run_jobs(client, jobs()):
            log_rows = []
            for move, tid, _, _ in batch:
                error = batch_error or outcome.get(str(tid), "no result for this ticket in the job")
                if error:
                    unfinished.add(move.org_id)
                    report.failures.append(RecordFailure(NAME, "ticket", str(tid), "tags", error))
                log_rows.append((NAME, "ticket", str(tid), "retag", "failed" if error else "ok", error))
            ctx.store.log_records(ctx.run_id, log_rows)
        return unfinished

    # -- jobs -------------------------------------------------------------------------------------------

    def _run_jobs(self, client: ZendeskClient, work: Iterable[tuple[T, Callable[[Any], Any] | None]]
                  ) -> Iterator[tuple[T, dict[str, str | None], str | None]]:
        """Submit bulk jobs ``JOB_WINDOW`` at a time and wait for each window together, yielding per job
        ``(item, record id → None if done else the error, batch error)`` in submission order.

        Waiting for one job before submitting the next cost one poll interval per 100 records (about 0.7 s
        per job against the sandbox, 11 of a 1k-account sync's 20 s); a window shares those waits.  The batch
        error is set when the job was refused or lost as a whole; it then applies to every item.  An item
        without a job (nothing in it could be sent) comes back with no results.
        """
        submitters = SUBMITTERS if self._http is not None else 1
        local = threading.local()

        def thread_client() -> ZendeskClient:
            """This submitter thread's own client (zenpy is not thread-safe: one client shared by threads
            raised 'dictionary changed size during iteration'); the sink's client when there is one submitter."""
            if submitters == 1:
                return client
            if getattr(local, "client", None) is None:
                assert self._http is not None
                local.client = build_client(self.config, self._http)
            return local.client

        def submit(job: Callable[[Any], Any] | None) -> Any:
            """One submission on a submitter thread."""
            if job is None:
                return None
            zenpy = thread_client().zenpy
            try:
                return job(zenpy)
            except _API_ERRORS as exc:
                return JobFailed(str(exc))

        with ThreadPoolExecutor(max_workers=submitters, thread_name_prefix="zendesk-job") as pool:
            for group in batched(work, JOB_WINDOW):
                futures = [pool.submit(contextvars.copy_context().run, submit, job) for _, job in group]
                jobs = [f.result() for f in futures]
                self.stats["jobs"] += sum(1 for _, job in group if job is not None)
                for (item, _), done in zip(group, self._await_all(client, jobs), strict=True):
                    if isinstance(done, Exception):
                        log.warning("zendesk.job.failed", error=str(done))
                        yield item, {}, f"bulk job failed: {done}"
                    else:
                        yield item, _outcome(done), None

    def _await_all(self, client: ZendeskClient, jobs: list[Any]) -> list[list[Any] | Exception]:
        """Poll every unfinished job once per round — one ``job_statuses/show_many`` call for all of them —
        (interval doubling from ``job_poll_seconds``, capped at 10 s) until all are done: per job its
        results, or the error that ended it."""
        deadline = time.monotonic() + self.cfg.job_timeout_seconds
        delay = self.cfg.job_poll_seconds
        state: list[Any] = list(jobs)
        while todo := [i for i, j in enumerate(state) if j is not None
                       and not isinstance(j, Exception) and j.status not in ("completed", "failed", "killed")]:
            if time.monotonic() + delay > deadline:
                for i in todo:
                    state[i] = JobFailed(f"job {state[i].id} still {state[i].status} "
                                         f"after {self.cfg.job_timeout_seconds:.0f}s")
                break
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
            try:  # one job_statuses/show_many call for the whole window
                polled = {j.id: j for j in client.zenpy.job_status(ids=[state[i].id for i in todo])["job_statuses"]}
                self.stats["polls"] += 1
            except _API_ERRORS as exc:
                polled, error = {}, exc
            else:
                error = JobFailed("job status not returned (Zendesk keeps the last 100 jobs)")
            for i in todo:
                state[i] = polled.get(state[i].id, error)
        return [[] if j is None else j if isinstance(j, Exception) else list(j.results or []) if j.status == "completed"
                else JobFailed(f"job {j.id} {j.status}: {getattr(j, 'message', '')}") for j in state]


def _outcome(results: list[Any]) -> dict[str, str | None]:
    outcome: dict[str, str | None] = {}
    for result in results:
        error = getattr(result, "error", None)
        failed = error is not None or getattr(result, "success", True) is False
        details = getattr(result, "details", None) or getattr(result, "errors", None)
        outcome[str(result.id)] = f"{error or 'Failed'}: {details}" if failed else None
    return outcome


def _encode(fm: FieldMapping, value: Any) -> Any:
    if fm.type != "picklist" or value is None:
        return value
    if value not in fm.options:
        raise ValueError(f"{fm.name}: {value!r} is not an option ({', '.join(fm.options)}); "
                         "add it to the mapping and run `connector setup`")
    return option_value(fm.name, str(value))


def _wanted_options(fm: FieldMapping) -> list[dict[str, str]]:
    return [{"name": o, "value": option_value(fm.name, o)} for o in fm.options]


def _kind(field: Any) -> str:
    return _ALIASES.get(field.type, field.type)


def _options(field: Any) -> set[str]:
    """Option values of a dropdown as zenpy hands them over (objects, or dicts for fields it just created)."""
    values = (o.get("value") if isinstance(o, dict) else getattr(o, "value", None)
              for o in getattr(field, "custom_field_options", None) or [])
    return {str(v) for v in values if v}


def _update_organizations(payload: list[Organization], zenpy: Any) -> Any:
    """One ``organizations/update_many`` job with the given client (a submitter thread's own)."""
    return zenpy.organizations.update(payload)


def _update_tickets(tickets: list[Ticket], zenpy: Any) -> Any:
    """One ``tickets/update_many`` job with the given client (a submitter thread's own)."""
    return zenpy.tickets.update(tickets)
