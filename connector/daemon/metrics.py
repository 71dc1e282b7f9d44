"""Prometheus metrics for the daemon, on a registry of its own (``GET /metrics``).

One registry per daemon rather than prometheus-client's global one, so tests can build several daemons
in one process and a library importing prometheus-client cannot add stray series to ours.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from connector.daemon.pipeline import RunOutcome
from connector.http import Call

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class DaemonMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter("connector_job_runs", "Job runs by job and final status", ["job", "status"], registry=r)
        self.skips = Counter(
            "connector_job_skips", "Job firings not run here, by reason", ["job", "reason"], registry=r
        )
        self.waits = Counter(
            "connector_job_waits", "Job firings that waited for the jobs they follow, by reason", ["job", "reason"],
            registry=r,
        )
        self.duration = Histogram(
            "connector_job_duration_seconds", "Job run duration", ["job"], buckets=_DURATION_BUCKETS, registry=r
        )
        self.last_success = Gauge(
            "connector_job_last_success_timestamp_seconds", "When the job last succeeded here", ["job"], registry=r
        )
        self.api_calls = Counter(
            "connector_api_calls", "API calls by system and HTTP status", ["system", "status"], registry=r
        )
        self.records_written = Counter(
            "connector_records_written", "Records updated in a system", ["system"], registry=r
        )
        self.tasks_created = Counter("connector_tasks_created", "Tasks created in a system", ["system"], registry=r)
        self.settled = Counter(
            "connector_job_runs_settled", "Job runs that found nothing changed since the last complete cycle the "
            "same UTC day, so scored and wrote nothing", ["job"], registry=r,
        )
        self.accounts_scored = Counter(
            "connector_accounts_scored", "Accounts scored by job runs: scope=changed when a run scored only the "
            "accounts changed since the last complete cycle the same UTC day, all when it scored every one",
            ["job", "scope"], registry=r,
        )
        self.quarantined = Counter(
            "connector_quarantined_records", "Source records quarantined", ["source"], registry=r
        )
        self.rate_limit_waits = Counter(
            "connector_rate_limit_wait_seconds", "Time spent waiting on rate limits and retries", ["system"], registry=r
        )
        self.webhooks = Counter(
            "connector_webhook_requests", "Webhook requests by vendor and outcome", ["vendor", "outcome"], registry=r
        )
        self.webhook_requests = Counter(
            "connector_webhook_http_requests", "Webhook HTTP requests by vendor and response status",
            ["vendor", "status"], registry=r,
        )
        self.webhook_rejections = Counter(
            "connector_webhook_rejections", "Webhook requests refused, by vendor and reason code",
            ["vendor", "reason"], registry=r,
        )
        self.refresh_latency = Histogram(
            "connector_webhook_refresh_seconds",
            "From webhook accepted to the targeted re-score and write finished",
            ["vendor"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=r,
        )

    def observe_call(self, call: Call) -> None:
        """A :class:`CallLedger` listener: one increment per HTTP exchange."""
        self.api_calls.labels(call.system, str(call.status) if call.status is not None else "error").inc()

    def observe_run(self, job: str, outcome: RunOutcome, seconds: float, finished_at: float) -> None:
        self.runs.labels(job, outcome.status).inc()
        if outcome.settled:
            self.settled.labels(job).inc()
        if outcome.scored:
            self.accounts_scored.labels(job, "changed" if outcome.incremental else "all").inc(outcome.scored)
        self.duration.labels(job).observe(seconds)
        if outcome.status in ("ok", "partial"):
            self.last_success.labels(job).set(finished_at)
        _add(self.records_written, outcome.records_written)
        _add(self.tasks_created, outcome.tasks_created)
        _add(self.quarantined, outcome.quarantined)
        _add(self.rate_limit_waits, outcome.rate_limit_wait_seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _add(counter: Counter, values: Mapping[str, float]) -> None:
    for label, value in values.items():
        if value:
            counter.labels(label).inc(value)
