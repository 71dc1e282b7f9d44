"""The first unchanged re-sync, measured: a whole pipeline on a fresh sandbox, then a re-sync minutes later.

Why a module of its own: the idempotence promise ("the FIRST unchanged re-sync writes nothing, at any time
of day") is checked by a test at 1,000 accounts and measured by ``bench/bench_resync.py`` at 10,000, and
both must run exactly the same procedure — real clients, real HTTP, the sandbox's own request ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

READ_POSTS = ("/search", "/query", "/batch/read")  # POSTs that only read
AUTH_POSTS = ("/services/oauth2/token",)  # a new access token once the last one expired: writes no data


@dataclass(frozen=True)
class ResyncOutcome:
    """What the first sync wrote, and what the re-sync after it wrote (it should write nothing)."""

    first_fields: dict[str, int]
    first_status: str
    resync_status: str
    resync_fields: dict[str, int]
    resync_write_calls: dict[str, list[tuple[str, str]]]  # per emulator: (method, path) of each write
    errors: dict[str, Any]


def first_resync(workdir: Path, accounts: int, start: datetime, seed: int = 5,
                 resync_after: timedelta = timedelta(minutes=3), resync_full: bool = False) -> ResyncOutcome:
    """Set up a fresh sandbox world at ``start`` (UTC), sync 2 minutes later (the whole world visible to
    the exports), re-sync ``resync_after`` that (3 minutes: the same day; it must stay the same day).

    ``resync_full`` makes the re-sync a ``--full`` one: every source re-read and every account scored
    again, so a settled cycle is not skipped; what it writes then is what scoring the same data later the
    same day changes, which must be nothing.
    """
    from connector.config import load_config
    from connector.runtime import run_setup, run_sync
    from connector.sandbox.cluster import start_cluster

    cluster = start_cluster(workdir / "sandbox", accounts=accounts, seed=seed, start=start.astimezone(UTC),
                            limits={"zendesk": {"export_requests_per_minute": None}})
    try:
        config = load_config(cluster.write_config(workdir / "connector.toml"))
        setup_errors = run_setup(config, dry_run=False)["errors"]
        # The world's last ticket changes are up to ``start``; Zendesk's export leaves out the last minute,
        # so a first sync at ``start`` would miss them and the re-sync would rightly read them as news.
        cluster.clock.advance(timedelta(minutes=2))
        first = run_sync(config, now=cluster.clock.now())
        cluster.clock.advance(resync_after)  # still the same day, past the export's last minute
        cluster.reset_ledgers()
        again = run_sync(config, now=cluster.clock.now(), full=resync_full)
        writes = {name: [(c.method, c.path) for c in e.ctx.ledger.entries()
                         if c.method != "GET" and not c.path.endswith(READ_POSTS + AUTH_POSTS)]
                  for name, e in cluster.emulators.items()}
        return ResyncOutcome(
            {s: r["fields_written"] for s, r in first.sinks.items()}, first.status, again.status,
            {s: r["fields_written"] for s, r in again.sinks.items()}, writes,
            {"setup": setup_errors, "first": {**first.source_errors, **first.sink_errors},
             "resync": {**again.source_errors, **again.sink_errors}})
    finally:
        cluster.stop()


def at_time_of_day(hour: int, minute: int) -> datetime:
    """The sandbox's start instant for a time-of-day case (a fixed Monday, so runs compare)."""
    return datetime(2026, 11, 2, hour, minute, tzinfo=UTC)
