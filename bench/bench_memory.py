"""Peak RSS of a full first sync, with the sandbox in another process so its memory does not count.

    .venv/bin/python bench/bench_memory.py                # 1k and 10k accounts
    .venv/bin/python bench/bench_memory.py --large        # also 100k (target ≤ 500 MB)

Three processes: the sandbox (:mod:`sandbox_proc`), this driver, and a fresh child per size that runs
``run_sync`` once and reports its own ``ru_maxrss`` — so the figure is the sync's peak alone, next to the
same child's RSS right after importing the connector (the fixed cost).  Rate limits are off (they change
time, not memory).  ``--trace`` adds tracemalloc's top allocation sites at the peak (slower).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from common import UNTHROTTLED, Sandbox, growth, quiet_logs

TARGET_MB = {100_000: 500}


def child(config_path: str, now: str, trace: bool) -> None:
    """Run one sync in this (fresh) process and print its peak RSS as JSON."""
    quiet_logs()
    from connector.config import load_config
    from connector.runtime import run_sync

    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if trace:
        import tracemalloc

        tracemalloc.start(8)
    started = time.perf_counter()
    result = run_sync(load_config(Path(config_path)), now=datetime.fromisoformat(now)).as_json()
    seconds = time.perf_counter() - started
    top: list[str] = []
    if trace:
        import tracemalloc

        snapshot = tracemalloc.take_snapshot()
        _, peak = tracemalloc.get_traced_memory()
        top = [f"peak traced {peak / 2**20:.0f} MB"] + [str(s) for s in snapshot.statistics("traceback")[:5]]
    print(json.dumps({"seconds": seconds, "status": result["status"], "scored": result["scored"],
                      "import_mb": base_mb, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "top": top}))


def measure(n: int, trace: bool) -> dict[str, object]:
    with Sandbox(n, limits=UNTHROTTLED, unthrottled_config=True) as sandbox:
        from connector.runtime import run_setup

        run_setup(sandbox.config(), dry_run=False)
        out = subprocess.run([sys.executable, __file__, "--child", str(sandbox.config_path),
                              sandbox.now().isoformat()] + (["--trace"] if trace else []),
                             check=True, capture_output=True, text=True).stdout
    data: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return {"accounts": n, **data}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large", action="store_true", help="also 100,000 accounts")
    ap.add_argument("--sizes", type=int, nargs="*")
    ap.add_argument("--trace", action="store_true", help="tracemalloc top allocation sites")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.trace)
        return
    quiet_logs()
    sizes = args.sizes or [1_000, 10_000] + ([100_000] if args.large else [])
    rows = []
    for n in sizes:
        r = measure(n, args.trace)
        rows.append(r)
        target = f"  (target ≤ {TARGET_MB[n]} MB)" if n in TARGET_MB else ""
        print(f"{n:>9,} accounts: full first sync {r['seconds']:.1f} s, status {r['status']}, peak RSS "
              f"{r['peak_mb']:.0f} MB (after imports {r['import_mb']:.0f} MB){target}", flush=True)
        for line in r["top"]:  # type: ignore[attr-defined]
            print(f"      {line}")
    if len(rows) > 1:
        print(growth("peak RSS above imports (MB)", sizes,
                     [float(r["peak_mb"]) - float(r["import_mb"]) for r in rows]))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
