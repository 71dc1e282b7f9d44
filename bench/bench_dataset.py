"""Benchmark the synthetic world generator: seconds and peak RSS at 10k / 100k (and 1M with --large).

Each size runs in a fresh child process so that its peak RSS (``resource.getrusage`` ru_maxrss) is its
own and not the maximum of everything run before.  Prints per-size figures and whether time and memory
grow linearly (per-account cost at the largest size vs the smallest).

    .venv/bin/python bench/bench_dataset.py [--large] [--evolve]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime


def one(n: int, do_evolve: bool) -> dict[str, float]:
    """Generate (and optionally evolve) one world in this process and measure it."""
    from connector.sandbox.dataset import evolve, generate_world

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    w = generate_world(n, seed=7, now=datetime(2026, 11, 2, tzinfo=UTC))
    gen = time.perf_counter() - t0
    ev = 0.0
    if do_evolve:
        t1 = time.perf_counter()
        evolve(w, 14, seed=1)
        ev = time.perf_counter() - t1
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"accounts": n, "seconds": gen, "evolve_seconds": ev, "peak_rss_mb": peak_kb / 1024,
            "import_rss_mb": base / 1024, "tickets": len(w.tickets)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--large", action="store_true", help="also run 1,000,000 accounts")
    ap.add_argument("--evolve", action="store_true", help="also time evolve(world, 14 days)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.evolve)))
        return
    sizes = [10_000, 100_000] + ([1_000_000] if args.large else [])
    results = []
    for n in sizes:
        cmd = [sys.executable, __file__, "--one", str(n)] + (["--evolve"] if args.evolve else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        results.append(r)
        print(f"{n:>9,} accounts: {r['seconds']:7.2f} s  peak RSS {r['peak_rss_mb']:8.1f} MB  "
              f"tickets {r['tickets']:>9,}" + (f"  evolve(14d) {r['evolve_seconds']:.2f} s" if args.evolve else ""),
              flush=True)
    a, b = results[0], results[-1]
    scale = b["accounts"] / a["accounts"]
    t_ratio = b["seconds"] / a["seconds"]
    m_ratio = (b["peak_rss_mb"] - b["import_rss_mb"]) / max(1.0, a["peak_rss_mb"] - a["import_rss_mb"])
    print(f"growth {a['accounts']:,} → {b['accounts']:,} (×{scale:.0f}): time ×{t_ratio:.1f}, "
          f"memory above import ×{m_ratio:.1f} → {'linear' if t_ratio < scale * 1.5 else 'super-linear'}")


if __name__ == "__main__":
    main()
