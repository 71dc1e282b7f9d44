"""Side by side: the connector's batched write against a hand-written one-call-per-record integration.

    .venv/bin/python bench/bench_side_by_side.py                  # 10k accounts, 150-record naive sample
    .venv/bin/python bench/bench_side_by_side.py --accounts 2000 --sample 300

One sandbox (own process), sandbox latency 50–150 ms on Salesforce, HubSpot and Zendesk, rate limits off
(they would only widen the gap: one-by-one, HubSpot's 100 per 10 s alone is 10 minutes for 6k companies).
The sync's pull and scoring run first without latency; then, with latency on, the connector's *write stage*
(``SyncRunner.write``: all three sinks, first write of every field) is timed and its calls read from the
ledger.  The naive writer then sends, with the real client libraries through the same HTTP layer, exactly
the values the connector wrote, one ``update`` per record (simple-salesforce ``sf.Account.update``,
hubspot-api-client ``basic_api.update``, zenpy ``organizations.update``) — on a *sample* of records per
system, because 10k+ records × ~100 ms one by one is longer than this benchmark's budget.  Its full time is
extrapolated as (mean seconds per call on the sample) × (records the connector wrote); Salesforce tasks
(one ``Task.create`` each in a naive integration) are counted as calls at the Account-update rate.
Targets: ≥ 10× fewer calls, ≥ 5× faster.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from common import UNTHROTTLED, Sandbox, quiet_logs, spread

LATENCY = (50.0, 150.0)
SINK_SYSTEMS = ("salesforce", "hubspot", "zendesk")


def connector_write(sandbox: Sandbox, config: Any) -> dict[str, Any]:
    from connector.runtime import http_layer, open_store
    from connector.sync import SyncResult, SyncRunner

    store = open_store(config)
    now = sandbox.now()
    runner = SyncRunner(config, store, http=http_layer(config), now=lambda: now)
    result = SyncResult(run_id=store.start_run("bench"))
    runner.pull(now, False, result)
    runner.resolve(result)
    outputs, tasks = runner.score(now, result, persist=True)
    for system in SINK_SYSTEMS:
        sandbox.command("faults", system=system, settings={"latency_ms": LATENCY})
    sandbox.command("reset")
    started = time.perf_counter()
    runner.write(now, outputs, tasks, False, result)
    seconds = time.perf_counter() - started
    store.finish_run(result.run_id, "ok", result.as_json())
    rows = sandbox.tally().rows
    calls = {s: sum(r["calls"] for r in rows if r["system"] == s) for s in SINK_SYSTEMS}
    sinks = result.as_json()["sinks"]
    store.close()
    return {"seconds": seconds, "calls": calls, "errors": result.sink_errors,
            "records": {s: sinks.get(s, {}).get("records_updated", 0) for s in SINK_SYSTEMS},
            "tasks": sinks.get("salesforce", {}).get("tasks_created", 0)}


def _written(config: Any, system: str, obj: str) -> dict[str, dict[str, Any]]:
    from connector.runtime import open_store

    store = open_store(config)
    try:
        records: dict[str, dict[str, Any]] = {}
        for (record_id, field), value in store.written_values(system, obj).items():
            records.setdefault(record_id, {})[field] = _decode(value)
        return records
    finally:
        store.close()


def _decode(value: str | None) -> Any:
    """The store keeps strings as is and other values as JSON (``encode_value``)."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def naive_sample(config: Any, sample: int) -> dict[str, list[float]]:
    """Seconds per one-record update, per system, with the real client libraries."""
    from hubspot.crm.companies import SimplePublicObjectInput
    from zenpy.lib.api_objects import Organization

    from connector.clients.hubspot import HubSpotClient
    from connector.clients.salesforce import SalesforceClient
    from connector.clients.zendesk import build_client
    from connector.mappings import load_mapping
    from connector.runtime import http_layer
    from connector.sinks.zendesk import _encode

    http = http_layer(config)
    timings: dict[str, list[float]] = {}
    sf = SalesforceClient(config.salesforce, http)
    hs = HubSpotClient(config.hubspot, http)
    zd = build_client(config, http)
    zd_fields = {fm.name: fm for fm in load_mapping(config.resolve(config.zendesk.mapping)).fields.values()}
    writers = {
        "salesforce": ("Account", lambda rid, v: sf.call(lambda s: s.Account.update(rid, v))),  # type: ignore[operator]
        "hubspot": ("companies", lambda rid, v: hs.call(
            "update company", hs.crm.companies.basic_api.update, rid,
            SimplePublicObjectInput(properties={k: "" if x is None else str(x) for k, x in v.items()}))),
        "zendesk": ("organization", lambda rid, v: zd.zenpy.organizations.update(
            Organization(id=int(rid), organization_fields={k: _encode(zd_fields[k], x) for k, x in v.items()}))),
    }
    for system, (obj, update) in writers.items():
        records = list(_written(config, system, obj).items())[:sample]
        timings[system] = []
        for record_id, values in records:
            started = time.perf_counter()
            update(record_id, values)
            timings[system].append(time.perf_counter() - started)
    return timings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=150, help="naive one-by-one updates measured per system")
    args = ap.parse_args()
    quiet_logs()
    limits = {k: dict(v) for k, v in UNTHROTTLED.items()}
    with Sandbox(args.accounts, limits=limits, unthrottled_config=True) as sandbox:
        config = sandbox.config()
        from connector.runtime import run_setup

        run_setup(config, dry_run=False)
        ours = connector_write(sandbox, config)
        naive = naive_sample(config, args.sample)
    print(f"{args.accounts:,} accounts, sandbox latency {LATENCY[0]:.0f}–{LATENCY[1]:.0f} ms per call, "
          f"first write of every field; naive sample {args.sample} records per system (extrapolated)")
    if ours["errors"]:
        print(f"  connector sink errors: {ours['errors']}")
    print(f"  {'system':<11} {'records':>8} {'conn calls':>10} {'naive calls':>11} {'calls ×':>8} "
          f"{'naive s/call (median, min–max)':>34} {'naive s (extrap.)':>17}")
    total_naive_calls = total_naive_s = 0.0
    for system in SINK_SYSTEMS:
        records = ours["records"][system] + (ours["tasks"] if system == "salesforce" else 0)
        per_call = statistics.mean(naive[system])
        naive_s = per_call * records
        total_naive_calls += records
        total_naive_s += naive_s
        calls = ours["calls"][system]
        print(f"  {system:<11} {records:>8,} {calls:>10,} {records:>11,} {records / max(1, calls):>8.1f} "
              f"{spread(naive[system]):>34} {naive_s:>17.0f}")
    total_calls = sum(ours["calls"].values())
    print(f"  total: connector {total_calls:,} calls in {ours['seconds']:.1f} s (measured, all sinks); "
          f"naive {total_naive_calls:,.0f} calls in ~{total_naive_s:,.0f} s (extrapolated from the sample)")
    print(f"  → {total_naive_calls / total_calls:.0f}× fewer calls, {total_naive_s / ours['seconds']:.1f}× faster "
          f"(targets ≥ 10×, ≥ 5×)")


if __name__ == "__main__":
    main()
