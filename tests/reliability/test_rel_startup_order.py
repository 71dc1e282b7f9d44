"""A fresh daemon's first cycle pulls before it scores.

The probe's finding: the catch-up fired every overdue job at once, so ``score_and_write`` could finish
before any pull — 0 accounts scored, nothing written, every webhook "unmatched" until the next cycle.  Here
the pulls block until the test releases them, and the order is read from the runs table, so the test
holds on any machine: no sleeps, no timing thresholds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from connector.config import config_from_dict
from connector.daemon.coordination import LocalLocks
from connector.daemon.metrics import DaemonMetrics
from connector.daemon.pipeline import RunOutcome
from connector.daemon.scheduler import JobRunner, JobScheduler, scheduled_jobs
from connector.store import Store


class GatedPipeline:
    """Pulls record a run and then wait for ``release``; scoring records a run at once."""

    def __init__(self, store: Store):
        self.store, self.release = store, threading.Event()

    def _run(self, kind: str, gate: threading.Event | None) -> RunOutcome:
        run_id = self.store.start_run(kind)
        if gate is not None:
            gate.wait(120)
        self.store.finish_run(run_id, "ok", {})
        return RunOutcome("ok")

    def pull(self, source: str, *, kind: str) -> RunOutcome:
        return self._run(kind, self.release)

    def score_and_write(self, *, kind: str) -> RunOutcome:
        return self._run(kind, None)

    def refresh(self, source: str, accounts: Sequence[str], *, kind: str) -> RunOutcome:
        return self._run(kind, None)


def _until(predicate: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_first_cycle_scores_after_every_pull(tmp_path: Path) -> None:
    hourly = {"every_minutes": 60, "jitter_seconds": 0}
    config = config_from_dict({
        "salesforce": {"base_url": "https://127.0.0.1:9", "session_id_env": "SF_TOKEN"},
        "stripe": {"api_key_env": "STRIPE_KEY"},
        "zendesk": {"base_url": "https://acme.zendesk.com", "email": "ops@example.com", "token_env": "ZD_TOKEN"},
        "schedules": {"pull": hourly, "score_and_write": hourly},
    }, tmp_path / "connector.toml")
    store, stop, metrics = Store(f"sqlite:///{tmp_path / 'state.db'}"), threading.Event(), DaemonMetrics()
    pipeline = GatedPipeline(store)
    runner = JobRunner(store, LocalLocks(), metrics, stop)
    scheduler = JobScheduler(runner, scheduled_jobs(config, pipeline))
    pulls = {"pull:salesforce", "pull:stripe", "pull:zendesk"}
    scheduler.start()
    try:
        def waits() -> float:
            return metrics.registry.get_sample_value(
                "connector_job_waits_total", {"job": "score_and_write", "reason": "predecessors"}) or 0.0

        # every pull is running (blocked), and scoring has either started (the defect) or is waiting for them
        _until(lambda: {r.kind for r in store.runs(limit=50) if r.status == "running"} >= pulls, "pulls never ran")
        _until(lambda: waits() > 0 or store.runs(kind="score_and_write"), "scoring neither ran nor waited")
        pipeline.release.set()
        _until(lambda: [r for r in store.runs(kind="score_and_write") if r.status == "ok"], "scoring never ran")
    finally:
        pipeline.release.set()
        stop.set()
        scheduler.shutdown()
        runner.wait_idle(30)
    runs = store.runs(limit=50)
    [score] = [r for r in runs if r.kind == "score_and_write"]
    pulled = [r for r in runs if r.kind in pulls]
    assert {r.kind for r in pulled} == pulls and all(r.status == "ok" and r.ended_at for r in pulled)
    assert all(score.started_at >= r.ended_at for r in pulled if r.ended_at), (score, pulled)
    store.close()
