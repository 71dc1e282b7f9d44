"""Peak RSS of a full first sync, with the sandbox in another process so its memory does not count.

    .venv/bin/python bench/bench_memory.py                # 1k and 10k accounts
    .venv/bin/python bench/bench_memory.py --large        # also 100k (target ≤ 500 MB)
    .venv/bin/python bench/bench_memory.py --sizes 10000 --trace

Three processes: the sandbox (:mod:`sandbox_proc`), this driver, and a fresh child per size
(:mod:`sync_child`) that runs ``run_sync`` once and reports its own ``ru_maxrss`` — the sync's peak alone,
next to the same child's RSS right after importing the connector (the fixed cost).  Rate limits are off
(they change time, not memory).  ``--trace`` adds tracemalloc's top allocation sites (slower).
``bench_api_calls.py`` reports the same figure for each of its syncs; this script is the standalone one.
"""

from __future__ import annotations

import argparse
from typing import Any

from common import UNTHROTTLED, Sandbox, growth, quiet_logs, sync_in_child

TARGET_MB = {100_000: 500}


def measure(n: int, trace: bool) -> dict[str, Any]:
    from connector.runtime import run_setup

    with Sandbox(n, limits=UNTHROTTLED, unthrottled_config=True) as sandbox:
        run_setup(sandbox.config(), dry_run=False)
        return {"accounts": n, **sync_in_child(sandbox, trace=trace)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large", action="store_true", help="also 100,000 accounts")
    ap.add_argument("--sizes", type=int, nargs="*")
    ap.add_argument("--trace", action="store_true", help="tracemalloc top allocation sites")
    args = ap.parse_args()
    quiet_logs()
    sizes = args.sizes or [1_000, 10_000] + ([100_000] if args.large else [])
    rows = []
    for n in sizes:
        r = measure(n, args.trace)
        rows.append(r)
        target = f"  (target ≤ {TARGET_MB[n]} MB)" if n in TARGET_MB else ""
        print(f"{n:>9,} accounts: full first sync {r['seconds']:.1f} s, status {r['status']}, peak RSS "
              f"{r['peak_mb']:.0f} MB (after imports {r['import_mb']:.0f} MB){target}", flush=True)
        print("      peak by end of stage: " + ", ".join(f"{k} {v:.0f} MB" for k, v in r["stages"].items()))
        for line in r["top"]:
            print(f"      {line}")
    if len(rows) > 1:
        print(growth("peak RSS above imports (MB)", sizes, [r["peak_mb"] - r["import_mb"] for r in rows]))


if __name__ == "__main__":
    main()
