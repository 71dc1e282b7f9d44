"""``GET /healthz`` and ``GET /metrics``.

Health is read from the runs table, not from this process's memory: with several instances only one of
them runs a given job, and every instance should report the same truth — "has this job succeeded
recently, anywhere?".  A job is unhealthy when its last ``ok`` run is older than ``health_max_missed``
intervals (plus its jitter); a job that never succeeded gets the same allowance from daemon start.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector.daemon.metrics import CONTENT_TYPE, DaemonMetrics
from connector.daemon.scheduler import JobRunner, JobSpec, interval_of
from connector.store import Store


def job_health(store: Store, spec: JobSpec, max_missed: float, started_at: datetime, now: datetime) -> dict[str, Any]:
    assert spec.schedule is not None
    interval = interval_of(spec.schedule, now)
    runs = store.runs(limit=50, kind=spec.name)
    last_ok = next((r for r in runs if r.status == "ok"), None)
    last_ok_at = _aware(last_ok.ended_at or last_ok.started_at) if last_ok else None
    allowance = timedelta(seconds=max_missed * interval + spec.schedule.jitter_seconds)
    healthy = now - (last_ok_at or started_at) <= allowance
    return {
        "healthy": healthy,
        "last_success": last_ok_at.isoformat() if last_ok_at else None,
        "last_status": runs[0].status if runs else None,
        "interval_seconds": interval,
    }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Operations:
    def __init__(
        self,
        store: Store,
        jobs: list[JobSpec],
        runner: JobRunner,
        metrics: DaemonMetrics,
        *,
        max_missed: float,
        instance: str,
    ):
        self.store, self.jobs, self.runner, self.metrics = store, jobs, runner, metrics
        self.max_missed, self.instance = max_missed, instance
        self.started_at = datetime.now(UTC)
        self.started_mono = time.monotonic()

    def routes(self) -> list[Route]:
        return [Route("/healthz", self.healthz, methods=["GET"]), Route("/metrics", self.metrics_page, methods=["GET"])]

    def healthz(self, _request: Request) -> JSONResponse:
        now = datetime.now(UTC)
        try:
            jobs = {j.name: job_health(self.store, j, self.max_missed, self.started_at, now) for j in self.jobs}
        except Exception as exc:  # a store we cannot read is an unhealthy daemon
            return JSONResponse({"status": "unhealthy", "error": f"state store unreachable ({type(exc).__name__})"},
                                status_code=503)
        healthy = all(j["healthy"] for j in jobs.values())
        body = {
            "status": "ok" if healthy else "unhealthy",
            "instance": self.instance,
            "uptime_seconds": round(time.monotonic() - self.started_mono, 1),
            "running_here": self.runner.running(),
            "jobs": jobs,
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    def metrics_page(self, _request: Request) -> Response:
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)
