"""One daemon cycle with the real pipeline: first sync, echo re-sync, unchanged re-sync, 1 %-changed re-sync.

    .venv/bin/python bench/bench_cycle.py --accounts 10000 [--accounts 100000]

Every source, resolve, score and every sink against the sandbox emulators, which run in a second process
(:mod:`sandbox_proc`) with their rate limits off; each sync runs in a fresh process (:mod:`sync_child`) so
its figures are the connector's alone: **process CPU seconds** (in all, and per stage: the machine is
shared, so wall clock is not the connector's), wall seconds, peak RSS, and calls per system.
"Beyond the calls" is the run's CPU less that of the stages that make API calls (pull, read-back and
write spend theirs on requests and responses): resolve, score, the settled-cycle check and the run's
own bookkeeping.  A *settled* sync (nothing changed since the last complete cycle the same day, see
``connector/settled.py``) skips score and write.  The 1 % change fails a payment for 1 % of the Stripe
customers (``mutate``), which moves their accounts' scores and makes the connector write them.
Targets (issue 18): unchanged re-sync ≤ 2 s beyond the calls at 10k, ≤ 10 s at 100k; 1 % changed ≤ 15 s at 100k.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import next_phase, quiet_logs, ready_sandbox, sync_in_child

PHASES = ("first sync", "echo re-sync", "unchanged re-sync", "1% changed re-sync")


def run_size(n: int) -> list[dict[str, Any]]:
    rows = []
    with ready_sandbox(n) as sandbox:
        for phase in PHASES:
            changed = next_phase(sandbox, phase.startswith("1%"))
            r = sync_in_child(sandbox)
            beyond = r["cpu_s"] - sum(r["stage_cpu"].get(k, 0.0) for k in ("pull", "read_back", "write"))
            row = {"accounts": n, "phase": phase, "changed": changed.get("changed"), "beyond_calls_cpu_s": beyond,
                   **r}
            rows.append(row)
            stages = "  ".join(f"{k} {v:.2f}" for k, v in r["stage_cpu"].items())
            settled = f"settled (run {r['settled']['run_id']})" if r.get("settled") else f"scored {r['scored']}"
            print(f"{n:>8,} {phase:<19} cpu {r['cpu_s']:7.2f} s (beyond the calls {beyond:6.2f}; {stages})  {settled}  "
                  f"wall {r['seconds']:7.1f} s  peak RSS {r['peak_mb']:6.0f} MB  {r['status']}  "
                  f"records updated {r['records_updated']}  calls {r['calls']}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, action="append", help="size (repeatable); default 10000")
    ap.add_argument("--json", type=Path, help="also write every row as JSON here")
    args = ap.parse_args()
    quiet_logs()
    rows = [row for n in (args.accounts or [10_000]) for row in run_size(n)]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
