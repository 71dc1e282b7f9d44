"""``make bench``: the standard benchmark set, each script in its own process.

    .venv/bin/python bench/run_all.py            # standard set (1k / 5k accounts), < 10 minutes on 2 cores
    .venv/bin/python bench/run_all.py --large    # 10k / 100k accounts, 1M for scoring: hours (docs)

Every script prints its own figures (ratios measured in this run); this runner only sequences them and
prints how long each took.  docs/benchmarks.md records the figures and the exact commands.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def plan(large: bool) -> list[tuple[str, list[str]]]:
    """The standard set stays under 10 minutes on 2 cores; ``--large`` is the full-size set (hours)."""
    if large:
        return [
            ("scoring kernel", ["bench_scoring.py", "--kernel", "10000", "100000", "1000000"]),
            ("scoring stage from the store", ["bench_scoring.py", "10000", "100000"]),
            ("one cycle: CPU per stage", ["bench_cycle.py", "--accounts", "10000"]),
            ("API-call efficiency and peak RSS", ["bench_api_calls.py", "--large"]),
            ("side by side", ["bench_side_by_side.py", "--accounts", "10000", "--sample", "150"]),
            ("throughput under rate limits", ["bench_rate_limits.py", "--large"]),
        ]
    return [
        ("scoring kernel", ["bench_scoring.py", "--kernel", "10000", "100000"]),
        ("scoring stage from the store", ["bench_scoring.py", "10000"]),
        ("API-call efficiency and peak RSS", ["bench_api_calls.py"]),
        ("side by side", ["bench_side_by_side.py", "--accounts", "5000", "--sample", "100"]),
        ("throughput under rate limits", ["bench_rate_limits.py"]),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large", action="store_true", help="add the 100k / 1M sizes")
    args = ap.parse_args()
    failed = []
    started = time.perf_counter()
    for title, command in plan(args.large):
        print(f"\n=== {title}: python bench/{' '.join(command)}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / command[0]), *command[1:]], cwd=HERE.parent)
        print(f"--- {title}: {time.perf_counter() - t0:.0f} s" + (f", FAILED (exit {code})" if code else ""),
              flush=True)
        if code:
            failed.append(title)
    print(f"\nall benchmarks: {time.perf_counter() - started:.0f} s" + (f"; failed: {failed}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
