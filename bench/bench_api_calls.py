"""API-call efficiency: every call the sandbox ledger saw against a minimum computed from the world.

    .venv/bin/python bench/bench_api_calls.py                 # 1k and 5k accounts (make bench)
    .venv/bin/python bench/bench_api_calls.py --sizes 10000   # the issue's 10k figures
    .venv/bin/python bench/bench_api_calls.py --large         # 1k, 10k and 100k
    .venv/bin/python bench/bench_api_calls.py --sizes 2000 --verbose

For each size, against a fresh sandbox (its own process, rate limits off — they change waits, not counts):
``connector setup``, then three syncs — the full first sync, an unchanged re-sync, and a sync after 1 % of
the accounts had a payment fail in the Stripe backend (which changes their scores and so their outputs).
Each sync runs in a fresh child process (:mod:`sync_child`), so its peak RSS is printed too.

The minimum (:mod:`minimum`) comes from the sandbox, never from what the connector sent: records to read
per stream (all on the first sync, those changed since the previous sync afterwards) ÷ the endpoint's
largest page, records that changed in the sandbox during the sync ÷ the write endpoint's true maximum
(Salesforce 1,000 per Composite call or one Bulk 2.0 job per object, HubSpot 100, Zendesk 100), and a
stated allowance for token / limits / describe.  Every ledger call counts.
Targets: all calls ≤ 1.05 × minimum (overall and Salesforce alone); write calls = minimum on 1 % changed.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import minimum as mn
from common import growth, next_phase, quiet_logs, ready_sandbox, sync_in_child

PHASES = ("full", "unchanged", "1% changed")


def run_size(n: int, verbose: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"accounts": n, "phases": {}}
    with ready_sandbox(n) as sandbox:
        for phase in PHASES:
            changed = next_phase(sandbox, phase == "1% changed")
            # Read: what changed since the previous sync *began* (its sources read then, so the echo of its
            # own writes is new to them); written: what changed during this sync.
            read = sandbox.command("world", since=None if phase == "full" else "start")["streams"]
            sandbox.command("snapshot", name="start")
            result = sync_in_child(sandbox)
            written = sandbox.command("world", since="start")["streams"]
            lines = mn.compute(sandbox.ledger(), read, written, first=phase == "full")
            out["phases"][phase] = _summary(lines, result, changed.get("changed"))
            _print_phase(n, phase, out["phases"][phase], lines, verbose)
    return out


def _summary(lines: list[mn.Line], result: dict[str, Any], changed: int | None) -> dict[str, Any]:
    systems = mn.by_system(lines)
    write = mn.writes(lines)
    calls, minimum = sum(c for c, _ in systems.values()), sum(m for _, m in systems.values())
    return {"seconds": result["seconds"], "status": result["status"], "changed_accounts": changed,
            "errors": result["errors"], "peak_mb": result["peak_mb"], "import_mb": result["import_mb"],
            "records_updated": result["records_updated"], "total_calls": calls, "minimum": minimum,
            "systems": {s: {"calls": c, "minimum": m, "write_calls": write.get(s, (0, 0))[0],
                            "write_minimum": write.get(s, (0, 0))[1]} for s, (c, m) in sorted(systems.items())},
            "lines": [{"system": x.work.system, "work": x.work.name, "calls": x.calls, "minimum": x.minimum,
                       "records": x.records, "endpoints": x.endpoints} for x in lines]}


def _print_phase(n: int, phase: str, s: dict[str, Any], lines: list[mn.Line], verbose: bool) -> None:
    extra = f", {s['changed_accounts']} accounts changed at the source" if s["changed_accounts"] else ""
    print(f"\n{n:,} accounts — {phase} sync: {s['seconds']:.1f} s, status {s['status']}{extra}; "
          f"records updated {s['records_updated']}; peak RSS {s['peak_mb']:.0f} MB "
          f"(after imports {s['import_mb']:.0f} MB)" + (f"; errors {s['errors']}" if s["errors"] else ""))
    print(f"  all calls {s['total_calls']} / minimum {s['minimum']} = {mn.ratio(s['total_calls'], s['minimum'])}")
    for system, v in s["systems"].items():
        share = mn.ratio(v["calls"], v["minimum"])
        print(f"    {system:<11} calls {v['calls']:>6} / min {v['minimum']:>6} = {share:>6}"
              f"   write calls {v['write_calls']:>5} / min {v['write_minimum']:>5}")
    if verbose or phase != "unchanged":
        print("  per kind of work (records the world says must be read or written → minimum):")
        mn.print_lines(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large", action="store_true", help="1k, 10k and 100k accounts (100k: hours, see docs)")
    ap.add_argument("--sizes", type=int, nargs="*", help="explicit sizes instead of 1k/5k")
    ap.add_argument("--verbose", action="store_true", help="per-work table for every phase")
    ap.add_argument("--json", help="also write all figures to this file")
    args = ap.parse_args()
    quiet_logs()
    sizes = args.sizes or ([1_000, 10_000, 100_000] if args.large else [1_000, 5_000])
    results = [run_size(n, args.verbose) for n in sizes]
    print()
    for phase in PHASES:
        print(growth(f"{phase} sync calls", sizes, [r["phases"][phase]["total_calls"] or 0.0 for r in results]))
    print(growth("full sync seconds", sizes, [r["phases"]["full"]["seconds"] for r in results]))
    print(growth("full sync peak RSS above imports (MB)", sizes,
                 [r["phases"]["full"]["peak_mb"] - r["phases"]["full"]["import_mb"] for r in results]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
