"""One daemon cycle with the real pipeline: first sync, the echo re-sync, an unchanged re-sync.

    .venv/bin/python bench/bench_cycle.py --accounts 3000

Every source, resolve, score and every sink against the sandbox emulators, which run in this process
with their rate limits off (so the figure is the connector's and the emulators' work, not a vendor's
pacing). Prints seconds, write calls and all calls per system for each of the three syncs.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from connector import logging as connector_logging
from connector.config import load_config
from connector.runtime import run_setup, run_sync
from connector.sandbox.cluster import start_cluster

UNLIMITED = {"zendesk": {"export_requests_per_minute": None, "requests_per_minute": None},
             "hubspot": {"requests_per_10s": None}, "stripe": {"requests_per_second": None},
             "techlookup": {"requests_per_second": None}}
READS = ("/search", "/query", "/batch/read", "/token")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=3000)
    args = ap.parse_args()
    connector_logging.configure("WARNING")
    workdir = Path(tempfile.mkdtemp(prefix="bench-cycle-"))
    cluster = start_cluster(workdir, accounts=args.accounts, seed=7, limits=UNLIMITED)
    try:
        path = cluster.write_config(workdir / "connector.toml")
        path.write_text(path.read_text().replace("requests_per_second = 8", "requests_per_second = 1000"))
        config = load_config(path)
        run_setup(config, dry_run=False)
        for label in ("first sync", "echo re-sync", "unchanged re-sync"):
            cluster.reset_ledgers()
            started = time.perf_counter()
            result = run_sync(config, now=cluster.clock.now())
            seconds = time.perf_counter() - started
            entries = {n: e.ctx.ledger.entries() for n, e in cluster.emulators.items()}
            writes = {n: sum(1 for c in calls if c.method != "GET" and not c.path.endswith(READS))
                      for n, calls in entries.items()}
            print(f"{label:<18} {seconds:6.1f} s  {result.status}  write calls {writes}  "
                  f"all calls {{{', '.join(f'{n}: {len(c)}' for n, c in entries.items())}}}")
            cluster.clock.advance(timedelta(minutes=2))
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
