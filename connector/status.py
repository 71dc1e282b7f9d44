"""What needs an admin's attention, in one place: ``connector status``, ``status --json`` and the report.

Each item used to live somewhere else (drift in a run's JSON, quarantine in its own table, the API calls in
each run's ledger, match rates only in ``check``).  :func:`attention` reads them from the store, read-only
and aggregated in SQL where the tables grow, and :class:`StatusReport` is the schema of the whole
``status --json`` object: the command validates its output against it, so the shape a monitoring script
relies on is the shape a test checks.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connector.quarantine import by_reason
from connector.store import Store
from connector.store.schema import ObservationRow, RunRow

#: Runs read to find the latest one that wrote (drift is found by writing runs only).
_WRITE_RUN_LOOKBACK = 50


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobStatus(_Shape):
    kind: str
    run_id: int
    status: str
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: float | None
    error: str | None
    last_ok_at: datetime | None


class RunSummary(_Shape):
    id: int
    kind: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    error: str | None
    scored: int | None
    calls: int
    drift: dict[str, int] = {}
    #: A settled run scored nothing because nothing had changed: the run whose scores and writes stood.
    settled_since: int | None = None
    #: A run that scored only the accounts changed since this complete run the same day (the rest stood).
    changed_since: int | None = None


class QuarantineStatus(_Shape):
    records: int
    by_source: dict[str, dict[str, int]]


class DriftItem(_Shape):
    system: str
    object: str
    record_id: str | None
    account_id: str | None
    field: str
    connector_value: Any
    person_value: Any


class DriftStatus(_Shape):
    run_id: int | None
    items: list[DriftItem]


class BudgetUse(_Shape):
    calls: int
    retries: int
    errors: int
    rate_limit_wait_seconds: float


class ApiBudget(_Shape):
    since: datetime
    systems: dict[str, BudgetUse]


class SourceMatch(_Shape):
    total: int
    matched: int
    ambiguous: int
    unmatched: int
    pending: int
    match_rate: float | None


class IdentityStatus(_Shape):
    match_rate: float | None
    sources: dict[str, SourceMatch]


class TaskBacklog(_Shape):
    run_id: int
    deferred: int
    by_play_owner: list[dict[str, Any]]


class StatusReport(_Shape):
    """The ``connector status --json`` object."""

    accounts: int
    jobs: list[JobStatus]
    runs: list[RunSummary]
    last_successful_run: RunSummary | None
    cursors: dict[str, dict[str, Any]]
    quarantine: QuarantineStatus
    drift: DriftStatus
    task_backlog: TaskBacklog | None = None
    api_budget_today: ApiBudget
    identity: IdentityStatus


def attention(store: Store, now: datetime | None = None) -> dict[str, Any]:
    """The items of the one view that are not the recent-runs list: jobs, quarantine, drift, budget, identity."""
    quarantine = by_reason(store)
    return {
        "jobs": last_run_per_job(store),
        "quarantine": {"records": sum(sum(v.values()) for v in quarantine.values()), "by_source": quarantine},
        "drift": drift(store),
        "api_budget_today": api_budget_today(store, now or datetime.now(UTC)),
        "identity": identity_rates(store),
    }


def last_run_per_job(store: Store) -> list[dict[str, Any]]:
    """The newest run of each kind (a daemon job, ``sync``, a webhook refresh), with its last success."""
    newest = select(func.max(RunRow.id)).group_by(RunRow.kind)
    last_ok = dict(select_all(store, select(RunRow.kind, func.max(RunRow.ended_at))
                              .where(RunRow.status == "ok").group_by(RunRow.kind)))
    with Session(store.engine) as s:
        rows = list(s.scalars(select(RunRow).where(RunRow.id.in_(newest)).order_by(RunRow.kind)))
    return [{"kind": r.kind, "run_id": r.id, "status": r.status, "started_at": _aware(r.started_at),
             "ended_at": _aware(r.ended_at), "duration_seconds": _duration(r.started_at, r.ended_at),
             "error": r.error, "last_ok_at": _aware(last_ok.get(r.kind))} for r in rows]


def drift(store: Store) -> dict[str, Any]:
    """Owned fields a person changed, from the latest run that wrote: the connector holds them back
    (``on_drift = "skip"``) and finds them again each run until the person's value is accepted or reverted."""
    for run in store.runs(limit=_WRITE_RUN_LOOKBACK):
        stats = run.stats or {}
        if stats.get("dry_run") or not stats.get("sinks"):
            continue
        items = [{"system": d.get("system") or system, "object": d.get("object"), "record_id": d.get("record_id"),
                  "account_id": d.get("account_id"), "field": d.get("field"), "connector_value": d.get("old"),
                  "person_value": d.get("new")}
                 for system, sink in stats["sinks"].items() for d in sink.get("drift") or []]
        return {"run_id": run.id, "items": items}
    return {"run_id": None, "items": []}


def api_budget_today(store: Store, now: datetime) -> dict[str, Any]:
    """API calls per system since midnight UTC, summed from every run's ledger (the vendors' daily windows)."""
    since = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
    systems: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"calls": 0, "retries": 0, "errors": 0, "rate_limit_wait_seconds": 0.0})
    for (stats,) in select_all(store, select(RunRow.stats).where(RunRow.started_at >= since)):
        for name, use in ((stats or {}).get("calls") or {}).items():
            total = systems[name]
            for key in ("calls", "retries", "errors"):
                total[key] += int(use.get(key) or 0)
            total["rate_limit_wait_seconds"] = round(total["rate_limit_wait_seconds"]
                                                     + float(use.get("rate_limit_wait_seconds") or 0.0), 3)
    return {"since": since, "systems": dict(sorted(systems.items()))}


def identity_rates(store: Store) -> dict[str, Any]:
    """Per source, how its records resolved at the last resolution (``pending``: read, not resolved yet)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    q = select(ObservationRow.source, ObservationRow.match, func.count()).group_by(ObservationRow.source,
                                                                                    ObservationRow.match)
    for source, match, n in select_all(store, q):
        counts[source][match] += int(n)
    sources: dict[str, dict[str, Any]] = {}
    for source, c in sorted(counts.items()):
        total = sum(c.values())
        sources[source] = {"total": total, "matched": c["matched"], "ambiguous": c["ambiguous"],
                           "unmatched": c["unmatched"], "pending": c["pending"],
                           "match_rate": _rate(c["matched"], total - c["pending"])}
    resolved = sum(c[k] for c in counts.values() for k in ("matched", "ambiguous", "unmatched"))
    return {"match_rate": _rate(sum(c["matched"] for c in counts.values()), resolved), "sources": sources}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def select_all(store: Store, query: Any) -> list[Any]:
    with Session(store.engine) as s:
        return list(s.execute(query))


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _duration(start: datetime, end: datetime | None) -> float | None:
    started, ended = _aware(start), _aware(end)
    return None if started is None or ended is None else round(max(0.0, (ended - started).total_seconds()), 3)


def validated(data: dict[str, Any]) -> dict[str, Any]:
    """The status object as its schema has it: a shape that drifted fails here (and in tests), not in a monitor."""
    return StatusReport.model_validate(data).model_dump(mode="json")


def collect_status(store: Store) -> dict[str, Any]:
    """``connector status``: recent runs and cursors, plus what needs attention (:func:`attention`)."""
    try:
        recent = store.runs(limit=10)
        runs = [
            {
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "error": r.error,
                "scored": (r.stats or {}).get("scored"),
                "calls": _total_calls(r.stats or {}),
                "drift": _drift(r.stats or {}),
                "settled_since": ((r.stats or {}).get("settled") or {}).get("run_id"),
                "changed_since": ((r.stats or {}).get("incremental") or {}).get("since_run"),
            }
            for r in recent
        ]
        last_ok = next((r for r in runs if r["status"] == "ok"), None)
        scored = next((r for r in recent if (r.stats or {}).get("scored")), None)  # the last plan's backlog
        return {
            "runs": runs,
            "last_successful_run": last_ok,
            "cursors": store.cursors(),
            **attention(store),
            "accounts": len(store.accounts()),
            "task_backlog": {"run_id": scored.id, "deferred": int(scored.stats.get("tasks_deferred") or 0),
                             "by_play_owner": scored.stats.get("task_backlog") or []} if scored else None,
        }
    finally:
        store.close()


def _drift(stats: dict[str, Any]) -> dict[str, int]:
    """Owned fields found edited in each CRM by that run (a person's edit, left alone with ``on_drift=skip``)."""
    return {name: len(sink.get("drift") or []) for name, sink in (stats.get("sinks") or {}).items()}


def _total_calls(stats: dict[str, Any]) -> int:
    return sum(int(v.get("calls", 0)) for v in (stats.get("calls") or {}).values())
