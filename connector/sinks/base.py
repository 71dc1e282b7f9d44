"""The sink protocol and the logic every sink shares: diff against what was last written, detect drift.

A sink is one module per system (``salesforce.py``, ``hubspot.py``, ``zendesk.py``).  What is common —
deciding *what* to send — lives here so that each sink only decides *how* to send it (batching, the API's
shapes, partial failures).  The rules, written once:

* Only mapped fields are written (field ownership).
* A field is sent only when its new value differs from the last value successfully written (the
  ``written_values`` table), so an unchanged re-sync makes zero write calls.  Volatile outputs (the
  updated-at stamp) ride along with a real change and never cause a write on their own.
* If the CRM's current value differs from what we last wrote, a person edited an owned field: that is
  *drift*.  It is reported; with ``on_drift = "skip"`` (default) the field is left alone this run.
  Sinks read live values only for records they are about to write, so drift is found at the moment it
  matters (before we would overwrite a person's edit) and an unchanged re-sync costs no call at all.
* A value is recorded as written only after the API confirmed it, record by record.
* Empty is one value: we send ``''`` for an empty text, Salesforce and Zendesk give back ``null``, HubSpot
  ``''`` or ``null``.  Diff and drift compare through :func:`comparable`, so a blank field reading back as
  null is neither a change nor a person's edit (it used to freeze an empty Risk Flags field for good).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Protocol

from connector.batching import batched
from connector.config import Config
from connector.http import HttpLayer
from connector.mappings import FieldMapping
from connector.mappings import Mapping as FieldMap
from connector.records import AccountOutput, TaskSpec
from connector.store import Store, encode_value

#: Outputs that change on every run by nature: sent only together with a real change, so an unchanged
#: re-sync makes no write call and the field reads "when these values last changed".
VOLATILE_OUTPUTS = frozenset({"vector_updated_at"})

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


class Sink(Protocol):
    """What the sync needs from a destination system."""

    name: str

    def setup(self, ctx: SinkContext, dry_run: bool) -> list[PlannedChange]:
        """Create the custom fields/properties the mapping needs (idempotent); return what was (or would be) created."""
        ...

    def check(self, ctx: SinkContext) -> list[FieldProblem]:
        """Fields that are missing or of the wrong type."""
        ...

    def write(self, ctx: SinkContext, outputs: Sequence[AccountOutput], tasks: Sequence[TaskSpec]) -> SinkReport:
        """Write changed fields and tasks; in ``ctx.dry_run`` write nothing and fill ``report.planned``.

        ``outputs`` may make each item when it is read (``AccountOutputs``): walk it as a stream, once,
        and keep only what is about to be sent.
        """
        ...


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


def comparable(encoded: str | None) -> str | None:
    """An encoded value as diff and drift compare it: the empty text and null are the same (no value)."""
    return None if encoded == "" else encoded


def format_value(value: Any, mapping: FieldMapping) -> Any:
    """Canonical output value → what the mapped field type accepts (rounding, dates as ISO, text caps)."""
    if value is None:
        return None
    if mapping.type in ("number", "percent"):
        return round(float(value), 1)
    if mapping.type == "integer":
        return round(float(value))
    if mapping.type == "date":
        return value.isoformat()[:10] if isinstance(value, (date, datetime)) else str(value)[:10]
    if mapping.type == "datetime":
        return value.isoformat() if isinstance(value, datetime) else str(value)
    text = str(value)
    return text[:255] if mapping.type in ("text", "picklist") else text[:32000]


def volatile_fields(mapping: FieldMap) -> frozenset[str]:
    return frozenset(fm.name for canonical, fm in mapping.fields.items() if canonical in VOLATILE_OUTPUTS)


def stream_changes(
    store: Store,
    system: str,
    obj: str,
    mapping: FieldMap,
    targets: Iterable[tuple[str, AccountOutput]],
    window: int = WINDOW,
) -> Iterator[RecordChange]:
    """What to send per remote record, as a stream; ``targets`` pairs each output with its remote record id.

    The last written values are read one window of records at a time, so memory holds one window's diff
    base and whatever changes the caller has not consumed yet — never the whole CRM's.
    """
    volatile = volatile_fields(mapping)
    for part in batched(targets, window):
        last = store.written_values(system, obj, [record_id for record_id, _ in part])
        for record_id, output in part:
            change = _diff_record(record_id, output, mapping, last, volatile)
            if change is not None:
                yield change


def _diff_record(
    record_id: str,
    output: AccountOutput,
    mapping: FieldMap,
    last: Mapping[tuple[str, str], str | None],
    volatile: frozenset[str],
) -> RecordChange | None:
    values: dict[str, Any] = {}
    old: dict[str, Any] = {}
    written: dict[str, str | None] = {}
    encoded_new: dict[str, str | None] = {}
    for canonical, fm in mapping.fields.items():
        if canonical not in output.fields:
            continue
        new = format_value(output.fields[canonical], fm)
        encoded = encode_value(new)
        key = (record_id, fm.name)
        previous = last.get(key)
        if key in last:
            written[fm.name], encoded_new[fm.name] = previous, encoded
            changed = comparable(encoded) != comparable(previous)
        else:  # never written: even an empty value is sent once, so the field starts as ours
            changed = encoded is not None
        if changed:
            values[fm.name] = new
            old[fm.name] = previous
    if set(values) - volatile:
        return RecordChange(record_id, output.account_id, values, old, written, encoded_new)
    return None


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
        if set(values) - volatile:
            kept.append(replace(change, values=values, old=old))
    return kept, drift


def planned_updates(system: str, obj: str, changes: Iterable[RecordChange]) -> list[PlannedChange]:
    """Dry-run lines for field updates."""
    return [
        PlannedChange(system, obj, c.record_id, "update", f, c.old.get(f), v, c.account_id)
        for c in changes
        for f, v in c.values.items()
    ]

