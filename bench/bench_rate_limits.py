"""Throughput under rate limits: HubSpot's per-10-second and Zendesk's per-minute limits, enforced.

    .venv/bin/python bench/bench_rate_limits.py               # 5k accounts
    .venv/bin/python bench/bench_rate_limits.py --large       # 10k and 100k
    .venv/bin/python bench/bench_rate_limits.py --real-windows --sizes 5000

The sandbox enforces HubSpot's 100 requests / 10 s (Free/Starter) and Zendesk's 200 requests / minute (Team,
the lowest plan); the connector's HTTP layer is given the same limits, so its own limiter paces the calls.
By default both windows are scaled down 10× *at the same average rate* (10 per 1 s, 20 per 6 s): a 5k-account
write then spans many windows, so the figure is the sustained rate, not the first window's burst
(``--real-windows`` uses 10 s / 60 s).  Only what those two sinks need is pulled (Salesforce accounts,
HubSpot companies, Zendesk organizations and tickets; Zendesk's separate 10 exports/min is lifted).  Then
each sink's first full write is timed alone, from an empty window, with no sandbox latency:

* call rate achieved against the limit (utilisation), and the 429s the sandbox answered;
* records/s achieved against the ceiling the limit allows = limit × records per call at the minimum number
  of calls the write needs (HubSpot: one batch read for drift + one batch update per 100 companies;
  Zendesk: one ``update_many`` + one status poll per 100 organizations, plus the ticket re-tag jobs).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from common import Sandbox, quiet_logs

LIMITS = {"hubspot": (100, 10.0), "zendesk": (200, 60.0)}
SOURCES = ["salesforce", "hubspot", "zendesk"]


def run_size(n: int, scale: float) -> dict[str, Any]:
    from connector.http import RetryPolicy
    from connector.runtime import http_layer, open_store, run_setup
    from connector.sync import SyncResult, SyncRunner

    windows = {name: (max(1, round(limit / scale)), window / scale) for name, (limit, window) in LIMITS.items()}

    limits: dict[str, dict[str, Any]] = {
        "zendesk": {"export_requests_per_minute": None, "requests_per_minute": windows["zendesk"][0],
                    "rate_window_seconds": windows["zendesk"][1]},
        "hubspot": {"requests_per_10s": windows["hubspot"][0], "window_seconds": windows["hubspot"][1]},
        "stripe": {"requests_per_second": None},
        "techlookup": {"requests_per_second": None}, "salesforce": {"daily_api_limit": 10**9}}
    out: dict[str, Any] = {"accounts": n}
    with Sandbox(n, limits=limits) as sandbox:
        config = sandbox.config()
        run_setup(config, dry_run=False)
        store = open_store(config)
        now = sandbox.now()
        http = http_layer(config)
        for name, (limit, window) in windows.items():
            http.configure(name, limit=limit, window=window, policy=RetryPolicy(max_retries=6))
        runner = SyncRunner(config, store, http=http, now=lambda: now)
        result = SyncResult(run_id=store.start_run("bench"))
        runner.pull(now, False, result, SOURCES)
        runner.resolve(result)
        outputs, _ = runner.score(now, result, persist=True)
        sinks = {s.name: s for s in runner.sinks}
        for name in ("hubspot", "zendesk"):
            time.sleep(windows[name][1])  # start each with an empty window: the pull used some of it
            sandbox.command("reset")
            runner.sinks = [sinks[name]]
            started = time.perf_counter()
            runner.write(now, outputs, [], False, result)
            seconds = time.perf_counter() - started
            rows = [r for r in sandbox.ledger() if r["system"] == name]
            report = result.sinks.get(name, {})
            records = report.get("records_updated", 0)
            calls = sum(r["calls"] for r in rows)
            refused = sum(r["calls"] for r in rows if r["status"] == 429)
            moved = sum(r["records"] for r in rows if r["method"] == "PUT" and r["status"] < 400)
            min_calls = _min_calls(name, rows)
            limit, window = LIMITS[name]
            rate = limit / window
            out[name] = {"records": records, "seconds": seconds, "calls": calls, "429": refused,
                         "call_rate": calls / seconds, "limit_rate": rate,
                         "records_per_s": records / seconds,
                         "ceiling_records_per_s": rate * records / max(1, min_calls),
                         "moved": moved, "min_calls": min_calls}
        store.finish_run(result.run_id, "ok", result.as_json())
        store.close()
    return out


def _min_calls(system: str, rows: list[dict[str, Any]]) -> int:
    """Minimum calls for the write the sink just did (see module docstring)."""
    ok = [r for r in rows if r["status"] < 400]
    if system == "hubspot":
        return sum(-(-r["records"] // 100) for r in ok if r["endpoint"].endswith(("batch/read", "batch/update")))
    jobs = sum(r["calls"] for r in ok if r["endpoint"].endswith("update_many.json"))
    return 2 * jobs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large", action="store_true", help="10,000 and 100,000 accounts instead of 5,000")
    ap.add_argument("--sizes", type=int, nargs="*")
    ap.add_argument("--real-windows", action="store_true", help="10 s / 60 s windows instead of scaled ones")
    args = ap.parse_args()
    quiet_logs()
    sizes = args.sizes or ([10_000, 100_000] if args.large else [5_000])
    print("windows: " + ("real (10 s, 60 s)" if args.real_windows else "scaled 10× down at the same rate"))
    print(f"{'accounts':>9} {'system':<8} {'records':>8} {'seconds':>8} {'calls':>6} {'429s':>5} "
          f"{'calls/s':>8} {'limit/s':>8} {'util':>5} {'records/s':>10} {'ceiling/s':>10} {'of ceiling':>10}")
    for n in sizes:
        r = run_size(n, 1.0 if args.real_windows else 10.0)
        for name in ("hubspot", "zendesk"):
            s = r[name]
            print(f"{n:>9,} {name:<8} {s['records']:>8,} {s['seconds']:>8.1f} {s['calls']:>6} {s['429']:>5} "
                  f"{s['call_rate']:>8.2f} {s['limit_rate']:>8.2f} {s['call_rate'] / s['limit_rate']:>5.0%} "
                  f"{s['records_per_s']:>10.1f} {s['ceiling_records_per_s']:>10.1f} "
                  f"{s['records_per_s'] / s['ceiling_records_per_s']:>10.0%}", flush=True)


if __name__ == "__main__":
    main()
