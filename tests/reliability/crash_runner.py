"""``connector sync`` that SIGKILLs itself at a named point: the crash half of the reliability suite.

Run as ``python crash_runner.py <connector args…>`` with ``REL_CRASH_AT=<point>:<n>``: the process kills
itself with SIGKILL (no cleanup, no ``finally``, no flush — exactly a ``kill -9``) when the ``n``-th call
of that point starts.  Points are the state-store calls that mark the pipeline's stages, so a kill there
is a kill *between* a remote effect and its bookkeeping:

* ``extract``      — ``Store.upsert_replica``: mid-extraction, some pages stored, cursor partly moved;
* ``observations`` — ``Store.upsert_observations``: a source's records read, not yet stored;
* ``score``        — ``Store.save_packed_states``: engine states not yet saved, nor the scores;
* ``fields``       — ``Store.record_written``: a field batch accepted by the CRM, not yet recorded;
* ``tasks``        — ``Store.upsert_tasks``: a task batch upserted remotely, the task ledger not updated;
* ``log``          — ``Store.log_records``: values recorded, the per-record sync log not yet written.

``REL_CRASH_AT=any:<n>`` counts the calls of *all* those points together: the ``n``-th step of progress,
whatever stage it falls in — the "random moment" of the suite, drawn over progress rather than over
wall-clock time, so a busy machine changes when it happens but never whether.  ``REL_COUNT_FILE=<path>``
(no crash) writes how many such steps a whole run took, which bounds the draw.

The hook lives here, in the test harness, so the product carries no crash switch.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

POINTS = {"extract": "upsert_replica", "observations": "upsert_observations", "score": "save_packed_states",
          "fields": "record_written", "tasks": "upsert_tasks", "log": "log_records"}


def arm(point: str, nth: int | None, calls: dict[str, int]) -> None:
    """Count the calls of ``point`` (``any``: of every point) in ``calls``; the ``nth`` kills the process."""
    from connector.store.store import Store

    for name in POINTS.values() if point == "any" else [POINTS[point]]:
        original: Callable[..., Any] = getattr(Store, name)

        def hooked(self: Any, *args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == nth:
                os.kill(os.getpid(), signal.SIGKILL)
            return _original(self, *args, **kwargs)

        setattr(Store, name, hooked)


def main() -> None:
    calls = {"n": 0}
    spec = os.environ.get("REL_CRASH_AT")
    if spec:
        point, _, nth = spec.partition(":")
        arm(point, int(nth or 1), calls)
    count_file = os.environ.get("REL_COUNT_FILE")
    if count_file:
        arm("any", None, calls)
        atexit.register(lambda: Path(count_file).write_text(str(calls["n"]), encoding="utf-8"))
    from connector.cli import app

    app(sys.argv[1:], prog_name="connector")


if __name__ == "__main__":
    main()
