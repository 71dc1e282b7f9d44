"""Read-only queries the report runs against the state store.

They live here rather than on :class:`~connector.store.Store` because they are the report's aggregates,
not state the pipeline depends on: nothing in this module writes.  Each one selects only the columns a
section shows, pulls single fields out of ``score_history.outputs`` in SQL (``JSON_EXTRACT`` on SQLite,
``->>`` on PostgreSQL, via SQLAlchemy's JSON index operators) and groups in the database, so a store with
100k accounts is read as a few flat column lists instead of 100k ORM objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Subquery, case, func, select
from sqlalchemy.orm import Session

from connector.store import Store
from connector.store.schema import AccountRow, QuarantineRow, RunRow, ScoreRow

AT_RISK_ROWS = 25
QUARANTINE_GROUPS = 15
QUARANTINE_EXAMPLES = 10
RUNS_SHOWN = 20
#: How far back before a scoring run an account's latest point is looked for.  Every day's first cycle
#: scores every account, so an account without a point in a week is no longer scored (left the CRM or its
#: filter); the bound keeps the query off the months of history a store holds.
LATEST_POINT_LOOKBACK = timedelta(days=7)


@dataclass(frozen=True)
class ScoreColumns:
    """Every account's latest point as of one scoring run, as columns (index i is one account), joined with
    the account list (see :func:`latest_points`)."""

    run_id: int
    account_ids: list[str]
    names: list[str]
    segments: list[str | None]
    arr: np.ndarray
    magnitude: np.ndarray
    direction: list[str | None]
    quadrant: list[str | None]
    current_stage: list[str | None]
    ttfv_days: np.ndarray
    cost_to_serve: np.ndarray  # NaN where the run did not store it

    @property
    def n(self) -> int:
        return len(self.account_ids)


def scored_run_ids(store: Store, limit: int = 2) -> list[int]:
    """The newest scoring run, then the run it is compared with, newest first (dry runs store no scores).

    "Since the previous run" means since the last run of an *earlier day* — the same baseline the drivers
    sentence uses — so a re-run minutes later does not make the report say that nothing moved.
    """
    q = (
        select(ScoreRow.run_id, func.max(ScoreRow.scored_at))
        .where(ScoreRow.run_id.is_not(None))
        .group_by(ScoreRow.run_id)
        .order_by(ScoreRow.run_id.desc())
        .limit(200)
    )
    with Session(store.engine) as s:
        runs = [(int(r), when) for r, when in s.execute(q) if r is not None]
    if not runs:
        return []
    newest_day = runs[0][1].date()
    earlier = [r for r, when in runs[1:] if when.date() < newest_day]
    chosen = [runs[0][0], *(earlier[:1] or [r for r, _ in runs[1:2]])]
    return chosen[:limit]


def latest_points(store: Store, run_id: int) -> Subquery:
    """Each account's latest score point as of scoring run ``run_id``: its own point in that run, else the
    last one an earlier run wrote (within :data:`LATEST_POINT_LOOKBACK`).

    Why not just that run's points: a run writes a point only for the accounts it scored and whose outputs
    moved (an incremental cycle scores the accounts changed since the last; the point prints skip a point
    equal to today's last), so a report of one run's points would show the few dozen accounts the last
    15-minute cycle touched as if they were the whole book."""
    with Session(store.engine) as s:
        newest = s.execute(select(func.max(ScoreRow.scored_at)).where(ScoreRow.run_id == run_id)).scalar()
    rank = func.row_number().over(partition_by=ScoreRow.account_id,
                                  order_by=(ScoreRow.scored_at.desc(), ScoreRow.id.desc()))
    q = select(ScoreRow.id, rank.label("rank")).where(ScoreRow.run_id.is_not(None), ScoreRow.run_id <= run_id)
    if newest is not None:
        q = q.where(ScoreRow.scored_at >= newest - LATEST_POINT_LOOKBACK)
    ranked = q.subquery()  # ranks ids only: the outputs (~750 bytes a point) are read for the winners alone
    return (select(ScoreRow.account_id, ScoreRow.magnitude, ScoreRow.velocity, ScoreRow.direction,
                   ScoreRow.quadrant, ScoreRow.outputs)
            .join(ranked, ScoreRow.id == ranked.c.id).where(ranked.c.rank == 1).subquery("latest"))


def score_columns(store: Store, run_id: int) -> ScoreColumns:
    latest = latest_points(store, run_id)
    out = latest.c.outputs
    q = (
        select(
            latest.c.account_id,
            AccountRow.name,
            AccountRow.segment,
            AccountRow.arr,
            latest.c.magnitude,
            latest.c.direction,
            latest.c.quadrant,
            out["current_stage"].as_string(),
            out["ttfv_days"].as_float(),
            out["cost_to_serve"].as_float(),
        )
        .outerjoin(AccountRow, AccountRow.account_id == latest.c.account_id)
        .order_by(latest.c.account_id)
    )
    with Session(store.engine) as s:
        rows = s.execute(q.execution_options(yield_per=20000)).all()
    cols: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * 10
    return ScoreColumns(
        run_id=run_id,
        account_ids=list(cols[0]),
        names=[n if n is not None else a for n, a in zip(cols[1], cols[0], strict=True)],
        segments=list(cols[2]),
        arr=_floats(cols[3]),
        magnitude=_floats(cols[4]),
        direction=list(cols[5]),
        quadrant=list(cols[6]),
        current_stage=list(cols[7]),
        ttfv_days=_floats(cols[8]),
        cost_to_serve=_floats(cols[9]),
    )


def magnitudes(store: Store, run_id: int) -> dict[str, float]:
    """Each account's latest Success Vector as of run ``run_id`` (see :func:`latest_points`)."""
    latest = latest_points(store, run_id)
    q = select(latest.c.account_id, latest.c.magnitude)
    with Session(store.engine) as s:
        return {a: float(m) for a, m in s.execute(q.execution_options(yield_per=20000)) if m is not None}


def at_risk(store: Store, run_id: int, limit: int = AT_RISK_ROWS) -> list[dict[str, Any]]:
    """Negative-direction accounts first, then the lowest Success Vector, with what the table shows (each
    account's latest point as of run ``run_id``)."""
    latest = latest_points(store, run_id)
    q = (
        select(latest.c.account_id, AccountRow.name, AccountRow.segment, AccountRow.arr, latest.c.magnitude,
               latest.c.velocity, latest.c.direction, latest.c.outputs)
        .outerjoin(AccountRow, AccountRow.account_id == latest.c.account_id)
        .order_by(case((latest.c.direction == "Negative", 0), else_=1), latest.c.magnitude.asc(),
                  latest.c.account_id)
        .limit(limit)
    )
    with Session(store.engine) as s:
        rows = s.execute(q).all()
    found = []
    for account_id, name, segment, arr, magnitude, velocity, direction, outputs in rows:
        outputs = outputs if isinstance(outputs, dict) else {}
        found.append({
            "account_id": account_id, "name": name or account_id, "segment": segment, "arr": arr,
            "vector": magnitude, "velocity": velocity, "direction": direction,
            "drivers": outputs.get("vector_drivers"), "next_milestone": outputs.get("next_milestone"),
            "next_status": outputs.get("next_milestone_status"), "priority": outputs.get("priority_band"),
        })
    return found


def account_count(store: Store) -> int:
    with Session(store.engine) as s:
        return int(s.scalar(select(func.count()).select_from(AccountRow)) or 0)


@dataclass(frozen=True)
class QuarantineSummary:
    total: int
    by_source: list[tuple[str, str, int]]  # (source, entity, count)
    by_reason: list[tuple[str, str, int]]  # (source, reason, count), largest first
    examples: list[dict[str, Any]]


def quarantine_summary(store: Store) -> QuarantineSummary:
    q = QuarantineRow
    n = func.count().label("n")
    with Session(store.engine) as s:
        by_source = [
            (src, ent, int(c))
            for src, ent, c in s.execute(select(q.source, q.entity, n).group_by(q.source, q.entity).order_by(n.desc()))
        ]
        by_reason = [
            (src, reason, int(c))
            for src, reason, c in s.execute(
                select(q.source, q.reason, n).group_by(q.source, q.reason).order_by(n.desc(), q.source)
                .limit(QUARANTINE_GROUPS)
            )
        ]
        examples = [
            {"source": r.source, "entity": r.entity, "entity_id": r.entity_id, "reason": r.reason,
             "run_id": r.run_id, "created_at": r.created_at}
            for r in s.scalars(select(q).order_by(q.id.desc()).limit(QUARANTINE_EXAMPLES))
        ]
    return QuarantineSummary(sum(c for *_, c in by_source), by_source, by_reason, examples)


@dataclass(frozen=True)
class RunInfo:
    id: int
    kind: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    stats: dict[str, Any]
    error: str | None

    @property
    def duration_s(self) -> float | None:
        if self.ended_at is None:
            return None
        return max(0.0, (_naive(self.ended_at) - _naive(self.started_at)).total_seconds())


def recent_runs(store: Store, limit: int = RUNS_SHOWN) -> list[RunInfo]:
    """The newest runs, newest first."""
    with Session(store.engine) as s:
        rows = s.scalars(select(RunRow).order_by(RunRow.id.desc()).limit(limit)).all()
        return [
            RunInfo(r.id, r.kind, r.status, r.started_at, r.ended_at, r.stats if isinstance(r.stats, dict) else {},
                    r.error)
            for r in rows
        ]


def _floats(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _naive(value: datetime) -> datetime:
    """SQLite returns naive UTC datetimes, PostgreSQL aware ones; compare them the same way."""
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
