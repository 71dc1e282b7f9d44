"""API-call efficiency: calls per system and endpoint from the sandbox ledger against the theoretical minimum.

    .venv/bin/python bench/bench_api_calls.py                 # 1k and 5k accounts (make bench)
    .venv/bin/python bench/bench_api_calls.py --large         # 1k, 10k and 100k
    .venv/bin/python bench/bench_api_calls.py --sizes 2000 --verbose

For each size, against a fresh sandbox (its own process, rate limits off — they change waits, not counts):
``connector setup``, then three syncs — the full first sync, an unchanged re-sync, and a sync after 1 % of
the accounts had a payment fail in the Stripe backend (which changes their scores and so their outputs).
Each sync runs in a fresh child process (:mod:`sync_child`), so its peak RSS is printed too.
Minimum per endpoint = ceil(records / max batch or page); ratio = calls / minimum over the endpoints whose
records the ledger reports (job-status polls and SOQL/list reads are shown but not in the ratio).
Target: ratio ≤ 1.05, and 0 write calls on the unchanged re-sync.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from common import Sandbox, Tally, fmt_ratio, growth, print_ledger, quiet_logs, sync_in_child

PHASES = ("full", "unchanged", "1% changed")


def run_size(n: int, verbose: bool) -> dict[str, Any]:
    from connector.runtime import run_setup

    out: dict[str, Any] = {"accounts": n, "phases": {}}
    with Sandbox(n, limits=_limits(), unthrottled_config=True) as sandbox:
        config = sandbox.config()
        setup = run_setup(config, dry_run=False)
        if setup["errors"]:
            raise SystemExit(f"setup failed: {setup['errors']}")
        for phase in PHASES:
            sandbox.command("reset")
            changed = sandbox.command("mutate", share=0.01) if phase == "1% changed" else sandbox.command("tick")
            result = sync_in_child(sandbox)
            tally = sandbox.tally()
            out["phases"][phase] = _summary(tally, result, changed.get("changed"))
            _print_phase(n, phase, out["phases"][phase], tally, verbose)
    return out


def _limits() -> dict[str, dict[str, Any]]:
    from common import UNTHROTTLED

    return UNTHROTTLED


def _summary(tally: Tally, result: dict[str, Any], changed: int | None) -> dict[str, Any]:
    systems: dict[str, Any] = {}
    for system in sorted({r["system"] for r in tally.rows}):
        calls, minimum = tally.ratio(systems=(system,))
        wcalls, wmin = tally.ratio(systems=(system,), writes_only=True)
        systems[system] = {"calls": sum(r["calls"] for r in tally.rows if r["system"] == system),
                           "counted": calls, "minimum": minimum, "write_calls": wcalls, "write_minimum": wmin}
    calls, minimum = tally.ratio()
    wcalls, wmin = tally.ratio(writes_only=True)
    return {"seconds": result["seconds"], "status": result["status"], "changed_accounts": changed,
            "errors": result["errors"], "peak_mb": result["peak_mb"], "import_mb": result["import_mb"],
            "records_updated": result["records_updated"],
            "total_calls": tally.calls(), "write_calls_all": tally.calls(writes_only=True),
            "counted": calls, "minimum": minimum, "write_calls": wcalls, "write_minimum": wmin, "systems": systems,
            "rows": tally.annotate()}


def _print_phase(n: int, phase: str, s: dict[str, Any], tally: Tally, verbose: bool) -> None:
    extra = f", {s['changed_accounts']} accounts changed at the source" if s["changed_accounts"] else ""
    print(f"\n{n:,} accounts — {phase} sync: {s['seconds']:.1f} s, status {s['status']}{extra}; "
          f"records updated {s['records_updated']}; peak RSS {s['peak_mb']:.0f} MB "
          f"(after imports {s['import_mb']:.0f} MB)" + (f"; errors {s['errors']}" if s["errors"] else ""))
    print(f"  all calls {s['total_calls']}, write calls {s['write_calls_all']}; ratio over counted endpoints "
          f"{fmt_ratio(s['counted'], s['minimum'])} ({s['counted']}/{s['minimum']}), writes "
          f"{fmt_ratio(s['write_calls'], s['write_minimum'])} ({s['write_calls']}/{s['write_minimum']})")
    for system, v in s["systems"].items():
        print(f"    {system:<11} calls {v['calls']:>6}  counted {v['counted']:>6} / min {v['minimum']:>6} = "
              f"{fmt_ratio(v['counted'], v['minimum']):>6}   writes {v['write_calls']:>5} / {v['write_minimum']:>5}")
    if verbose or phase == "full":
        print_ledger("per endpoint (n/r = the emulator does not report records for this endpoint):", tally)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large", action="store_true", help="1k, 10k and 100k accounts (100k: hours, see docs)")
    ap.add_argument("--sizes", type=int, nargs="*", help="explicit sizes instead of 1k/5k")
    ap.add_argument("--verbose", action="store_true", help="per-endpoint table for every phase")
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
