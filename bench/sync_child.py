"""One ``run_sync`` in a fresh process, reporting its own peak RSS: ``sync_child.py CONFIG NOW [--trace]``.

The benchmarks run every measured sync here so that ``ru_maxrss`` is that sync's peak alone — not the
benchmark driver's, and not the sandbox's (which lives in :mod:`sandbox_proc`).  Prints one JSON line:
seconds, process CPU seconds (in all and per stage), status, per-sink records updated, RSS after imports
and at the end, and with ``--trace`` the
top tracemalloc allocation sites.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _track_stages() -> tuple[dict[str, float], dict[str, float]]:
    """Peak RSS (MB) reached by the end of each pipeline stage, so a figure says *which* stage holds memory,
    and the process CPU seconds each stage spent (the machine is shared: wall clock is not the connector's).

    ``ru_maxrss`` only grows, so the first stage whose figure jumps is the one to look at.
    """
    from connector.sync import SyncRunner

    stages: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for name in ("pull", "resolve", "read_back", "score", "write"):
        original = getattr(SyncRunner, name)

        def wrapped(self: SyncRunner, *a: object, _o: object = original, _n: str = name, **k: object) -> object:
            started = time.process_time()
            try:
                return _o(self, *a, **k)  # type: ignore[operator]
            finally:
                stages[_n] = round(_rss_mb(), 1)
                cpu[_n] = round(cpu.get(_n, 0.0) + time.process_time() - started, 3)

        setattr(SyncRunner, name, wrapped)
    return stages, cpu


def _memray(path: str | None) -> AbstractContextManager[object]:
    """A memray capture of the sync into ``path`` (aggregated: its high-water mark), or nothing; memray is
    installed by hand for the measurement, it is not a dependency."""
    if not path:
        return nullcontext()
    import memray

    return memray.Tracker(path, file_format=memray.FileFormat.AGGREGATED_ALLOCATIONS)


def main(config_path: str, now: str, trace: bool) -> None:
    from connector import logging as clog
    from connector.config import load_config
    from connector.runtime import run_sync

    clog.configure("ERROR")
    import_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if trace:
        import tracemalloc

        tracemalloc.start(8)
    stages, stage_cpu = _track_stages()
    started, cpu_started = time.perf_counter(), time.process_time()
    with _memray(os.environ.get("BENCH_MEMRAY")):
        result = run_sync(load_config(Path(config_path)), now=datetime.fromisoformat(now)).as_json()
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    top: list[str] = []
    if trace:
        snapshot = tracemalloc.take_snapshot()
        _, peak = tracemalloc.get_traced_memory()
        top = [f"peak traced {peak / 2**20:.0f} MB"] + [
            f"{s.size / 2**20:.1f} MB {s.traceback[-1]}" for s in snapshot.statistics("lineno")[:8]]
    print(json.dumps({
        "seconds": seconds, "cpu_s": cpu_s, "stage_cpu": stage_cpu, "status": result["status"],
        "scored": result["scored"], "settled": result.get("settled"),
        "calls": {name: v.get("calls", 0) for name, v in result["calls"].items() if isinstance(v, dict)},
        "errors": {**result["source_errors"], **result["sink_errors"]},
        "records_updated": {s: v.get("records_updated", 0) for s, v in result["sinks"].items()},
        "import_mb": import_mb, "stages": stages, "peak_mb": _rss_mb(), "top": top,
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--trace" in sys.argv[3:])
