"""The state store's API: the only module that reads or writes the connector's own database.

Every method is one short transaction.  Writes are upserts keyed on the table's natural key, so replaying
a batch after a crash converges instead of duplicating (the at-least-once half of our delivery story; the
idempotent-key half lives in the sinks).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Any, Protocol, TypeVar, cast, overload

import numpy as np
from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Select,
    String,
    Table,
    Text,
    bindparam,
    case,
    delete,
    func,
    insert,
    null,
    select,
    type_coerce,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connector.batching import batched
from connector.records import Account, Observation, Quarantined, Signal, SignalValue, TaskEvidence
from connector.store.columns import (
    AccountColumns,
    HistoryColumns,
    SignalColumns,
    date_days,
    float_column,
    object_column,
    timestamp_days,
)
from connector.store.database import larger_page_cache, make_engine, migrate
from connector.store.schema import (
    AccountChangeRow,
    AccountRow,
    AccountStateRow,
    Base,
    Cursor,
    EngineStateRow,
    MetaRow,
    ObservationRow,
    QuarantineRow,
    ReplicaRow,
    RunRow,
    ScoreRow,
    SignalPackRow,
    SignalRow,
    SyncLogRow,
    TaskRow,
    WrittenRecord,
)

_CHUNK = 2000
#: ``store_meta`` key of :meth:`Store.inputs_version`.
INPUTS_VERSION = "inputs.version"
#: ``account_changes`` id meaning "every account" (a source's signals dropped wholesale).
EVERY_ACCOUNT = "*"
#: Values per ``IN (…)``: under SQLite's bound-parameter limit (999 before 3.32) with room for the rest.
_IN_LIMIT = 900
#: Rows per batch of a columnar read: a few MB of tuples at a time.
_READ_BATCH = 50_000
#: Engine-state rows per batch: each row is ~1 KB of packed bytes, held three times over while a batch is
#: turned into columns (the rows, their joined buffer, the unpacked arrays): 200 MB at 50,000 rows, the
#: peak of a 100k-account load; 10,000 keep it at ~40 MB for the same work in more, smaller steps.
_STATE_BATCH = 10_000
_Q = TypeVar("_Q", bound=Select)
#: ``store_meta`` key prefix of a packed engine state layout (see :meth:`Store.save_packed_states`).
STATE_LAYOUT_META = "scoring.state_layout."
#: ``store_meta`` key prefix of a signal pack layout (see :meth:`Store.save_signal_packs`).
SIGNAL_LAYOUT_META = "scoring.signal_layout."


class PackedStates(Protocol):
    """A block of packed engine states as the store saves it (made by the scoring package's
    ``PackedBlock``; the store only moves the bytes)."""

    @property
    def layout_key(self) -> str: ...

    @property
    def layout_json(self) -> str: ...

    def records(self) -> Iterable[tuple[str, bytes, str | None]]: ...


class SignalPacks(Protocol):
    """A block of accounts' packed signals as the store saves them (made by the scoring package's
    ``signal_packs``): per account its id, the pack revision read before its rows (None: it had no pack
    row), the bytes and the text values."""

    @property
    def layout_key(self) -> str: ...

    @property
    def layout_json(self) -> str: ...

    def records(self) -> Iterable[tuple[str, int | None, bytes, str | None]]: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def _aware(value: datetime) -> datetime: ...
@overload
def _aware(value: None) -> None: ...
def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC, so say so."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


_LEDGER_FIELDS = ("system", "key", "account_id", "play", "step", "remote_id", "status", "fingerprint", "created_at",
                  "updated_at", "close_reason", "remote_state", "remote_at", "touched", "remote_due", "remote_owner")


def _ledger_entry(r: TaskRow) -> TaskLedgerEntry:
    return TaskLedgerEntry(r.system, r.key, r.account_id, r.play, r.step, r.remote_id, r.status, r.fingerprint,
                           _aware(r.created_at), _aware(r.updated_at), r.close_reason, r.remote_state,
                           _aware(r.remote_at) if r.remote_at else None, bool(r.touched), r.remote_due,
                           r.remote_owner)


@dataclass(frozen=True)
class Replica:
    """One pulled source record as kept in the replica table."""

    record_id: str
    group_key: str | None
    payload: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class TaskLedgerEntry:
    system: str
    key: str
    account_id: str
    play: str
    step: int
    remote_id: str | None
    status: str
    fingerprint: str | None
    created_at: datetime
    updated_at: datetime
    close_reason: str | None = None
    remote_state: str | None = None  # read back: open / completed / dismissed (None: not read since the write)
    remote_at: datetime | None = None
    touched: bool = False
    remote_due: date | None = None
    remote_owner: str | None = None

    def evidence(self) -> TaskEvidence | None:
        """What people did to this task since the connector's last write, or None when nothing."""
        if self.remote_state is None or (self.remote_state == "open" and not self.touched):
            return None
        return TaskEvidence(self.key, self.account_id, self.remote_state, self.remote_at,  # type: ignore[arg-type]
                            self.touched, self.remote_due, self.remote_owner)


@dataclass(frozen=True)
class PendingChanges:
    """Accounts whose scoring inputs were written since a complete cycle last scored (None: every account),
    and the change numbers read, as closed ranges."""

    accounts: set[str] | None
    runs: tuple[tuple[int, int], ...]


class Store:
    """State store over SQLAlchemy 2 (SQLite by default, PostgreSQL by URL)."""

    def __init__(self, url: str, *, engine: Engine | None = None, auto_migrate: bool = True):
        self.url = url
        self.engine = engine or make_engine(url)
        if auto_migrate:
            migrate(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # -- generic upsert --------------------------------------------------------------------------------

    def _upsert(self, session: Session, model: type[Base], rows: Sequence[dict[str, Any]], keys: Sequence[str],
                on_update: Callable[[Table, Any], Mapping[str, Any]] | None = None) -> None:
        """INSERT … ON CONFLICT DO UPDATE, one executemany per ``_CHUNK`` rows (:func:`execute_many`).

        ``on_update(table, stmt)`` overrides what some columns become on a conflict (default: the new value).
        """
        if not rows:
            return
        table: Table = model.__table__  # type: ignore[assignment]
        stmt = self._insert(table)
        updates = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
        if on_update is not None:
            updates.update(on_update(table, stmt))
        stmt = (stmt.on_conflict_do_update(index_elements=list(keys), set_=updates) if updates
                else stmt.on_conflict_do_nothing(index_elements=list(keys)))
        for chunk in batched(rows, _CHUNK):  # the driver's parameters for one chunk at a time
            execute_many(session.connection(), stmt, chunk)

    def _insert(self, table: Any) -> Any:
        """The dialect's INSERT (the one with ``ON CONFLICT``) into ``table``."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # -- cursors and replica ---------------------------------------------------------------------------

    def get_cursor(self, source: str, stream: str) -> str | None:
        with Session(self.engine) as s:
            row = s.get(Cursor, (source, stream))
            return row.value if row else None

    def set_cursor(self, source: str, stream: str, value: str) -> None:
        with Session(self.engine) as s, s.begin():
            self._upsert(
                s,
                Cursor,
                [{"source": source, "stream": stream, "value": value, "updated_at": utcnow()}],
                ("source", "stream"),
            )

    def cursors(self) -> dict[str, dict[str, Any]]:
        with Session(self.engine) as s:
            return {
                f"{r.source}.{r.stream}": {"value": r.value, "updated_at": _aware(r.updated_at)}
                for r in s.scalars(select(Cursor))
            }

    def upsert_replica(self, source: str, stream: str, rows: Iterable[Replica], cursor: str | None = None) -> int:
        """Store pulled records, mark their groups dirty and (same transaction) move the cursor."""
        batch = [
            {
                "source": source,
                "stream": stream,
                "record_id": r.record_id,
                "group_key": r.group_key,
                "payload": r.payload,
                "updated_at": r.updated_at,
                "dirty": True,
            }
            for r in rows
        ]
        batch = list({b["record_id"]: b for b in batch}.values())
        with Session(self.engine) as s, s.begin():
            self._upsert(s, ReplicaRow, batch, ("source", "stream", "record_id"))
            if batch:
                self._inputs_changed(s)
            if cursor is not None:
                self._upsert(
                    s,
                    Cursor,
                    [{"source": source, "stream": stream, "value": cursor, "updated_at": utcnow()}],
                    ("source", "stream"),
                )
        return len(batch)

    def replica(self, source: str, stream: str, group_keys: Iterable[str] | None = None, *,
                by_group: bool = False) -> Iterator[Replica]:
        """Records of a stream, optionally only those in ``group_keys``; streamed, not loaded whole.

        ``by_group`` yields them ordered by group key (the ``ix_replica_group`` index), so a caller can
        aggregate one group at a time with :func:`itertools.groupby` instead of holding the stream in memory.
        """
        cols = (ReplicaRow.record_id, ReplicaRow.group_key, ReplicaRow.payload, ReplicaRow.updated_at)
        base = select(*cols).where(ReplicaRow.source == source, ReplicaRow.stream == stream)
        if by_group:  # byte order on every backend, the order Python compares str in (callers merge streams)
            key = ReplicaRow.group_key.collate("C") if self.dialect == "postgresql" else ReplicaRow.group_key
            base = base.order_by(key, ReplicaRow.record_id)
        with self.engine.connect() as conn:
            for query in _per_id_chunk(base, ReplicaRow.group_key, group_keys):
                for record_id, group_key, payload, updated_at in conn.execute(query.execution_options(yield_per=5000)):
                    yield Replica(record_id, group_key, payload, _aware(updated_at))

    def replica_times(self, source: str, stream: str) -> dict[str, datetime]:
        """``record_id → updated_at`` of a stream's records, without their payloads (what a freshness check needs)."""
        q = select(ReplicaRow.record_id, ReplicaRow.updated_at).where(ReplicaRow.source == source,
                                                                       ReplicaRow.stream == stream)
        with self.engine.connect() as conn:
            return {record_id: _aware(at) for record_id, at in conn.execute(q)}

    def dirty_groups(self, source: str, stream: str) -> set[str]:
        with Session(self.engine) as s:
            q = (
                select(ReplicaRow.group_key)
                .where(ReplicaRow.source == source, ReplicaRow.stream == stream, ReplicaRow.dirty.is_(True))
                .distinct()
            )
            return {g for g in s.scalars(q) if g is not None}

    def clear_dirty(self, source: str, stream: str, groups: Iterable[str] | None = None) -> None:
        cond = [ReplicaRow.source == source, ReplicaRow.stream == stream, ReplicaRow.dirty.is_(True)]
        with Session(self.engine) as s, s.begin():
            if groups is None:
                s.execute(update(ReplicaRow).where(*cond).values(dirty=False))
                return
            for chunk in batched(groups, _IN_LIMIT):
                s.execute(update(ReplicaRow).where(*cond, ReplicaRow.group_key.in_(chunk)).values(dirty=False))

    # -- accounts, observations, signals ---------------------------------------------------------------

    def upsert_accounts(self, accounts: Iterable[Account]) -> int:
        rows = [
            {
                "account_id": a.account_id,
                "system": a.system,
                "name": a.name,
                "domain": a.domain,
                "external_id": a.external_id,
                "owner_id": a.owner_id,
                "segment": a.segment,
                "contract_start": a.contract_start,
                "renewal_date": a.renewal_date,
                "arr": a.arr,
                "updated_at": a.updated_at,
            }
            for a in accounts
        ]
        with Session(self.engine) as s, s.begin():
            self._upsert(s, AccountRow, rows, ("account_id",))
            if rows:
                self._inputs_changed(s, (cast(str | None, r["account_id"]) for r in rows))
        return len(rows)

    def account_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(AccountRow)).scalar() or 0)

    def accounts(self) -> list[Account]:
        with Session(self.engine) as s:
            return [
                Account(
                    r.account_id,
                    cast(Any, r.system),
                    r.name,
                    r.domain,
                    r.external_id,
                    r.owner_id,
                    r.segment,
                    r.contract_start,
                    r.renewal_date,
                    r.arr,
                    _aware(r.updated_at),
                )
                for r in s.scalars(select(AccountRow).order_by(AccountRow.account_id))
            ]

    def upsert_observations(self, observations: Iterable[Observation]) -> int:
        """Store what a source said; a re-read keeps the entity's identity match unless its keys changed.

        A pull re-reads records that moved (the connector's own write-backs move every written company), and
        resetting their match to pending until the next score cycle would leave webhooks for them without an
        account in between.  Same keys against the same account list resolve the same way, and the score
        cycle re-resolves every observation anyway (the account list may have changed).
        """
        rows = [
            {
                "source": o.source,
                "entity": o.entity,
                "entity_id": o.entity_id,
                "keys": o.keys.present(),
                "signals": dict(o.signals),
                "as_of": o.as_of,
                "account_id": None,
                "match": "pending",
                "dirty": True,
            }
            for o in observations
        ]
        rows = list({(r["source"], r["entity"], r["entity_id"]): r for r in rows}.values())
        with Session(self.engine) as s, s.begin():
            self._upsert(s, ObservationRow, rows, ("source", "entity", "entity_id"), _keep_match_if_same_keys)
        return len(rows)

    def observation_sources(self) -> list[str]:
        with Session(self.engine) as s:
            return sorted(s.scalars(select(ObservationRow.source).distinct()))

    def observations(self, source: str | None = None) -> Iterator[ObservationRow]:
        q = select(ObservationRow)
        if source:
            q = q.where(ObservationRow.source == source)
        with Session(self.engine) as s:
            for row in s.scalars(q.execution_options(yield_per=5000)):
                s.expunge(row)
                yield row

    def observation_keys(self, source: str, *, dirty_only: bool = False
                         ) -> Iterator[tuple[str, str, dict[str, Any], str | None]]:
        """``(entity, entity_id, keys, signals_account_id)`` of a source's records (only the dirty ones when
        asked): what resolution reads, as plain tuples (no ORM objects, no readings decoded)."""
        q = select(ObservationRow.entity, ObservationRow.entity_id, ObservationRow.keys,
                   ObservationRow.signals_account_id).where(ObservationRow.source == source)
        if dirty_only:
            q = q.where(ObservationRow.dirty.is_(True))
        with self.engine.connect() as conn:
            yield from conn.execute(q.execution_options(yield_per=10000))

    def settle_observations(self, source: str, refs: Iterable[tuple[str, str]] | None = None) -> None:
        """Mark records (all of a source's, or ``(entity, entity_id)`` refs) resolved: clean, and feeding
        the account they are matched to (none when not matched)."""
        fed = case((ObservationRow.match == "matched", ObservationRow.account_id), else_=None)
        stmt = update(ObservationRow).values(dirty=False, signals_account_id=fed)
        with Session(self.engine) as s, s.begin():
            if refs is None:
                s.execute(stmt.where(ObservationRow.source == source))
                return
            conn = s.connection()
            keyed = stmt.where(ObservationRow.source == source, ObservationRow.entity == bindparam("e"),
                               ObservationRow.entity_id == bindparam("i"))
            for chunk in batched(refs, _CHUNK):
                conn.execute(keyed, [{"e": e, "i": i} for e, i in chunk])

    def match_counts(self) -> dict[str, dict[str, int]]:
        """Per source, how many records are matched / ambiguous / unmatched / pending."""
        q = select(ObservationRow.source, ObservationRow.match, func.count()).group_by(
            ObservationRow.source, ObservationRow.match)
        found: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for source, match, count in conn.execute(q):
                found.setdefault(source, {})[match] = int(count)
        return found

    def unmatched_observations(self, source: str, limit: int) -> list[tuple[str, str, dict[str, Any]]]:
        """``(entity, entity_id, keys)`` of up to ``limit`` records not matched, in key order (examples)."""
        q = (select(ObservationRow.entity, ObservationRow.entity_id, ObservationRow.keys)
             .where(ObservationRow.source == source, ObservationRow.match != "matched")
             .order_by(ObservationRow.entity, ObservationRow.entity_id).limit(limit))
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(q)]

    def matched_readings(self, source: str, account_ids: Iterable[str] | None = None
                         ) -> Iterator[tuple[str, list[tuple[dict[str, Any], datetime]]]]:
        """Per matched account (in account order; only ``account_ids`` when given), its ``(signals, as_of)``
        readings from ``source``.

        Streamed so that rebuilding a source's signals holds one account's readings, not the source's;
        within an account the order is the primary key's, as stable as the readings themselves.
        """
        q = (
            select(ObservationRow.account_id, ObservationRow.signals, ObservationRow.as_of)
            .where(ObservationRow.source == source, ObservationRow.match == "matched")
            .order_by(ObservationRow.account_id, ObservationRow.entity, ObservationRow.entity_id)
        )
        if account_ids is None:  # with ids, their IN says it: SQLite would read "not null" as a range instead
            q = q.where(ObservationRow.account_id.is_not(None))
        with Session(self.engine) as s:  # id chunks are sorted and disjoint: account order holds across them
            for query in _per_id_chunk(q, ObservationRow.account_id, account_ids):
                rows = s.execute(query.execution_options(yield_per=5000))
                for account_id, group in groupby(rows, key=lambda r: r[0]):
                    yield account_id, [(signals, _aware(as_of)) for _, signals, as_of in group]

    # -- small named facts about the store -------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        with Session(self.engine) as s:
            row = s.get(MetaRow, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        with Session(self.engine) as s, s.begin():
            self._upsert(s, MetaRow, [{"key": key, "value": value, "updated_at": utcnow()}], ("key",))

    def inputs_version(self) -> str | None:
        """A token renewed by every write to what a score cycle reads (see :mod:`connector.settled`): two
        equal readings mean no account, signal, identity match, task-ledger row or replica row was written
        in between.  None before the first such write."""
        return self.meta(INPUTS_VERSION)

    def _inputs_changed(self, session: Session, accounts: Iterable[str | None] | None = ()) -> None:
        """Renew :meth:`inputs_version` and note which accounts' inputs changed (``None`` = every account's)
        inside the writer's own transaction: the marks and the data they stand for commit (or roll back)
        together.  A random token and an append-only list, not counters: concurrent writers need no
        read-modify-write."""
        self._upsert(session, MetaRow, [{"key": INPUTS_VERSION, "value": uuid.uuid4().hex, "updated_at": utcnow()}],
                     ("key",))
        ids = {EVERY_ACCOUNT} if accounts is None else {a for a in accounts if a is not None}
        if ids:
            session.execute(insert(AccountChangeRow), [{"account_id": a} for a in sorted(ids)])

    def pending_changes(self, *, accounts: bool = True) -> PendingChanges:
        """The change marks no complete cycle has scored yet: their accounts (unless ``accounts=False``) and
        their numbers as ranges, for :meth:`forget_changes` once a cycle has scored them.

        Why the numbers and not a threshold: on PostgreSQL a number is taken when a writer inserts, not when
        it commits, so a mark numbered below one already visible may still commit later.  Forgetting only
        the numbers that were read keeps such a late mark for the next cycle."""
        seq = AccountChangeRow.seq
        with self.engine.connect() as conn:
            low, high, count = conn.execute(select(func.min(seq), func.max(seq), func.count())).one()
            if not count:
                return PendingChanges(set(), ())
            if count == high - low + 1:  # no gap: every number in the range is here (the usual case, and cheap)
                found: set[str] = set()
                if accounts:
                    found = set(conn.execute(select(AccountChangeRow.account_id).where(seq.between(low, high))
                                             .distinct()).scalars())
                return PendingChanges(None if EVERY_ACCOUNT in found else found, ((int(low), int(high)),))
            cols = (seq, AccountChangeRow.account_id) if accounts else (seq,)
            rows = conn.execute(select(*cols).order_by(seq)).all()
        runs: list[tuple[int, int]] = []
        for (number, *_) in rows:
            if runs and runs[-1][1] == number - 1:
                runs[-1] = (runs[-1][0], number)
            else:
                runs.append((number, number))
        read = {r[1] for r in rows} if accounts else set()
        return PendingChanges(None if EVERY_ACCOUNT in read else read, tuple(runs))

    def forget_changes(self, runs: Iterable[tuple[int, int]]) -> None:
        """Drop the marks a complete cycle has scored (the ranges :meth:`pending_changes` read)."""
        with self.engine.begin() as conn:  # Core, not the ORM: its session sync would fetch every deleted row
            for lo, hi in runs:
                conn.execute(delete(AccountChangeRow).where(AccountChangeRow.seq.between(lo, hi)))

    def account_keys(self) -> list[tuple[str, str | None, str | None]]:
        """``(account_id, domain, external_id)`` of every account in id order: what identity matches on."""
        q = select(AccountRow.account_id, AccountRow.domain, AccountRow.external_id).order_by(AccountRow.account_id)
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(q)]  # type: ignore[misc]

    def matched_entities(self, source: str, entity: str) -> dict[str, list[str]]:
        """account_id → the source's entity ids matched to it (e.g. Zendesk org ids of an account)."""
        q = select(ObservationRow.account_id, ObservationRow.entity_id).where(
            ObservationRow.source == source, ObservationRow.entity == entity, ObservationRow.match == "matched"
        )
        found: dict[str, list[str]] = {}
        with Session(self.engine) as s:
            for account_id, entity_id in s.execute(q):
                if account_id is not None:
                    found.setdefault(account_id, []).append(entity_id)
        return found

    def set_matches(self, matches: Iterable[tuple[str, str, str, str | None, str]]) -> None:
        """``(source, entity, entity_id, account_id, match)`` for each resolved observation."""
        rows = [{"source": m[0], "entity": m[1], "entity_id": m[2], "account_id": m[3], "match": m[4]} for m in matches]
        with Session(self.engine) as s, s.begin():
            for chunk in batched(rows, _CHUNK):
                s.execute(update(ObservationRow), chunk)
            if rows:
                self._inputs_changed(s, (cast(str | None, r["account_id"]) for r in rows))

    def replace_signals(self, signals: Iterable[Signal]) -> int:
        rows = [
            {
                "account_id": g.account_id,
                "name": g.name,
                "value_num": float(g.value) if isinstance(g.value, (int, float)) else None,
                "value_text": g.value if isinstance(g.value, str) else None,
                "as_of": g.as_of,
                "source": g.source,
            }
            for g in signals
        ]
        rows = list({(r["account_id"], r["name"]): r for r in rows}.values())
        with Session(self.engine) as s, s.begin():
            self._upsert(s, SignalRow, rows, ("account_id", "name"))
            if rows:
                self._inputs_changed(s, (cast(str | None, r["account_id"]) for r in rows))
                self._stale_packs(s, {cast(str, r["account_id"]) for r in rows})
        return len(rows)

    def delete_signals(self, source: str, account_ids: Iterable[str] | None = None) -> None:
        """Drop a source's signals (for accounts no longer matched, so stale inputs do not linger)."""
        account_ids = None if account_ids is None else list(account_ids)
        with Session(self.engine) as s, s.begin():
            self._inputs_changed(s, account_ids)
            if account_ids is None:
                self._stale_packs(s, None, source)
                s.execute(delete(SignalRow).where(SignalRow.source == source))
                return
            self._stale_packs(s, set(account_ids))
            for chunk in batched(account_ids, _IN_LIMIT):
                s.execute(delete(SignalRow).where(SignalRow.source == source, SignalRow.account_id.in_(chunk)))

    def _stale_packs(self, session: Session, account_ids: set[str] | None, source: str | None = None) -> None:
        """Clear the signal packs of accounts whose signals this transaction writes, and bump their ``rev``
        (a row is made where there was none: see :meth:`save_signal_packs` for why).  ``None``: every
        account that has signals of ``source``."""
        def stale(table: Table, _stmt: Any) -> dict[str, Any]:
            return {"rev": table.c.rev + 1, "layout": None, "packed": None, "texts": None}

        if account_ids is None:
            table = cast(Table, SignalPackRow.__table__)
            # SQLite parses ``INSERT … SELECT … ON CONFLICT`` only when the SELECT has a WHERE: it has.
            accounts = select(SignalRow.account_id, sql_cast(1, table.c.rev.type)).where(
                SignalRow.source == source).distinct()
            session.execute(self._insert(table).from_select(["account_id", "rev"], accounts)
                            .on_conflict_do_update(index_elements=["account_id"], set_=stale(table, None)))
            return
        for chunk in batched(sorted(account_ids), _CHUNK):
            self._upsert(session, SignalPackRow, [{"account_id": a, "rev": 1} for a in chunk], ("account_id",),
                         on_update=stale)

    def signals(self, account_ids: Iterable[str] | None = None) -> Iterator[Signal]:
        with Session(self.engine) as s:
            for query in _per_id_chunk(select(SignalRow), SignalRow.account_id, account_ids):
                for r in s.scalars(query.execution_options(yield_per=10000)):
                    value: SignalValue = r.value_num if r.value_text is None else r.value_text
                    yield Signal(r.account_id, r.name, value, _aware(r.as_of), r.source)

    # -- columnar reads for scoring ---------------------------------------------------------------------

    def _timestamps(self, column: Any) -> Any:
        """``column`` as SQLite's stored text (parsed in bulk by :func:`timestamp_days`) or, on PostgreSQL,
        the driver's datetimes: SQLAlchemy's per-row text → datetime parsing is skipped on SQLite."""
        return type_coerce(column, String) if self.dialect == "sqlite" else column

    def _batches(self, query: Any, column: Any, ids: Iterable[str] | None, size: int = 0
                 ) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of ``query`` (once per id chunk) as the driver's plain tuples, ``_READ_BATCH`` at a time.

        Read from the DBAPI cursor, past SQLAlchemy's ``Row`` objects: a million signal rows cost seconds
        there.  The queries select only columns whose driver values are already what the caller wants
        (timestamps as SQLite text via :meth:`_timestamps`), so no result processing is skipped.  Batches
        (a server-side cursor on PostgreSQL) keep one batch of tuples alive, not the table's.
        """
        size = size or _READ_BATCH
        with self.engine.connect() as conn:
            for q in _per_id_chunk(query, column, ids):
                if self.dialect == "postgresql":
                    yield from _server_side(conn, q, size)
                    continue
                result = conn.execute(q)  # sqlite3 steps through the query as rows are fetched
                try:
                    while batch := result.cursor.fetchmany(size):
                        yield list(batch)
                finally:
                    result.close()

    def _columns(self, query: Any, column: Any, ids: Iterable[str] | None) -> list[tuple[Any, ...]]:
        """All rows of ``query`` as plain tuples (small results: accounts, a window of written values)."""
        return [row for batch in self._batches(query, column, ids) for row in batch]

    def account_columns(self, account_ids: Iterable[str] | None = None) -> AccountColumns:
        """Accounts (all, or ``account_ids``) in the order of :meth:`accounts`, as columns."""
        dates = (AccountRow.contract_start, AccountRow.renewal_date)
        if self.dialect == "sqlite":
            dates = tuple(type_coerce(d, String) for d in dates)  # type: ignore[assignment]
        q = select(AccountRow.account_id, AccountRow.name, AccountRow.domain, AccountRow.owner_id,
                   AccountRow.segment, *dates, AccountRow.arr).order_by(AccountRow.account_id)
        # Columns made a batch of rows at a time (never every account's row tuple and date texts at once:
        # ~300 MB at a million accounts), owners and segments kept once per distinct value (a few thousand
        # owners and a handful of segments, where each row's text was its own ~60-byte string).
        parts: list[list[Any]] = [[] for _ in range(8)]
        shared: dict[str | None, str | None] = {}
        for rows in self._batches(q, AccountRow.account_id, None):
            cols = list(zip(*rows, strict=True))
            del rows
            parts[0].append(object_column(cols[0]))
            parts[1].append(object_column(cols[1]))
            parts[2].append(object_column(cols[2]))
            parts[3].append(object_column([shared.setdefault(v, v) for v in cols[3]]))
            parts[4].append(object_column([shared.setdefault(v, v) for v in cols[4]]))
            parts[5].append(date_days(cols[5]))
            parts[6].append(date_days(cols[6]))
            parts[7].append(float_column(cols[7]))
            del cols
        empty = (object, object, object, object, object, np.float64, np.float64, np.float64)
        found = AccountColumns(*(np.concatenate(p) if p else np.zeros(0, kind) for p, kind in zip(parts, empty,
                                                                                                    strict=True)))
        return found if account_ids is None else found.only(set(account_ids))

    def signal_columns(self, account_ids: Iterable[str] | None = None) -> Iterator[SignalColumns]:
        """Every signal row (of ``account_ids`` when given) as columns, one batch of rows at a time, from
        one Core query per id chunk: the caller keeps what it needs of each batch (rows, codes), so the
        table's strings are never alive at once."""
        # The null tests and the number's default are made by the database, so no Python runs per row here.
        q = select(SignalRow.account_id, SignalRow.name, func.coalesce(SignalRow.value_num, 0.0),
                   SignalRow.value_num.is_not(None), SignalRow.value_text, SignalRow.value_text.is_not(None),
                   self._timestamps(SignalRow.as_of))
        for rows in self._batches(q, SignalRow.account_id, account_ids):
            cols = list(zip(*rows, strict=True))
            has_num, has_text = np.array(cols[3], bool), np.array(cols[5], bool)
            num = np.array(cols[2], np.float64)
            num[~has_num] = np.nan
            yield SignalColumns(object_column(cols[0]), object_column(cols[1]), num, object_column(cols[4]),
                                has_num | has_text, has_text, timestamp_days(cols[6]))

    def history_columns(self, since: datetime, account_ids: Iterable[str] | None = None,
                        digests_since: datetime | None = None) -> Iterator[HistoryColumns]:
        """Each account's last score-history point of each day since ``since`` (of ``account_ids`` when
        given) as columns, a batch at a time; with ``digests_since``, the points scored at or after it
        carry their digest (the others None: only today's are compared, so older ones are not moved).

        Only a day's last point is read (latest ``scored_at``, then the highest magnitude, the point
        ``sorted(points)`` puts last) because the trend uses nothing else, and every cycle appends a point
        per account: a 15-minute daemon writes 96 a day, and reading them all would make the load grow with
        the cycles, not the days.  The day is the UTC date, as :func:`~connector.scoring.days.day_number`
        counts it (SQLite keeps the stored text's date; PostgreSQL the UTC date of the timestamp).
        """
        if self.dialect == "sqlite":
            day: Any = func.substr(type_coerce(ScoreRow.scored_at, String), 1, 10)
        else:
            day = func.date_trunc("day", func.timezone("UTC", ScoreRow.scored_at))
        rank = func.row_number().over(partition_by=(ScoreRow.account_id, day),
                                      order_by=(ScoreRow.scored_at.desc(), ScoreRow.magnitude.desc()))
        chunks: list[Sequence[str] | None] = (
            [None] if account_ids is None else list(batched(sorted(set(account_ids)), _IN_LIMIT)))
        digest = (case((ScoreRow.scored_at >= digests_since, ScoreRow.digest), else_=None)
                  if digests_since is not None else null())
        for chunk in chunks:
            inner = select(ScoreRow.account_id, self._timestamps(ScoreRow.scored_at).label("scored_at"),
                           ScoreRow.magnitude, digest.label("digest"), rank.label("rank")
                           ).where(ScoreRow.scored_at >= since)
            if chunk is not None:
                inner = inner.where(ScoreRow.account_id.in_(chunk))
            ranked = inner.subquery()
            q = select(ranked.c.account_id, ranked.c.scored_at, ranked.c.magnitude, ranked.c.digest
                       ).where(ranked.c.rank == 1)
            for rows in self._batches(q, None, None):
                cols = list(zip(*rows, strict=True))
                yield HistoryColumns(object_column(cols[0]), timestamp_days(cols[1]),
                                     np.array(cols[2], np.float64), object_column(cols[3]))

    # -- scores and engine state -----------------------------------------------------------------------

    def append_scores(self, rows: Iterable[dict[str, Any]], accounts: int = 0) -> int:
        """Append score rows, read ``_CHUNK`` at a time inside one transaction; returns how many.

        The sync passes a generator over every account's outputs: listing it first would hold a row dict
        (outputs JSON included) per account at once.  One transaction keeps a run's scores all-or-nothing.
        A row's ``outputs`` is a dict, or its JSON text already made (the sync makes it to digest it: see
        :mod:`connector.scoring.point_prints`), stored as it is.  ``accounts``: how many the pass scored
        (the page cache is sized for it: :func:`~connector.store.database.larger_page_cache`).
        """
        count = 0
        as_dicts = insert(ScoreRow)
        text = bindparam("outputs", type_=Text)  # stored as made: SQLite's JSON is text; PostgreSQL casts it
        as_text = insert(ScoreRow).values(outputs=sql_cast(text, JSON) if self.dialect == "postgresql" else text)
        with self.engine.begin() as conn, larger_page_cache(conn, accounts):
            for chunk in batched(rows, _CHUNK):
                execute_many(conn, as_text if isinstance(chunk[0].get("outputs"), str) else as_dicts, chunk)
                count += len(chunk)
        return count

    def score_history(
        self, since: datetime, account_ids: Iterable[str] | None = None
    ) -> dict[str, list[tuple[datetime, float]]]:
        """Every account's ``(scored_at, magnitude)`` since ``since``, oldest first, as one dict.

        For small callers; the sync reads :meth:`score_history_stream` so all series are never held at once.
        """
        return dict(self.score_history_stream(since, account_ids))

    def score_history_stream(
        self, since: datetime, account_ids: Iterable[str] | None = None
    ) -> Iterator[tuple[str, list[tuple[datetime, float]]]]:
        """``(account_id, [(scored_at, magnitude), …])`` per account scored since ``since``, oldest first.

        Read in account order (the ``ix_score_account_time`` index), ``yield_per`` rows at a time, and
        grouped as read: only one account's series is built at a time, where the dict of
        :meth:`score_history` holds a 120-day window of every account (millions of rows at 100k accounts).
        """
        q = (
            select(ScoreRow.account_id, ScoreRow.scored_at, ScoreRow.magnitude)
            .where(ScoreRow.scored_at >= since)
            .order_by(ScoreRow.account_id, ScoreRow.scored_at)
        )
        with Session(self.engine) as s:  # id chunks are disjoint, so no account's rows span two queries
            for query in _per_id_chunk(q, ScoreRow.account_id, account_ids):
                rows = s.execute(query.execution_options(yield_per=10000))
                for account_id, group in groupby(rows, key=lambda r: r[0]):
                    yield account_id, [(_aware(at), magnitude) for _, at, magnitude in group]

    def latest_scores(self) -> list[ScoreRow]:
        latest = select(ScoreRow.account_id, func.max(ScoreRow.id).label("id")).group_by(ScoreRow.account_id)
        sub = latest.subquery()
        with Session(self.engine) as s:
            rows = list(s.scalars(select(ScoreRow).join(sub, ScoreRow.id == sub.c.id)))
            s.expunge_all()
            return rows

    def load_states(self, account_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Every account's saved engine state as one dict; the sync reads :meth:`states_stream` instead."""
        return dict(self.states_stream(account_ids))

    def states_stream(self, account_ids: Iterable[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(account_id, state)`` per account with a saved engine state, read ``yield_per`` rows at a time.

        A state is several KB of JSON: a dict of all of them is hundreds of MB at 100k accounts, while the
        scoring inputs only need one chunk of them at a time to turn into columns.
        """
        q = select(AccountStateRow.account_id, AccountStateRow.state)
        with Session(self.engine) as s:
            for query in _per_id_chunk(q, AccountStateRow.account_id, account_ids):
                for row in s.execute(query.execution_options(yield_per=2000)):
                    yield row.account_id, row.state

    def save_states(self, states: Iterable[tuple[str, dict[str, Any]]], meta: Mapping[str, str] | None = None) -> int:
        """Upsert engine states, read ``_CHUNK`` at a time inside one transaction; returns how many rows.

        The sync passes the scoring result's generator, which makes each state dict as it is read: listing
        it first would hold every account's state at once.  One transaction keeps a run's states
        all-or-nothing.  Within a chunk an account's last state wins: one PostgreSQL upsert statement may
        not touch the same row twice.  ``meta`` (``store_meta`` keys) commits with the states: facts the
        states were made with (see :mod:`connector.incremental`) must never disagree with them after a crash.
        """
        now = utcnow()
        count = 0
        with Session(self.engine) as s, s.begin():
            for chunk in batched(states, _CHUNK):
                rows = list({a: {"account_id": a, "state": st, "updated_at": now} for a, st in chunk}.values())
                self._upsert(s, AccountStateRow, rows, ("account_id",))
                count += len(rows)
            if meta:
                self._upsert(s, MetaRow, [{"key": k, "value": v, "updated_at": now} for k, v in meta.items()], ("key",))
        return count

    def save_packed_states(self, blocks: Iterable[PackedStates], meta: Mapping[str, str] | None = None,
                           accounts: int = 0) -> int:
        """Upsert packed engine states (``engine_states``), block by block inside one transaction, with the
        layouts they name and ``meta`` (see :meth:`save_states` for why one transaction); returns how many.
        ``accounts``: how many the pass scored (the page cache is sized for it, as in :meth:`append_scores`).

        An account's JSON state from an earlier version (``account_state``) is deleted with it: from now on
        the packed row is its state.  Within a block an account's last row wins."""
        now = utcnow()
        count = 0
        layouts: dict[str, str] = {}
        with Session(self.engine) as s, s.begin(), larger_page_cache(s.connection(), accounts):
            legacy = s.execute(select(AccountStateRow.account_id).limit(1)).first() is not None
            for block in blocks:
                rows = list({a: {"account_id": a, "layout": block.layout_key, "packed": data, "plan": plan,
                                 "updated_at": now} for a, data, plan in block.records()}.values())
                self._upsert(s, EngineStateRow, rows, ("account_id",))
                if legacy:
                    for chunk in batched([r["account_id"] for r in rows], _IN_LIMIT):
                        s.execute(delete(AccountStateRow).where(AccountStateRow.account_id.in_(chunk)))
                layouts[block.layout_key] = block.layout_json
                count += len(rows)
            extra = {**{f"{STATE_LAYOUT_META}{k}": v for k, v in layouts.items()}, **(meta or {})}
            if extra:
                self._upsert(s, MetaRow, [{"key": k, "value": v, "updated_at": now} for k, v in extra.items()],
                             ("key",))
        return count

    def packed_state_rows(self, account_ids: Iterable[str] | None = None
                          ) -> Iterator[list[tuple[str, str, bytes, str | None]]]:
        """``(account_id, layout key, packed bytes, plan)`` per account with a packed state (of
        ``account_ids`` when given), a batch of rows at a time as the driver returns them."""
        q = select(EngineStateRow.account_id, EngineStateRow.layout, EngineStateRow.packed, EngineStateRow.plan)
        for rows in self._batches(q, EngineStateRow.account_id, account_ids, _STATE_BATCH):
            yield [(a, layout, bytes(packed), plan) for a, layout, packed, plan in rows]

    def signal_pack_rows(self, account_ids: Iterable[str] | None = None
                         ) -> Iterator[list[tuple[str, int, str | None, bytes | None, str | None]]]:
        """``(account_id, rev, layout key, packed bytes, texts)`` per account with a pack row (of
        ``account_ids`` when given; ``packed`` None: stale), a batch of rows at a time."""
        t = SignalPackRow
        q = select(t.account_id, t.rev, t.layout, t.packed, t.texts)
        for rows in self._batches(q, t.account_id, account_ids):
            yield [(a, rev, layout, None if packed is None else bytes(packed), texts)
                   for a, rev, layout, packed, texts in rows]

    def save_signal_packs(self, blocks: Iterable[SignalPacks]) -> None:
        """Save accounts' signal packs, each made from the rows read after its ``rev``, a block per
        transaction (a pack is a cache: a crash loses only the blocks not yet saved).

        A pack is saved only where the pack row still has the ``rev`` read before the rows and no pack (or,
        for an account that had no pack row, where there still is none).  A writer bumps ``rev`` in the
        transaction that changes the rows (:meth:`_stale_packs`), so a pack made from rows it replaced
        finds another ``rev`` (on PostgreSQL the update waits for that writer, then re-checks) and is not
        saved: the account's rows are read again next time."""
        t = SignalPackRow
        fresh = self._insert(t.__table__).on_conflict_do_nothing(index_elements=["account_id"])
        stale = (update(t).where(t.account_id == bindparam("a"), t.rev == bindparam("r"), t.packed.is_(None))
                 .values(layout=bindparam("l"), packed=bindparam("p"), texts=bindparam("x")))
        now = utcnow()
        layouts: set[str] = set()
        with Session(self.engine) as s:
            for block in blocks:
                with s.begin():
                    records = list(block.records())
                    new = [{"account_id": a, "rev": 0, "layout": block.layout_key, "packed": p, "texts": x}
                           for a, rev, p, x in records if rev is None]
                    old = [{"a": a, "r": rev, "l": block.layout_key, "p": p, "x": x}
                           for a, rev, p, x in records if rev is not None]
                    if block.layout_key not in layouts:  # saved with the block's first packs that name it
                        self._upsert(s, MetaRow, [{"key": f"{SIGNAL_LAYOUT_META}{block.layout_key}",
                                                   "value": block.layout_json, "updated_at": now}], ("key",))
                        layouts.add(block.layout_key)
                    conn = s.connection()
                    for chunk in batched(new, _CHUNK):
                        execute_many(conn, fresh, chunk)
                    for chunk in batched(old, _CHUNK):
                        execute_many(conn, stale, chunk)

    def signal_layouts(self) -> dict[str, str]:
        """Every saved layout of signal packs: key → its JSON."""
        return self._meta_under(SIGNAL_LAYOUT_META)

    def state_layouts(self) -> dict[str, str]:
        """Every saved layout of packed states: key → its JSON."""
        return self._meta_under(STATE_LAYOUT_META)

    def _meta_under(self, prefix: str) -> dict[str, str]:
        """The ``store_meta`` entries whose key starts with ``prefix``, by the rest of the key."""
        q = select(MetaRow.key, MetaRow.value).where(MetaRow.key.startswith(prefix))
        with Session(self.engine) as s:
            return {k[len(prefix):]: v for k, v in s.execute(q)}

    # -- what was written, and the task ledger ---------------------------------------------------------

    def written_records(self, system: str, obj: str, record_ids: Iterable[str] | None = None
                        ) -> dict[str, dict[str, str | None]]:
        """Per record (of ``record_ids`` when given), its fields' last confirmed values (encoded).

        Sinks ask per window of records (the primary-key prefix makes that an index range per id), so the
        diff base of a large CRM is never in memory at once."""
        t = WrittenRecord
        q = select(t.record_id, t.fields).where(t.system == system, t.object == obj)
        return {r: json.loads(v) for r, v in self._columns(q, t.record_id, record_ids)}

    def written_texts(self, system: str, obj: str, record_ids: Iterable[str]) -> dict[str, tuple[str | None, str]]:
        """Per record of ``record_ids`` that has a row, ``(digest, fields JSON text)``: the diff compares the
        digest (see :mod:`connector.sinks.record_digest`) and parses the text only where it differs."""
        t = WrittenRecord
        q = select(t.record_id, t.digest, t.fields).where(t.system == system, t.object == obj)
        return {r: (d, f) for r, d, f in self._columns(q, t.record_id, record_ids)}

    def settle_digests(self, system: str, obj: str, digests: Iterable[tuple[str, str]]) -> None:
        """Store ``(record_id, digest)`` for records a diff found with nothing to send against their written
        values as they stand.  A record never written gets an empty row to hold its digest (its fields are
        the diff's "never written" either way)."""
        t = WrittenRecord
        now = utcnow()
        settle = (update(t).where(t.system == system, t.object == obj, t.record_id == bindparam("r"))
                  .values(digest=bindparam("d")))
        absent = self._insert(t.__table__).on_conflict_do_nothing(index_elements=["system", "object", "record_id"])
        with self.engine.begin() as conn:
            for chunk in batched(digests, _CHUNK):
                execute_many(conn, settle, [{"r": r, "d": d} for r, d in chunk])
                execute_many(conn, absent, [{"system": system, "object": obj, "record_id": r, "fields": "{}",
                                             "written_at": now, "run_id": None, "digest": d} for r, d in chunk])

    def written_values(
        self, system: str, obj: str, record_ids: Iterable[str] | None = None
    ) -> dict[tuple[str, str], str | None]:
        """Last confirmed value per ``(record_id, field)``; only for ``record_ids`` when given."""
        return {(r, f): v for r, fields in self.written_records(system, obj, record_ids).items()
                for f, v in fields.items()}

    def record_written(
        self, system: str, obj: str, values: Iterable[tuple[str, str, Any]], run_id: int | None = None,
        digests: Mapping[str, str] | None = None, bases: Mapping[str, Mapping[str, str | None]] | None = None,
    ) -> int:
        """Remember ``(record_id, field, value)`` as successfully written (values encoded); returns how many.

        Each record's row is read and merged with the new values inside the transaction, ``_CHUNK`` values
        at a time (a 10,000-record bulk batch is ~150,000 field values: never all at once).  A written
        record's digest becomes the one ``digests`` gives it (the change it confirms was sent whole), else
        none: its next diff reads its values.  ``bases``: records' values as the caller read them this run
        (a sink's diff: each record is written by one sink, once a run), merged into without reading them
        again; a record with a row but no base is read."""
        now = utcnow()
        count = 0
        t = WrittenRecord
        known = bases or {}
        with Session(self.engine) as s, s.begin():
            for chunk in batched(values, _CHUNK):
                new: dict[str, dict[str, str | None]] = {}
                for record_id, name, value in chunk:
                    new.setdefault(record_id, {})[name] = encode_value(value)
                count += len(chunk)
                stored: dict[str, Mapping[str, str | None]] = {r: known[r] for r in new if r in known}
                for ids in batched([r for r in new if r not in stored], _IN_LIMIT):
                    found = s.execute(select(t.record_id, t.fields).where(
                        t.system == system, t.object == obj, t.record_id.in_(ids)))
                    stored.update((r, json.loads(f)) for r, f in found)
                rows = [{"system": system, "object": obj, "record_id": r,
                         "fields": _compact({**stored[r], **fields} if r in stored else fields),
                         "written_at": now, "run_id": run_id, "digest": (digests or {}).get(r)}
                        for r, fields in new.items()]
                self._upsert(s, WrittenRecord, rows, ("system", "object", "record_id"))
        return count

    def tasks(self, system: str) -> dict[str, TaskLedgerEntry]:
        with Session(self.engine) as s:
            return {r.key: _ledger_entry(r) for r in s.scalars(select(TaskRow).where(TaskRow.system == system))}

    def upsert_tasks(self, entries: Iterable[TaskLedgerEntry]) -> None:
        """Record confirmed task writes; a write supersedes anything read back before it (remote_* reset)."""
        rows = [
            {
                "system": e.system,
                "key": e.key,
                "account_id": e.account_id,
                "play": e.play,
                "step": e.step,
                "remote_id": e.remote_id,
                "status": e.status,
                "fingerprint": e.fingerprint,
                "created_at": e.created_at,
                "updated_at": e.updated_at,
                "close_reason": e.close_reason,
                "remote_state": None,
                "remote_at": None,
                "touched": False,
                "remote_due": None,
                "remote_owner": None,
            }
            for e in entries
        ]
        with Session(self.engine) as s, s.begin():
            self._upsert(s, TaskRow, rows, ("system", "key"))
            if rows:
                self._inputs_changed(s, (cast(str | None, r["account_id"]) for r in rows))

    def record_readback(self, system: str, entries: Iterable[TaskLedgerEntry]) -> int:
        """Store what the CRM says about the connector's tasks: remote_* of known keys are updated (the
        connector's own columns kept); keys the ledger lost (state store lost) are adopted whole."""
        entries = list(entries)
        known = self.tasks(system) if entries else {}
        with Session(self.engine) as s, s.begin():
            news = [e.account_id for e in entries if e.key not in known or _remote(known[e.key]) != _remote(e)]
            if news:  # a read that only saw again what it saw last time changes nothing
                self._inputs_changed(s, news)
            for e in entries:
                if e.key in known:
                    s.execute(update(TaskRow).where(TaskRow.system == system, TaskRow.key == e.key).values(
                        remote_state=e.remote_state, remote_at=e.remote_at, touched=e.touched,
                        remote_due=e.remote_due, remote_owner=e.remote_owner, remote_id=e.remote_id))
                else:
                    s.add(TaskRow(**{f: getattr(e, f) for f in _LEDGER_FIELDS}))
        return len(entries)

    def task_evidence(self, system: str) -> list[TaskEvidence]:
        """What people did to the connector's open-in-the-plan tasks, for the orchestration (small)."""
        q = select(TaskRow).where(TaskRow.system == system, TaskRow.remote_state.is_not(None))
        with Session(self.engine) as s:
            found = (_ledger_entry(r).evidence() for r in s.scalars(q))
            return [e for e in found if e is not None]

    def tasks_created(self, system: str, since: datetime, until: datetime) -> dict[str, int]:
        """How many tasks the connector created per account in ``[since, until)`` (CSM time, a cost to serve)."""
        q = (select(TaskRow.account_id, func.count()).where(TaskRow.system == system, TaskRow.created_at >= since,
                                                            TaskRow.created_at < until)
             .group_by(TaskRow.account_id))
        with Session(self.engine) as s:
            return {account_id: int(count) for account_id, count in s.execute(q)}

    # -- runs, quarantine, per-record sync log ---------------------------------------------------------

    def start_run(self, kind: str) -> int:
        with Session(self.engine) as s, s.begin():
            row = RunRow(kind=kind, started_at=utcnow(), status="running", stats={})
            s.add(row)
            s.flush()
            return row.id

    def finish_run(self, run_id: int, status: str, stats: Mapping[str, Any], error: str | None = None) -> None:
        with Session(self.engine) as s, s.begin():
            s.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .values(ended_at=utcnow(), status=status, stats=json.loads(json.dumps(stats, default=str)), error=error)
            )

    def runs(self, limit: int = 20, kind: str | None = None) -> list[RunRow]:
        q = select(RunRow).order_by(RunRow.id.desc()).limit(limit)
        if kind:
            q = q.where(RunRow.kind == kind)
        with Session(self.engine) as s:
            rows = list(s.scalars(q))
            s.expunge_all()
            return rows

    def quarantine(self, run_id: int | None, items: Iterable[Quarantined]) -> int:
        now = utcnow()
        rows = [
            {
                "run_id": run_id,
                "source": q.source,
                "entity": q.entity,
                "entity_id": q.entity_id,
                "reason": q.reason,
                "payload": json.loads(json.dumps(dict(q.payload), default=str)),
                "created_at": now,
            }
            for q in items
        ]
        if rows:
            with Session(self.engine) as s, s.begin():
                s.execute(QuarantineRow.__table__.insert(), rows)  # type: ignore[attr-defined]
        return len(rows)

    def quarantined(self, run_id: int | None = None, limit: int = 1000) -> list[QuarantineRow]:
        q = select(QuarantineRow).order_by(QuarantineRow.id.desc()).limit(limit)
        if run_id is not None:
            q = q.where(QuarantineRow.run_id == run_id)
        with Session(self.engine) as s:
            rows = list(s.scalars(q))
            s.expunge_all()
            return rows

    def clear_quarantine(self, sources: Iterable[str], up_to_id: int) -> int:
        """Drop the quarantine rows of ``sources`` up to ``up_to_id``: a re-read found what is still bad anew."""
        with Session(self.engine) as s, s.begin():
            n = s.execute(delete(QuarantineRow).where(QuarantineRow.source.in_(list(sources)),
                                                      QuarantineRow.id <= up_to_id)).rowcount  # type: ignore[attr-defined]
            return int(n or 0)

    def log_records(
        self, run_id: int | None, entries: Iterable[tuple[str, str, str | None, str, str, str | None]]
    ) -> None:
        """Per-record sync log: ``(system, object, record_id, action, status, message)``."""
        now = utcnow()
        rows = [
            {
                "run_id": run_id,
                "system": e[0],
                "object": e[1],
                "record_id": e[2],
                "action": e[3],
                "status": e[4],
                "message": e[5],
                "created_at": now,
            }
            for e in entries
        ]
        if rows:
            with Session(self.engine) as s, s.begin():
                for chunk in batched(rows, _CHUNK):
                    s.execute(SyncLogRow.__table__.insert(), chunk)  # type: ignore[attr-defined]

    def sync_log(self, run_id: int | None = None, status: str | None = None, limit: int = 1000) -> list[SyncLogRow]:
        q = select(SyncLogRow).order_by(SyncLogRow.id.desc()).limit(limit)
        if run_id is not None:
            q = q.where(SyncLogRow.run_id == run_id)
        if status:
            q = q.where(SyncLogRow.status == status)
        with Session(self.engine) as s:
            rows = list(s.scalars(q))
            s.expunge_all()
            return rows

    def prune(self, keep_days: int, history_days: int | None = None, now: datetime | None = None) -> int:
        """Drop sync-log and quarantine rows older than ``keep_days`` (admins use recent ones to fix data)
        and, with ``history_days``, score-history points older than that; returns how many rows.

        Deleted on a connection, in one transaction: in a session each delete would first fetch every row
        it removes to synchronise the session (a day of points is a million rows at 1M accounts)."""
        now = now or utcnow()
        cutoff = now - timedelta(days=keep_days)
        deletes = [delete(SyncLogRow).where(SyncLogRow.created_at < cutoff),
                   delete(QuarantineRow).where(QuarantineRow.created_at < cutoff)]
        if history_days is not None:
            deletes.append(delete(ScoreRow).where(ScoreRow.scored_at < now - timedelta(days=history_days)))
        with self.engine.begin() as conn:
            return sum(int(conn.execute(stmt).rowcount or 0) for stmt in deletes)


def _remote(entry: TaskLedgerEntry) -> tuple[Any, ...]:
    """What a task read-back records of an entry (compared to tell news from a re-read)."""
    return (entry.remote_id, entry.remote_state, entry.remote_at, entry.touched, entry.remote_due, entry.remote_owner)


def _keep_match_if_same_keys(table: Table, stmt: Any) -> dict[str, Any]:
    """On re-reading an observation: its match and account stay when its identity keys are the same, and
    it is marked dirty only when something resolution reads changed (keys, readings or their time).

    Keys and readings are compared as their JSON text: both sides come from the same serialiser and the
    same key order (:meth:`IdentityKeys.present`, the source's dict), and a spurious difference only costs
    one needless re-resolution of that record.  An unchanged re-read therefore leaves the record clean,
    which is what lets an unchanged cycle skip identity resolution.
    """
    same = sql_cast(table.c["keys"], Text) == sql_cast(stmt.excluded["keys"], Text)
    unchanged = (same & (sql_cast(table.c["signals"], Text) == sql_cast(stmt.excluded["signals"], Text))
                 & (table.c["as_of"] == stmt.excluded["as_of"]))
    return {"account_id": case((same, table.c["account_id"]), else_=None),
            "match": case((same, table.c["match"]), else_="pending"),
            "dirty": case((unchanged, table.c["dirty"]), else_=True)}


def _compact(fields: Mapping[str, str | None]) -> str:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def encode_value(value: Any) -> str | None:
    """Canonical text of a written value, so 71.0 and 71 (or a date and its ISO text) compare equal."""
    if value is None:
        return None
    kind = type(value)  # the common exact types first, as json.dumps writes them (a full pass encodes millions)
    if kind is str:
        return value
    if kind is int or (kind is float and value.is_integer()):
        return str(int(value))
    if kind is float and math.isfinite(value):
        return repr(value)  # json.dumps writes a float with float.__repr__
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (datetime,)) or hasattr(value, "isoformat"):
        return str(value.isoformat())
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if not isinstance(value, str) else value


def execute_many(conn: Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """``stmt`` once per row of ``rows`` (dicts with the same keys), as one DBAPI ``executemany``.

    What ``conn.execute(stmt, rows)`` does, without its per-row Python: SQLAlchemy builds each row's
    parameters and runs each value through its type's bind processor, about a third of writing a score
    history or a window of written values.  Here the statement is compiled once for the rows' keys, each
    column's processor (a datetime as SQLite's text, a dict as JSON) runs once per *distinct* value where
    values can be told apart, and the rows go to the driver as plain tuples (or dicts, for the
    ``pyformat`` drivers).  ``tests/foundation/test_execute_many.py`` checks the rows stored are the same.
    """
    if not rows:
        return
    dialect = conn.dialect
    keys = list(rows[0])
    compiled = stmt.compile(dialect=dialect, column_keys=keys)
    binds = compiled.binds
    columns: dict[str, list[Any]] = {}
    for key in keys:
        values = [row[key] for row in rows]
        bind = binds.get(key)
        process = bind.type.dialect_impl(dialect).bind_processor(dialect) if bind is not None else None
        if process is not None:
            values = _processed(values, process)
        columns[key] = values
    for key, bind in binds.items():  # binds of the statement itself (``SET packed = NULL``): one value
        if key not in columns:
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            value = bind.effective_value
            columns[key] = [process(value) if process is not None else value] * len(rows)
    if compiled.positional:
        order = compiled.positiontup or []
        params: list[Any] = list(zip(*(columns[k] for k in order), strict=True))
    else:
        names = list(columns)
        params = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    conn.exec_driver_sql(compiled.string, params)


def _processed(values: list[Any], process: Callable[[Any], Any]) -> list[Any]:
    """``process`` of each value, once per distinct value where values can be told apart (a run's one
    timestamp); a column of dicts or lists (JSON) is processed value by value."""
    if values and not _hashable(values[0]):
        return [process(v) for v in values]
    done: dict[tuple[type, Any], Any] = {}
    out = []
    for value in values:
        key = (type(value), value)  # by type too: 1, 1.0 and True are equal, and encode differently
        try:
            found = done.get(key, done)
            if found is done:
                found = done[key] = process(value)
        except TypeError:  # an unhashable value in a column of hashable ones
            found = process(value)
        out.append(found)
    return out


def _hashable(value: Any) -> bool:
    if isinstance(value, dict | list):
        return False
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _server_side(conn: Connection, query: Any, size: int) -> Iterator[list[tuple[Any, ...]]]:
    """``query``'s rows through a named (server-side) psycopg cursor, ``size`` at a time.

    Why not ``stream_results``: SQLAlchemy then pre-buffers rows in its own result, which reading the
    DBAPI cursor directly would skip; and a client-side cursor would hold the whole result in libpq.
    """
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    raw: Any = conn.connection.dbapi_connection
    with raw.cursor(name=f"columns_{uuid.uuid4().hex[:12]}") as cursor:
        cursor.execute(compiled.string, compiled.params)
        while batch := cursor.fetchmany(size):
            yield list(batch)


def _per_id_chunk(query: _Q, column: Any, ids: Iterable[str] | None) -> list[_Q]:
    """``query`` as it is, or once per ``_IN_LIMIT`` of ``ids``.

    The ids are de-duplicated and sorted, so the chunks are disjoint and each reads an index range in order.
    """
    if ids is None:
        return [query]
    return [query.where(column.in_(chunk)) for chunk in batched(sorted(set(ids)), _IN_LIMIT)]
