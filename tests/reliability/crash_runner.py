"""``connector sync`` that SIGKILLs itself at a named point: the crash half of the reliability suite.

Run as ``python crash_runner.py <connector args…>`` with ``REL_CRASH_AT=<point>:<n>``: the process kills
itself with SIGKILL (no cleanup, no ``finally``, no flush — exactly a ``kill -9``) when the ``n``-th call
of that point starts.  Points are the state-store calls that mark the pipeline's stages, so a kill there
is a kill *between* a remote effect and its bookkeeping:

* ``extract``      — ``Store.upsert_replica``: mid-extraction, some pages stored, cursor partly moved;
* ``observations`` — ``Store.upsert_observations``: a source's records read, not yet stored;
* ``score``        — ``Store.save_states``: scores appended, milestone states not yet saved;
* ``fields``       — ``Store.record_written``: a field batch accepted by the CRM, not yet recorded;
* ``tasks``        — ``Store.upsert_tasks``: a task batch upserted remotely, the task ledger not updated;
* ``log``          — ``Store.log_records``: values recorded, the per-record sync log not yet written.

The hook lives here, in the test harness, so the product carries no crash switch.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

POINTS = {"extract": "upsert_replica", "observations": "upsert_observations", "score": "save_states",
          "fields": "record_written", "tasks": "upsert_tasks", "log": "log_records"}


def arm(point: str, nth: int) -> None:
    """Make the ``nth`` call of ``point`` kill the process."""
    from connector.store.store import Store

    original: Callable[..., Any] = getattr(Store, POINTS[point])
    calls = {"n": 0}

    def hooked(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, *args, **kwargs)

    setattr(Store, POINTS[point], hooked)


def main() -> None:
    spec = os.environ.get("REL_CRASH_AT")
    if spec:
        point, _, nth = spec.partition(":")
        arm(point, int(nth or 1))
    from connector.cli import app

    app(sys.argv[1:], prog_name="connector")


if __name__ == "__main__":
    main()
