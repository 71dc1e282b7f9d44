"""The FIRST unchanged re-sync writes nothing, whatever the time of day.

Milestones reached on the first run are stored as a date and read back as that day's midnight; when the
scoring dated them to the run's instant, ETAs moved between the two runs and ``next_milestone_status``
flipped on borderline accounts — more of them the later in the day.  Each case runs the whole pipeline
(real clients, 1,000 accounts) with the sandbox clock at one time of day, then re-syncs minutes later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.config import load_config
from connector.runtime import run_setup, run_sync
from connector.sandbox.cluster import start_cluster

ACCOUNTS = 1000
READ_POSTS = ("/search", "/query", "/batch/read")  # POSTs that only read


@pytest.mark.timeout(1200)  # three whole 1k-account pipelines: minutes each on a busy machine, not a hang
@pytest.mark.parametrize("hour, minute", [(0, 30), (12, 0), (23, 50)])
def test_first_unchanged_resync_writes_nothing(tmp_path: Path, hour: int, minute: int) -> None:
    start = datetime(2026, 11, 2, hour, minute, tzinfo=UTC)
    cluster = start_cluster(tmp_path / "sandbox", accounts=ACCOUNTS, seed=5, start=start,
                            limits={"zendesk": {"export_requests_per_minute": None}})
    try:
        config = load_config(cluster.write_config(tmp_path / "connector.toml"))
        assert run_setup(config, dry_run=False)["errors"] == {}
        first = run_sync(config, now=cluster.clock.now())
        assert first.status == "ok", (first.source_errors, first.sink_errors)
        assert first.sinks["salesforce"]["fields_written"] > 0
        cluster.clock.advance(timedelta(minutes=3))  # still the same day, past the export's last minute
        cluster.reset_ledgers()
        again = run_sync(config, now=cluster.clock.now())
        assert again.status == "ok", (again.source_errors, again.sink_errors)
        writes = {name: [(c.method, c.path) for c in e.ctx.ledger.entries()
                         if c.method != "GET" and not c.path.endswith(READ_POSTS)]
                  for name, e in cluster.emulators.items()}
        assert writes == {name: [] for name in cluster.emulators}, f"re-sync at {hour:02}:{minute:02} wrote"
        assert {s: r["fields_written"] for s, r in again.sinks.items()} == {s: 0 for s in again.sinks}
    finally:
        cluster.stop()
