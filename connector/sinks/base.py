"""The field-writer skeleton every sink fills in, and the rules it applies once for all of them.

A sink is one module per system (``salesforce.py``, ``hubspot.py``, ``zendesk.py``) holding a
:class:`FieldSink` subclass: deciding *what* to send, batching it and recording it live here, so a sink
only says *how* its API finds, reads and writes records (about five methods; see :class:`FieldSink`).
Tasks have their own shared lifecycle in ``tasks.py``.  The rules, written once:

* Only mapped fields are written (field ownership).
* A field is sent only when its new value differs from the last value successfully written (the
  ``written_records`` table), so an unchanged re-sync makes zero write calls.  Volatile outputs (the
  updated-at stamp) ride along with a real change and never cause a write on their own.
* If the CRM's current value differs from what we last wrote, a person edited an owned field: that is
  *drift*.  It is reported; with ``on_drift = "skip"`` (default) the field is left alone this run.
  Sinks read live values only for records they are about to write, so drift is found at the moment it
  matters (before we would overwrite a person's edit) and an unchanged re-sync costs no call at all.
* A value is recorded as written only after the API confirmed it, record by record, with a sync-log line.
* Empty is one value: we send ``''`` for an empty text, Salesforce and Zendesk give back ``null``, HubSpot
  ``''`` or ``null``.  Diff and drift compare through :func:`comparable`, so a blank field reading back as
  null is neither a change nor a person's edit (it used to freeze an empty Risk Flags field for good).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from connector.batching import batched
from connector.config import Config
from connector.http import HttpLayer
from connector.mappings import FieldMapping
from connector.mappings import Mapping as FieldMap
from connector.records import AccountOutput, TaskSpec
from connector.sinks.field_values import VOLATILE_OUTPUTS as VOLATILE_OUTPUTS
from connector.sinks.field_values import comparable, format_value, volatile_fields
from connector.store import Store, encode_value


@dataclass(frozen=True)
class PlannedChange:
    """One line of a dry run (and of the sync log): what would change, from what, to what."""

    system: str
    object: str
    record_id: str
    action: str  # update | create_task | update_task | close_task | create_field
    field: str | None = None
    old: Any = None
    new: Any = None
    account_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in self.__dict__.items()}


class FieldsMissing(RuntimeError):
    """The destination lacks fields the mapping owns; the fix is ``connector setup``, not a retry."""


@dataclass(frozen=True)
class RecordFailure:
    """A record the API refused, with everything an admin needs to find and fix it."""

    system: str
    object: str
    record_id: str | None
    field: str | None
    message: str


@dataclass
class SinkReport:
    system: str
    records_updated: int = 0
    fields_written: int = 0
    tasks_created: int = 0
    tasks_updated: int = 0
    tasks_closed: int = 0
    failures: list[RecordFailure] = field(default_factory=list)
    drift: list[PlannedChange] = field(default_factory=list)
    planned: list[PlannedChange] = field(default_factory=list)
    stopped_reason: str | None = None  # e.g. "daily API budget reached"

    def as_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "records_updated": self.records_updated,
            "fields_written": self.fields_written,
            "tasks_created": self.tasks_created,
            "tasks_updated": self.tasks_updated,
            "tasks_closed": self.tasks_closed,
            "failures": [f.__dict__ for f in self.failures],
            "drift": [d.as_json() for d in self.drift],
            "planned": len(self.planned),
            "stopped_reason": self.stopped_reason,
        }


@dataclass
class SinkContext:
    store: Store
    http: HttpLayer
    config: Config
    now: datetime
    run_id: int | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class FieldProblem:
    system: str
    object: str
    field: str
    problem: str  # "missing" | "wrong type: expected number, found text"


#: Records diffed per look-up of the written values: bounds memory (one window's diff base at a time) while
#: keeping store round trips few.  Batches sent to an API never depend on it: each sink stage hands
#: the next a stream, which :func:`~connector.batching.batched` cuts into full API batches.
WINDOW = 2000


@dataclass(frozen=True)
class RecordChange:
    """The fields to send for one remote record (remote field name → value), and their old values.

    ``written`` and ``new`` hold, for every mapped field written before, the last confirmed value and the
    new one (both encoded): what :func:`apply_drift` compares a live value with, so drift is judged on the
    whole record, not only on the fields about to change.
    """

    record_id: str
    account_id: str
    values: dict[str, Any]
    old: dict[str, Any]
    written: dict[str, str | None] = field(default_factory=dict)
    new: dict[str, str | None] = field(default_factory=dict)
    #: The new values' digest (:mod:`~connector.sinks.record_digest`), stored once the CRM confirms every
    #: value of this change; None when the change no longer sends all of them (a field held for drift).
    digest: str | None = None
    #: Every value last confirmed for the record (mapped now or not), as the diff read them: what
    #: :meth:`Store.record_written` merges the confirmed values into without reading the record again.
    base: Mapping[str, str | None] | None = None


def stream_changes(
    store: Store,
    system: str,
    obj: str,
    mapping: FieldMap,
    targets: Iterable[tuple[str, AccountOutput]],
    window: int = WINDOW,
    *,
    settle: bool = False,
) -> Iterator[RecordChange]:
    """What to send per remote record, as a stream; ``targets`` pairs each output with its remote record id.

    Per window of records, each output's digest (:mod:`~connector.sinks.record_digest`) is compared with
    the one stored with the record: equal, the record has nothing to send and its written values are not
    read.  The others are diffed against their last written values, read for them alone, so memory holds
    one window's diff base and whatever changes the caller has not consumed yet, never the whole CRM's.
    ``settle`` (a run that writes, not a dry run) stores the digest of each record the diff found quiet,
    before the window's changes are yielded, so the next pass skips it.
    """
    from connector.sinks.record_digest import RecordDigest

    volatile = volatile_fields(mapping)
    fields = tuple(mapping.fields.items())
    digest = RecordDigest(mapping)
    for part in batched(targets, window):
        stored = store.written_texts(system, obj, [record_id for record_id, _ in part])
        changes: list[RecordChange] = []
        quiet: list[tuple[str, str]] = []
        for record_id, output in part:
            origin = output.origin  # made by an output table: its digest was made a column at a time
            d = origin[0].record_digest(digest, origin[1]) if origin is not None else None
            if d is None:
                d = digest.of(output.fields)
            settled, text = stored.get(record_id, _NEVER)
            if settled == d:
                continue
            change = _diff_record(record_id, output, fields, json.loads(text) if text else _NOTHING, volatile, d)
            if change is None:
                quiet.append((record_id, d))
            else:
                changes.append(change)
        if settle and quiet:
            store.settle_digests(system, obj, quiet)
        yield from changes


def record_confirmed(store: Store, system: str, obj: str, changes: Sequence[RecordChange], run_id: int | None) -> None:
    """Record changes the system confirmed whole: their values, each change's digest (the next diff skips
    the record while its outputs stay the same) and the values its diff read (merged into, not read again)."""
    store.record_written(system, obj, ((c.record_id, f, v) for c in changes for f, v in c.values.items()), run_id,
                         digests={c.record_id: c.digest for c in changes if c.digest is not None},
                         bases={c.record_id: c.base for c in changes if c.base is not None})


#: The written values of a record never written.
_NOTHING: Mapping[str, str | None] = {}
#: The stored digest and values of a record without a row.
_NEVER: tuple[str | None, str | None] = (None, None)


def _diff_record(
    record_id: str,
    output: AccountOutput,
    fields: tuple[tuple[str, FieldMapping], ...],
    last: Mapping[str, str | None],
    volatile: frozenset[str],
    digest: str | None = None,
) -> RecordChange | None:
    """One record's changed fields against what was last written (run once per record of a full pass:
    the field loop without a call per lookup); ``digest``: its new values' (see :class:`RecordChange`)."""
    values: dict[str, Any] = {}
    old: dict[str, Any] = {}
    written: dict[str, str | None] = {}
    encoded_new: dict[str, str | None] = {}
    given = output.fields
    for canonical, fm in fields:
        if canonical not in given:
            continue
        new = format_value(given[canonical], fm)
        encoded = encode_value(new)
        name = fm.name
        if name in last:
            previous = written[name] = last[name]
            encoded_new[name] = encoded
            if comparable(encoded) == comparable(previous):
                continue
        elif encoded is None:  # never written: even an empty value is sent once, so the field starts as ours
            continue
        else:
            previous = None
        values[name] = new
        old[name] = previous
    if set(values) - volatile:
        return RecordChange(record_id, output.account_id, values, old, written, encoded_new, digest, last)
    return None


def unconfirmed(batch: Iterable[RecordChange], live: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Records whose values, as an earlier read saw them, differ from what we last wrote.

    A source's replica may predate our own last write (an incremental read that missed the echo of that
    write), so such a difference is confirmed by a read of the system itself before it counts as a person's
    edit; agreeing records need no read at all.
    """
    return [c.record_id for c in batch if c.record_id in live and any(
        comparable(encode_value(live[c.record_id].get(name))) != comparable(previous)
        for name, previous in c.written.items())]


def apply_drift(
    system: str,
    obj: str,
    mapping: FieldMap,
    changes: Iterable[RecordChange],
    current: Mapping[str, Mapping[str, Any]],
    on_drift: str = "skip",
) -> tuple[list[RecordChange], list[PlannedChange]]:
    """The changes still to send once live values are known, and the drift found.

    ``current`` is what the system holds now per record id and remote field name.  A field whose live value
    is neither what we last wrote nor what we are about to write was edited by a person: that is drift,
    reported, and with ``on_drift="skip"`` the field is left alone this run.
    """
    volatile = volatile_fields(mapping)
    kept: list[RecordChange] = []
    drift: list[PlannedChange] = []
    for change in changes:
        live_values = current.get(change.record_id) or {}
        values, old = dict(change.values), dict(change.old)
        for name, previous in change.written.items():
            live = comparable(encode_value(live_values.get(name)))
            if live not in (comparable(previous), comparable(change.new[name])):
                drift.append(PlannedChange(system, obj, change.record_id, "drift", name, previous, live,
                                           change.account_id))
                if on_drift == "skip":
                    values.pop(name, None)
                    old.pop(name, None)
        if set(values) - volatile:  # a field held back: the record is not settled by this write
            kept.append(replace(change, values=values, old=old,
                                digest=change.digest if len(values) == len(change.values) else None))
    return kept, drift


def planned_updates(system: str, obj: str, changes: Iterable[RecordChange]) -> list[PlannedChange]:
    """Dry-run lines for field updates."""
    return [
        PlannedChange(system, obj, c.record_id, "update", f, c.old.get(f), v, c.account_id)
        for c in changes
        for f, v in c.values.items()
    ]



#: record id → (field, message) for each record a send refused; the batch's other records were written.
Failed = dict[str, tuple[str | None, str]]


@dataclass(frozen=True)
class FieldSpec:
    """A field the mapping needs in the destination: on which object, its name, the type the system's
    describe reports (what ``check`` compares with), and what creating it sends."""

    object: str
    name: str
    type: str
    meta: Any = None


class Counted(Iterator[RecordChange]):
    """The pending-change stream, counted: when a budget stops a run, the report says how many updates are
    left without reading them back from the system."""

    def __init__(self, stream: Iterator[RecordChange]):
        self._stream, self.pulled = stream, 0

    def __next__(self) -> RecordChange:
        item = next(self._stream)
        self.pulled += 1
        return item

    def total(self) -> int:
        return self.pulled + sum(1 for _ in self._stream)


class FieldSink:
    """The field writer every sink is: diff → live read (drift) → dry run or batched send → record written.

    A sink sets ``name``, ``object`` (what it writes on), ``entity`` (the identity entity matched to
    accounts), ``batch_size`` and ``mapping``, and fills in five methods: ``wanted_fields``,
    ``existing_fields`` and ``create_field`` (setup and check), ``read_live`` (only with ``live_batch``) and
    ``send_batch`` (one API call, mapped to per-record failures).  Quirks have hooks whose defaults do
    nothing special: ``begin`` (per-run state), ``remote_ids``/``prepare`` (which records, values as the
    system keeps them), ``batches``/``send`` (budgets, bulk jobs), ``after_fields`` (tasks, ticket tags),
    ``stopped`` (an error that ends the run with a reason instead of a crash), ``setup_containers``/
    ``amend_field``/``field_problem`` (property groups, dropdown options).
    """

    name: str
    object: str
    entity: str
    batch_size: int
    mapping: FieldMap
    live_batch = 0  # records per live read; 0: values are not read back (no drift check)
    skip_absent = False  # a record missing from the live read was deleted there: do not write it
    on_drift = "skip"
    stop_on: tuple[type[Exception], ...] = ()

    # -- what each sink fills in -------------------------------------------------------------------------

    def wanted_fields(self) -> list[FieldSpec]:
        raise NotImplementedError

    def existing_fields(self, ctx: SinkContext) -> dict[str, dict[str, Any]]:
        """object → field name → what the system's describe says about it."""
        raise NotImplementedError

    def create_field(self, ctx: SinkContext, spec: FieldSpec) -> None:
        raise NotImplementedError

    def read_live(self, batch: list[RecordChange]) -> dict[str, dict[str, Any]]:
        """record id → remote field → live value, normalised so an unedited value equals what was written."""
        raise NotImplementedError

    def send_batch(self, batch: list[RecordChange]) -> Failed:
        raise NotImplementedError

    # -- hooks for a system's quirks ---------------------------------------------------------------------

    def begin(self, ctx: SinkContext) -> None:
        """Open per-run state (a client, caches) before anything is read."""

    def remote_ids(self, ctx: SinkContext) -> Callable[[str], list[str]]:
        """account id → its records here: itself when this system is the primary CRM, else identity's matches."""
        if ctx.config.connector.primary_crm == self.name:
            return lambda account_id: [account_id]
        matched = ctx.store.matched_entities(self.name, self.entity)
        return lambda account_id: sorted(matched.get(account_id, []))

    def targets(self, ctx: SinkContext, outputs: Iterable[AccountOutput]) -> Iterator[tuple[str, AccountOutput]]:
        ids = self.remote_ids(ctx)
        return ((rid, self.prepare(o)) for o in outputs for rid in ids(o.account_id))

    def prepare(self, output: AccountOutput) -> AccountOutput:
        """The output as this system will keep it (e.g. timestamps to the second), so a re-read compares equal.

        An override that changes any value but a date and time must drop the output's ``origin``
        (``replace(output, origin=None)``): the diff reads the digest of an output with an origin from its
        table's columns, which :meth:`RecordDigest.of_columns` makes only where no date and time is digested."""
        return output

    def batches(self, changes: Iterator[RecordChange], pending: Counted, report: SinkReport
                ) -> Iterator[list[RecordChange]]:
        return batched(changes, self.batch_size)

    def send(self, batches: Iterable[list[RecordChange]]) -> Iterator[tuple[list[RecordChange], Failed]]:
        for batch in batches:
            yield batch, self.send_batch(batch)

    def after_fields(self, ctx: SinkContext, tasks: Sequence[TaskSpec], report: SinkReport) -> None:
        """What follows the field writes (tasks, ticket tags); skipped when the run was stopped."""

    def stopped(self, exc: Exception) -> str:
        """The report's ``stopped_reason`` for an error in ``stop_on`` (re-raise it if it is not one)."""
        raise exc

    def setup_containers(self, ctx: SinkContext, dry_run: bool) -> list[PlannedChange]:
        return []

    def amend_field(self, ctx: SinkContext, spec: FieldSpec, found: Any, dry_run: bool) -> list[PlannedChange]:
        return []

    def field_problem(self, spec: FieldSpec, found: Any) -> str | None:
        return None if found == spec.type else f"wrong type: expected {spec.type}, found {found}"

    # -- the skeleton --------------------------------------------------------------------------------------

    def setup(self, ctx: SinkContext, dry_run: bool) -> list[PlannedChange]:
        """Create the fields the mapping needs (idempotent); return what was (or would be) created."""
        existing = self.existing_fields(ctx)
        planned = self.setup_containers(ctx, dry_run)
        for spec in self.wanted_fields():
            found = existing.get(spec.object, {}).get(spec.name)
            if found is not None:
                planned += self.amend_field(ctx, spec, found, dry_run)
                continue
            planned.append(PlannedChange(self.name, spec.object, spec.name, "create_field", spec.name, None,
                                         spec.type))
            if not dry_run:
                self.create_field(ctx, spec)
        return planned

    def check(self, ctx: SinkContext) -> list[FieldProblem]:
        """Fields that are missing or of the wrong type."""
        existing = self.existing_fields(ctx)
        problems = []
        for spec in self.wanted_fields():
            found = existing.get(spec.object, {}).get(spec.name)
            if problem := "missing" if found is None else self.field_problem(spec, found):
                problems.append(FieldProblem(self.name, spec.object, spec.name, problem))
        return problems

    def write(self, ctx: SinkContext, outputs: Iterable[AccountOutput], tasks: Sequence[TaskSpec]) -> SinkReport:
        """Write changed fields (then tasks and the like); in ``ctx.dry_run`` write nothing, fill ``planned``.

        A stream, one batch in memory per stage: ``outputs`` may make each item when it is read.  Live
        values are read only for records about to be written, so an unchanged re-sync costs no call.
        """
        report = SinkReport(self.name)
        self.begin(ctx)
        pending = Counted(stream_changes(ctx.store, self.name, self.object, self.mapping, self.targets(ctx, outputs),
                                         settle=not ctx.dry_run))
        changes: Iterator[RecordChange] = self._drift_checked(pending, report) if self.live_batch else pending
        try:
            if ctx.dry_run:
                report.planned = planned_updates(self.name, self.object, changes)
            else:
                for batch, failed in self.send(self.batches(changes, pending, report)):
                    self._settle(ctx, batch, failed, report)
            if report.stopped_reason is None:
                self.after_fields(ctx, tasks, report)
        except self.stop_on as exc:
            report.stopped_reason = self.stopped(exc)
        return report

    def _drift_checked(self, changes: Iterable[RecordChange], report: SinkReport) -> Iterator[RecordChange]:
        for batch in batched(changes, self.live_batch):
            current = self.read_live(batch)
            present = [c for c in batch if c.record_id in current] if self.skip_absent else batch
            kept, drift = apply_drift(self.name, self.object, self.mapping, present, current, self.on_drift)
            report.drift.extend(drift)
            yield from kept

    def _settle(self, ctx: SinkContext, batch: list[RecordChange], failed: Failed, report: SinkReport) -> None:
        """Record what the system confirmed (one transaction per batch), report the rest, log every record."""
        ok = [c for c in batch if c.record_id not in failed]
        record_confirmed(ctx.store, self.name, self.object, ok, ctx.run_id)
        report.records_updated += len(ok)
        report.fields_written += sum(len(c.values) for c in ok)
        log: list[tuple[str, str, str | None, str, str, str | None]] = []
        for c in batch:
            field_name, message = failed.get(c.record_id, (None, None))
            if message is not None:
                report.failures.append(RecordFailure(self.name, self.object, c.record_id, field_name, message))
            log.append((self.name, self.object, c.record_id, "update", "ok" if message is None else "failed", message))
        ctx.store.log_records(ctx.run_id, log)
