"""Benchmark: the FIRST unchanged re-sync after a first sync, at several times of day (issue 16).

    .venv/bin/python bench/bench_resync.py --accounts 10000 --times 00:30 12:00 23:50

Each case: a fresh sandbox world (real clients over HTTPS), setup, a full first sync with the sandbox clock
at that time of day, then a re-sync 3 minutes later.  Prints the write calls the sandbox's own ledger saw
during the re-sync (the target is 0) and the fields written.  Same procedure as
``tests/integration/test_resync_time_of_day.py`` (1,000 accounts), from :mod:`connector.sandbox.resync_check`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.sandbox.resync_check import at_time_of_day, first_resync


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10000)
    parser.add_argument("--times", nargs="+", default=["00:30", "12:00", "23:50"])
    args = parser.parse_args()
    worst = 0
    print(f"{'time':>6} {'accounts':>9} {'first sync fields':>18} {'re-sync write calls':>20} "
          f"{'re-sync fields':>15} {'seconds':>8}")
    for text in args.times:
        hour, minute = (int(x) for x in text.split(":"))
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="bench-resync-") as tmp:
            out = first_resync(Path(tmp), args.accounts, at_time_of_day(hour, minute))
        calls = sum(len(v) for v in out.resync_write_calls.values())
        worst = max(worst, calls)
        print(f"{text:>6} {args.accounts:>9,} {sum(out.first_fields.values()):>18,} {calls:>20} "
              f"{sum(out.resync_fields.values()):>15} {time.monotonic() - started:>8.0f}"
              + ("" if out.resync_status == "ok" and out.first_status == "ok" else f"  errors: {out.errors}"))
        for name, writes in out.resync_write_calls.items():
            if writes:
                print(f"       {name}: {writes[:5]}")
    return 0 if worst == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
