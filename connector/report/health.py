"""Sync health from ``runs.stats``: calls per system, failures, and the runs timeline.

``runs.stats`` is the JSON of :class:`connector.sync.SyncResult` as each run left it.  Runs written by an
older version, or that failed half-way, miss keys or carry other shapes, so every read here tolerates a
missing or odd value and shows "–" rather than breaking the report an admin opened to diagnose that run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.report.queries import RunInfo


@dataclass(frozen=True)
class SystemHealth:
    system: str
    pulled: int | None
    quarantined: int | None
    match_rate: float | None
    calls: int | None
    retries: int | None
    http_errors: int | None
    rate_limit_wait_s: float | None
    fields_written: int | None
    write_failures: int | None
    error: str | None


@dataclass(frozen=True)
class RunRowView:
    id: int
    kind: str
    status: str
    started_at: str
    duration_s: float | None
    scored: int | None
    settled_since: int | None  # nothing changed: the run whose scores stood (nothing scored, nothing written)
    changed_since: int | None  # only the accounts changed since this run were scored (the rest stood)
    calls: int
    error: str | None


@dataclass(frozen=True)
class SyncHealth:
    last_run: RunInfo | None
    systems: list[SystemHealth]
    calls_by_run: dict[str, dict[str, int]]  # run label → system → calls, oldest first
    runs: list[RunRowView]  # newest first


def sync_health(runs: list[RunInfo]) -> SyncHealth:
    """``runs`` newest first; the per-system table describes the newest run that has stats."""
    last = next((r for r in runs if r.stats), None)
    calls_by_run = {
        f"#{r.id}": {name: int(_int(info.get("calls")) or 0) for name, info in _dict(r.stats.get("calls")).items()}
        for r in reversed(runs)
        if _dict(r.stats.get("calls"))
    }
    return SyncHealth(last, _systems(last) if last else [], calls_by_run, [_run_row(r) for r in runs])


def _systems(run: RunInfo) -> list[SystemHealth]:
    stats = run.stats
    pulled, calls, sinks = _dict(stats.get("pulled")), _dict(stats.get("calls")), _dict(stats.get("sinks"))
    rates = _dict(_dict(stats.get("identity")).get("rates"))
    errors = {**_dict(stats.get("source_errors")), **_dict(stats.get("sink_errors"))}
    rows = []
    for name in sorted(set(pulled) | set(calls) | set(sinks) | set(errors)):
        p, c, s = _dict(pulled.get(name)), _dict(calls.get(name)), _dict(sinks.get(name))
        failures = s.get("failures")
        rows.append(SystemHealth(
            system=name,
            pulled=_sum_ints(p.get("accounts"), p.get("observations")) if p else None,
            quarantined=_int(p.get("quarantined")),
            match_rate=_float(_dict(rates.get(name)).get("match_rate")),
            calls=_int(c.get("calls")),
            retries=_int(c.get("retries")),
            http_errors=_int(c.get("errors")),
            rate_limit_wait_s=_float(c.get("rate_limit_wait_seconds")),
            fields_written=_int(s.get("fields_written")),
            write_failures=len(failures) if isinstance(failures, list) else None,
            error=_error(errors.get(name), s.get("stopped_reason")),
        ))
    return rows


def _run_row(run: RunInfo) -> RunRowView:
    calls = _dict(run.stats.get("calls"))
    return RunRowView(
        id=run.id,
        kind=run.kind,
        status=run.status,
        started_at=run.started_at.strftime("%Y-%m-%d %H:%M"),
        duration_s=run.duration_s,
        scored=_int(run.stats.get("scored")),
        settled_since=_int(_dict(run.stats.get("settled")).get("run_id")),
        changed_since=_int(_dict(run.stats.get("incremental")).get("since_run")),
        calls=sum(_int(_dict(v).get("calls")) or 0 for v in calls.values()),
        error=run.error,
    )


def _error(*candidates: Any) -> str | None:
    """A system's own error wins over a sink's stop reason (e.g. "daily API budget reached")."""
    return next((str(c) for c in candidates if c), None)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _sum_ints(*values: Any) -> int:
    return sum(_int(v) or 0 for v in values)
