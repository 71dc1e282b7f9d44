"""Test entry point: the real daemon (scheduler, locks, HTTP, signals) with a fake pipeline.

``python tests/daemon/fake_daemon.py CONFIG`` — the pipeline sleeps and writes marker rows into the state
store, so tests in other processes can see which instance did what, and when:

* ``pull`` sleeps ``FAKE_PULL_SECONDS``;
* ``score_and_write`` brings table ``fake_writes`` up to ``FAKE_ITEMS`` rows, one committed row every
  ``FAKE_STEP_SECONDS`` — like a diff-based sink, a later run writes only what is missing;
* ``refresh`` writes one ``fake_refreshes`` row per account;
* ``FAKE_FAIL`` names a job kind that raises instead;
* ``FAKE_HOLD_AFTER=n``: the run that commits item ``n - 1`` then stops making progress (until killed) —
  a barrier a test can kill the instance at, however slow the machine, without racing the remaining items.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from sqlalchemy import text

from connector import logging as connector_logging
from connector.config import load_config
from connector.daemon import RunOutcome, serve_forever
from connector.runtime import open_store

ITEMS = int(os.environ.get("FAKE_ITEMS", "5"))
STEP = float(os.environ.get("FAKE_STEP_SECONDS", "0.05"))
PULL = float(os.environ.get("FAKE_PULL_SECONDS", "0.05"))
FAIL = os.environ.get("FAKE_FAIL", "")
HOLD_AFTER = int(os.environ.get("FAKE_HOLD_AFTER", "0"))


class FakePipeline:
    def __init__(self, config_path: str):
        self.store = open_store(load_config(config_path))

    def _recorded(self, kind: str, work: object) -> RunOutcome:
        run_id = self.store.start_run(kind)
        if kind == FAIL:
            self.store.finish_run(run_id, "failed", {}, "fake failure")
            raise RuntimeError("fake failure")
        written = work(run_id)  # type: ignore[operator]
        self.store.finish_run(run_id, "ok", {"written": written})
        return RunOutcome("ok", records_written={"fake": written}, tasks_created={"fake": 0})

    def pull(self, source: str, *, kind: str) -> RunOutcome:
        def work(_run_id: int) -> int:
            time.sleep(PULL)
            return 0

        return self._recorded(kind, work)

    def score_and_write(self, *, kind: str) -> RunOutcome:
        def work(run_id: int) -> int:
            with self.store.engine.connect() as conn:
                done = int(conn.execute(text("SELECT count(*) FROM fake_writes")).scalar() or 0)
            for item in range(done, ITEMS):
                time.sleep(STEP)
                with self.store.engine.begin() as conn:
                    conn.execute(
                        text("INSERT INTO fake_writes (item, run_id, pid) VALUES (:i, :r, :p)"),
                        {"i": item, "r": run_id, "p": os.getpid()},
                    )
                while item + 1 == HOLD_AFTER:  # the barrier: held here until the test kills this process
                    time.sleep(0.05)
            return max(0, ITEMS - done)

        return self._recorded(kind, work)

    def refresh(self, source: str, accounts: Sequence[str], *, kind: str) -> RunOutcome:
        def work(run_id: int) -> int:
            with self.store.engine.begin() as conn:
                for account in accounts:
                    conn.execute(
                        text("INSERT INTO fake_refreshes (source, account, run_id) VALUES (:s, :a, :r)"),
                        {"s": source, "a": account, "r": run_id},
                    )
            return len(accounts)

        return self._recorded(kind, work)


if __name__ == "__main__":
    connector_logging.configure("INFO", json_output=True)
    serve_forever(load_config(sys.argv[1]), FakePipeline(sys.argv[1]))
