"""Tables of the state store.  Alembic migrations (``store/migrations``) create and evolve them.

What each table is for, and why it exists at all:

* ``cursors`` — where each source stream left off; moves only forward, saved with the data it covers.
* ``replica`` — the source records a stream has pulled (by primary key), so incremental pulls can
  recompute per-account aggregates without re-reading the source; ``dirty`` marks groups whose aggregate
  must be recomputed (set in the same transaction as the rows and the cursor, cleared after).
* ``accounts`` — the primary CRM's account list: the spine signals attach to.
* ``observations`` — what each source said about each of its entities, with the identity keys, so that
  identity can be re-resolved when the account list changes, and ``check`` can report match rates.
* ``store_meta`` — named facts about the store itself, e.g. what the last identity resolution was made
  against (accounts' keys, identity settings, overrides), so an unchanged world is not resolved again.
* ``account_changes`` — the accounts whose scoring inputs were written, in write order: what a cycle later
  the same day re-scores instead of every account (see :mod:`connector.incremental`).
* ``signals`` — the latest value of each input per account, with its ``as_of``.
* ``signal_packs`` — each account's signals as one packed row (see :mod:`connector.scoring.signal_packs`):
  what a full scoring pass reads instead of ~27 rows per account; cleared, and its ``rev`` bumped, by every
  write to the account's signals.
* ``score_history`` — a point per account per scoring run that says something new (a run does not append
  the point today's last one already holds: ``digest``, see :mod:`connector.scoring.point_prints`):
  velocity and direction are computed from each day's last point.
* ``engine_states`` — the engine's memory per account (last score, trend sums, milestone dates, play
  clocks) as one packed row of numbers under a named layout, and the account plan (see
  :mod:`connector.scoring.packed_state`).
* ``account_state`` — the same memory as JSON, as versions before ``engine_states`` saved it: read for an
  account that has no packed row yet, and deleted when one is saved.
* ``written_records`` — the last value successfully written of each field, one row per (system, object,
  record): the diff base that makes an unchanged re-sync cost zero write calls, and the drift detector's
  reference; ``digest`` lets a full pass skip the records it has nothing to send (see
  :mod:`connector.sinks.record_digest`).
* ``tasks`` — task ledger: dedupe key → remote id and status, per system.
* ``runs`` / ``quarantine`` / ``sync_log`` — what happened, what was refused and why, per record.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(255)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Cursor(Base):
    __tablename__ = "cursors"
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class ReplicaRow(Base):
    __tablename__ = "replica"
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(128), primary_key=True)
    record_id: Mapped[str] = mapped_column(ID, primary_key=True)
    group_key: Mapped[str | None] = mapped_column(ID)
    payload: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    dirty: Mapped[bool] = mapped_column(Boolean, default=True)
    __table_args__ = (
        Index("ix_replica_group", "source", "stream", "group_key"),
        Index("ix_replica_dirty", "source", "stream", "dirty"),
    )


class AccountRow(Base):
    __tablename__ = "accounts"
    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    system: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    external_id: Mapped[str | None] = mapped_column(ID, index=True)
    owner_id: Mapped[str | None] = mapped_column(ID)
    segment: Mapped[str | None] = mapped_column(String(128))
    contract_start: Mapped[date | None] = mapped_column(Date)
    renewal_date: Mapped[date | None] = mapped_column(Date)
    arr: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime | None]


class ObservationRow(Base):
    __tablename__ = "observations"
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    entity: Mapped[str] = mapped_column(String(64), primary_key=True)
    entity_id: Mapped[str] = mapped_column(ID, primary_key=True)
    keys: Mapped[dict[str, Any]]
    signals: Mapped[dict[str, Any]]
    as_of: Mapped[datetime]
    account_id: Mapped[str | None] = mapped_column(ID, index=True)
    match: Mapped[str] = mapped_column(String(32), default="pending")  # matched/unmatched/ambiguous
    # Written since the last resolution (new, other keys, other readings): its signals must be rebuilt.
    dirty: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The account whose signals hold this record's readings (set by resolution; the upsert leaves it):
    # when the record moves or goes, that account's signals are rebuilt too.
    signals_account_id: Mapped[str | None] = mapped_column(ID)
    __table_args__ = (Index("ix_observations_dirty", "source", "dirty"),
                      # a source's readings of some accounts, in the order a signal rebuild reads them
                      Index("ix_observations_source_account", "source", "account_id", "entity", "entity_id"))


class AccountChangeRow(Base):
    """One write to an account's scoring inputs (``*`` = every account's), numbered in commit order.

    Appended in the writer's own transaction, like the inputs token; read as "accounts changed after
    mark M" and pruned once a complete cycle has scored them.  Append-only, so concurrent writers need no
    read-modify-write."""

    __tablename__ = "account_changes"
    # SQLite's AUTOINCREMENT: never reuse a number, even after every row is pruned (a mark must only grow).
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 (SQLAlchemy's declarative form)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ID)


class MetaRow(Base):
    """Small named facts about the store's own state (the identity fingerprint of the last resolution)."""

    __tablename__ = "store_meta"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class SignalRow(Base):
    __tablename__ = "signals"
    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value_num: Mapped[float | None] = mapped_column(Float)
    value_text: Mapped[str | None] = mapped_column(Text)
    as_of: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(64))


class ScoreRow(Base):
    __tablename__ = "score_history"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(Integer)
    account_id: Mapped[str] = mapped_column(ID)
    scored_at: Mapped[datetime]
    magnitude: Mapped[float] = mapped_column(Float)
    velocity: Mapped[float | None] = mapped_column(Float)
    direction: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float | None] = mapped_column(Float)
    quadrant: Mapped[str | None] = mapped_column(String(64))
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # every OUTPUT_FIELDS value of this run
    #: The outputs' digest, run stamp blanked (connector/scoring/point_prints.py); None before migration 0010.
    digest: Mapped[str | None] = mapped_column(String(32))
    #: By account (the trend's history) and by time (today's points, the report's week: migration 0011).
    __table_args__ = (Index("ix_score_account_time", "account_id", "scored_at"), Index("ix_score_time", "scored_at"))


class AccountStateRow(Base):
    __tablename__ = "account_state"
    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class EngineStateRow(Base):
    __tablename__ = "engine_states"
    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    layout: Mapped[str] = mapped_column(String(32))       # StateLayout.key; the layout is in store_meta
    packed: Mapped[bytes] = mapped_column(LargeBinary)    # layout.width float64, little-endian
    plan: Mapped[str | None] = mapped_column(Text)        # compact JSON, None without a plan
    updated_at: Mapped[datetime]


class SignalPackRow(Base):
    """An account's signals packed in one row (see ``connector/scoring/signal_packs.py``): a cache of its
    ``signals`` rows that the scoring stage reads instead of them.

    ``rev`` is bumped, and the pack cleared, by every write to the account's signals, in the writer's own
    transaction; a pack is saved only where the ``rev`` read before its rows is still the row's and no pack
    is there, so a pack made from rows a concurrent writer has since replaced is never saved."""

    __tablename__ = "signal_packs"
    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    rev: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0, server_default="0")
    layout: Mapped[str | None] = mapped_column(String(32))     # SignalLayout.key; the layout is in store_meta
    packed: Mapped[bytes | None] = mapped_column(LargeBinary)  # None: stale, read the account's signal rows
    texts: Mapped[str | None] = mapped_column(Text)            # the row's text values, a JSON list


class WrittenRecord(Base):
    """The last confirmed value of every field the connector wrote to one remote record: a JSON object of
    field name → encoded value (``None``: written empty).

    One row per record, not per field: a full pass reads a window of records' written values per diff and
    writes back the changed ones, and at a million records twelve rows each were most of the diff's time."""

    __tablename__ = "written_records"
    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    object: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(ID, primary_key=True)
    fields: Mapped[str] = mapped_column(Text)  # compact JSON object
    written_at: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(Integer)
    #: The digest of the outputs these values settle (connector/sinks/record_digest.py); None: diff in full.
    digest: Mapped[str | None] = mapped_column(String(32))


class TaskRow(Base):
    __tablename__ = "tasks"
    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(ID, index=True)
    play: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)
    remote_id: Mapped[str | None] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(16))  # open / closed
    fingerprint: Mapped[str | None] = mapped_column(String(64))  # hash of what was last written
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    close_reason: Mapped[str | None] = mapped_column(String(16))  # why the connector closed it
    # Read back from the CRM (what people did since the connector's last write; reset by each write):
    remote_state: Mapped[str | None] = mapped_column(String(16))  # open / completed / dismissed
    remote_at: Mapped[datetime | None]  # completed / modified / seen deleted at
    touched: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # a person edited it
    remote_due: Mapped[date | None] = mapped_column(Date)
    remote_owner: Mapped[str | None] = mapped_column(ID)


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))  # running / ok / partial / failed
    stats: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)


class QuarantineRow(Base):
    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(Integer, index=True)
    source: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(ID)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class SyncLogRow(Base):
    __tablename__ = "sync_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(Integer, index=True)
    system: Mapped[str] = mapped_column(String(32))
    object: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str | None] = mapped_column(ID)
    action: Mapped[str] = mapped_column(String(32))  # update / create / close / drift / skip
    status: Mapped[str] = mapped_column(String(16))  # ok / failed
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)
