"""The daemon as a real process: scheduled runs, /healthz, /metrics, SIGTERM, and the real CLI wiring."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from daemon_kit import free_port, start_daemon, wait_for, write_config

from connector.store import Store


def runs(url: str, kind: str) -> list[tuple[str, str | None]]:
    store = Store(url, auto_migrate=False)
    try:
        return [(r.status, r.error) for r in store.runs(limit=100, kind=kind)]
    finally:
        store.close()


def test_scheduled_runs_health_and_metrics(tmp_path: Path, sqlite_url: str) -> None:
    port = free_port()
    daemon = start_daemon(write_config(tmp_path / "c.toml", sqlite_url, port, every=1), port)
    try:
        # Wait on observable progress, not on the scheduler's timing: on a busy machine the newest
        # score_and_write run may still be running when the third pull has finished.
        wait_for(lambda: len([s for s, _ in runs(sqlite_url, "pull:salesforce") if s == "ok"]) >= 3, timeout=30)
        wait_for(lambda: "ok" in [s for s, _ in runs(sqlite_url, "score_and_write")], timeout=30)
        assert not [e for s, e in runs(sqlite_url, "score_and_write") if s not in ("ok", "running")]
        written = 'connector_records_written_total{system="fake"} 5.0'  # a run's figures reach /metrics once it ends
        wait_for(lambda: written in httpx.get(f"{daemon.url}/metrics").text, timeout=30)
        health = httpx.get(f"{daemon.url}/healthz").json()
        assert health["status"] == "ok"
        assert set(health["jobs"]) == {"pull:salesforce", "score_and_write"}
        assert health["jobs"]["pull:salesforce"]["last_success"] is not None
        metrics = httpx.get(f"{daemon.url}/metrics").text
        assert 'connector_job_runs_total{job="pull:salesforce",status="ok"}' in metrics
        assert 'connector_job_duration_seconds_bucket{job="score_and_write"' in metrics
        assert 'connector_records_written_total{system="fake"} 5.0' in metrics  # written once, then nothing left
        assert httpx.post(f"{daemon.url}/webhooks/stripe", content=b"{}").status_code == 404  # webhooks disabled
    finally:
        assert daemon.stop() == 0
    assert "daemon.stopped" in daemon.log()


def test_healthz_is_503_when_a_job_keeps_failing(tmp_path: Path, sqlite_url: str) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.toml", sqlite_url, port, every=1, max_missed=1)
    daemon = start_daemon(cfg, port, env={"FAKE_FAIL": "score_and_write"})
    try:
        # A snapshot where the failing job is the reason: between two failures a new run may be "running", and
        # on a busy machine a pull may be late for a moment — wait for the state, do not race the scheduler.
        def failing_alone() -> dict | None:
            response = httpx.get(f"{daemon.url}/healthz")
            jobs = response.json()["jobs"]
            ok = (response.status_code == 503 and jobs["score_and_write"]["last_status"] == "failed"
                  and jobs["pull:salesforce"]["healthy"] is True)
            return jobs if ok else None

        body = {"jobs": wait_for(failing_alone, timeout=6)}
        assert body["jobs"]["score_and_write"]["healthy"] is False
        assert 'status="failed"' in httpx.get(f"{daemon.url}/metrics").text
    finally:
        assert daemon.stop() == 0


def test_sigterm_waits_for_the_running_job(tmp_path: Path, sqlite_url: str) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.toml", sqlite_url, port, every=30, grace=10)
    daemon = start_daemon(cfg, port, env={"FAKE_ITEMS": "10", "FAKE_STEP_SECONDS": "0.15"})
    wait_for(lambda: ("running", None) in runs(sqlite_url, "score_and_write"), timeout=5)
    assert daemon.stop() == 0
    assert runs(sqlite_url, "score_and_write")[0][0] == "ok"
    with Store(sqlite_url, auto_migrate=False).engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT count(*) FROM fake_writes")).scalar() == 10


def test_sigterm_past_the_grace_period_records_interrupted(tmp_path: Path, sqlite_url: str) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.toml", sqlite_url, port, every=30, grace=0.5)
    daemon = start_daemon(cfg, port, env={"FAKE_ITEMS": "100", "FAKE_STEP_SECONDS": "0.1"})
    wait_for(lambda: ("running", None) in runs(sqlite_url, "score_and_write"), timeout=5)
    started = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - started < 5
    status, error = runs(sqlite_url, "score_and_write")[0]
    assert status == "interrupted"
    assert error and "SIGTERM" in error


def test_real_cli_run_records_runs_and_meters_api_calls(tmp_path: Path, sqlite_url: str) -> None:
    """``python -m connector run`` with the real pipeline; Salesforce is unreachable, so runs fail — and
    the failure is visible in the runs table, /healthz and the API-call metrics, and SIGTERM still exits 0."""
    port = free_port()
    cfg = write_config(tmp_path / "c.toml", sqlite_url, port, every=1, max_missed=1)
    daemon = start_daemon(cfg, port, fake=False)
    try:
        wait_for(lambda: runs(sqlite_url, "pull:salesforce"), timeout=15)
        wait_for(lambda: 'connector_api_calls_total{status="error",system="salesforce"}' in
                 httpx.get(f"{daemon.url}/metrics").text, timeout=15)
        assert "sf-token-abcd" not in daemon.log()
    finally:
        assert daemon.stop() == 0
    statuses = {s for s, _ in runs(sqlite_url, "pull:salesforce")}
    assert statuses <= {"partial", "failed", "running", "interrupted"} and statuses & {"partial", "failed"}
