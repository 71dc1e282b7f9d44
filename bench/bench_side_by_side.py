"""Side by side: the connector's write stage against the best fair per-record writer, and the naive one.

    .venv/bin/python bench/bench_side_by_side.py                          # 10k accounts
    .venv/bin/python bench/bench_side_by_side.py --accounts 5000 --sample 400

One sandbox (own process), rate limits off (with them the per-record writers would be slower still: one by
one, HubSpot's 100 per 10 s alone is 10 minutes for 6k companies).  The same latency model applies to every
call of both sides on Salesforce, HubSpot and Zendesk: 50–150 ms per call **plus 1 ms per KiB of request
body and per KiB of response body** (~1 MB/s, standing for transfer and the server's per-record work, so a
1,000-record batch costs more than a 1-record call).  Salesforce Bulk 2.0 jobs take 2 s in the queue and
10 s per 10,000 records before they complete (assumed; see ``common.UNTHROTTLED``).

The sync's pull and scoring run first without latency; then, with latency on, the connector's *write stage*
(``SyncRunner.write``: all three sinks, first write of every field and task, every read they make) is timed
end to end and its calls read from the ledger.  Then the per-record writers send exactly the values the
connector wrote, one ``update`` per record, with the real client libraries through the same HTTP layer
(simple-salesforce ``sf.Account.update``, hubspot-api-client ``basic_api.update``, zenpy
``organizations.update``):

* **fair** — 8 concurrent workers (what a competent hand-written integration does), measured on
  ``--sample`` records per system; reported both with the three systems one after another and side by
  side (the slowest system's time: the connector's sinks run side by side, so that is the like-for-like);
* **naive** — one worker, measured on ``--sample ÷ 4`` records per system.

Each is extrapolated as records ÷ (records per second on the sample); Salesforce tasks (one upsert each) are
counted at the Account-update rate.  Targets: ≥ 10× fewer calls and ≥ 5× faster than the fair baseline.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common import UNTHROTTLED, Sandbox, quiet_logs

LATENCY = {"latency_ms": (50.0, 150.0), "latency_per_kb_ms": 1.0}
SINK_SYSTEMS = ("salesforce", "hubspot", "zendesk")
WORKERS = 8


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
        sandbox.command("faults", system=system, settings=LATENCY)
    sandbox.command("reset")
    started = time.perf_counter()
    runner.write(now, outputs, tasks, False, result)
    seconds = time.perf_counter() - started
    store.finish_run(result.run_id, "ok", result.as_json())
    rows = sandbox.ledger()
    calls = {s: sum(r["calls"] for r in rows if r["system"] == s) for s in SINK_SYSTEMS}
    sinks = result.as_json()["sinks"]
    store.close()
    per_sink = {st.system: round(st.seconds, 1) for st in runner.observer.stages if st.kind == "write"}
    return {"seconds": seconds, "per_sink": per_sink, "calls": calls, "errors": result.sink_errors,
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


def _writers(config: Any) -> dict[str, tuple[str, Callable[[str, dict[str, Any]], Any]]]:
    """Per system: the object and a one-record update with the real client library."""
    from hubspot.crm.companies import SimplePublicObjectInput
    from zenpy.lib.api_objects import Organization

    from connector.clients.hubspot import HubSpotClient
    from connector.clients.salesforce import SalesforceClient
    from connector.clients.zendesk import build_client
    from connector.mappings import load_mapping
    from connector.runtime import http_layer
    from connector.sinks.zendesk import _encode

    http = http_layer(config)
    sf = SalesforceClient(config.salesforce, http)
    hs = HubSpotClient(config.hubspot, http)
    zd = build_client(config, http)
    zd_fields = {fm.name: fm for fm in load_mapping(config.resolve(config.zendesk.mapping)).fields.values()}
    return {
        "salesforce": ("Account", lambda rid, v: sf.call(lambda s: s.Account.update(rid, v))),  # type: ignore[operator]
        "hubspot": ("companies", lambda rid, v: hs.call(
            "update company", hs.crm.companies.basic_api.update, rid,
            SimplePublicObjectInput(properties={k: "" if x is None else str(x) for k, x in v.items()}))),
        "zendesk": ("organization", lambda rid, v: zd.zenpy.organizations.update(
            Organization(id=int(rid), organization_fields={k: _encode(zd_fields[k], x) for k, x in v.items()}))),
    }


def per_record_rate(config: Any, sample: int, workers: int) -> dict[str, float]:
    """Records per second of a one-call-per-record writer with ``workers`` threads, per system."""
    rates: dict[str, float] = {}
    for system, (obj, update) in _writers(config).items():
        records = list(_written(config, system, obj).items())[:sample]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(update, [r for r, _ in records], [v for _, v in records]))
        rates[system] = len(records) / (time.perf_counter() - started)
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=400, help="per-record updates measured per system (fair)")
    args = ap.parse_args()
    quiet_logs()
    with Sandbox(args.accounts, limits=UNTHROTTLED, unthrottled_config=True) as sandbox:
        config = sandbox.config()
        from connector.runtime import run_setup

        run_setup(config, dry_run=False)
        ours = connector_write(sandbox, config)
        fair = per_record_rate(config, args.sample, WORKERS)
        naive = per_record_rate(config, max(10, args.sample // 4), 1)
    print(f"{args.accounts:,} accounts, latency 50–150 ms + 1 ms/KiB of request and response body on every call; "
          f"Bulk 2.0 2 s queue + 10 s per 10k records; fair = {WORKERS} workers on {args.sample} records per system, "
          f"naive = 1 worker on {max(10, args.sample // 4)}; both extrapolated")
    if ours["errors"]:
        print(f"  connector sink errors: {ours['errors']}")
    print(f"  {'system':<11} {'records':>8} {'conn calls':>10} {'per-record calls':>16} {'fair rec/s':>10} "
          f"{'fair s':>8} {'naive rec/s':>11} {'naive s':>8}")
    totals = {"records": 0, "fair": 0.0, "naive": 0.0, "fair_parallel": 0.0}
    for system in SINK_SYSTEMS:
        records = ours["records"][system] + (ours["tasks"] if system == "salesforce" else 0)
        fair_s, naive_s = records / fair[system], records / naive[system]
        totals["records"] += records
        totals["fair"] += fair_s
        totals["naive"] += naive_s
        totals["fair_parallel"] = max(totals["fair_parallel"], fair_s)
        print(f"  {system:<11} {records:>8,} {ours['calls'][system]:>10,} {records:>16,} {fair[system]:>10.1f} "
              f"{fair_s:>8.0f} {naive[system]:>11.1f} {naive_s:>8.0f}")
    calls = sum(ours["calls"].values())
    print(f"  connector: {calls:,} calls, write stage {ours['seconds']:.1f} s (measured end to end, all sinks; "
          f"per sink, side by side: {', '.join(f'{k} {v} s' for k, v in ours['per_sink'].items())})")
    print(f"  fair baseline: {totals['records']:,.0f} calls, ~{totals['fair']:,.0f} s; "
          f"naive: {totals['records']:,.0f} calls, ~{totals['naive']:,.0f} s (extrapolated, systems one after another)")
    seconds = ours["seconds"]
    print(f"  fair baseline with the three systems side by side too ({WORKERS} workers each, as the connector's "
          f"sinks run): ~{totals['fair_parallel']:,.0f} s (the slowest system)")
    print(f"  → {totals['records'] / calls:.1f}× fewer calls; {totals['fair_parallel'] / seconds:.1f}× faster than the "
          f"fair baseline side by side, {totals['fair'] / seconds:.1f}× than it one system after another, "
          f"{totals['naive'] / seconds:.1f}× than the naive one (targets ≥ 10×, ≥ 5× fair)")


if __name__ == "__main__":
    main()
