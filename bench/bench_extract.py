"""Stripe extraction: the connector's Stripe source against the real tap-stripe, on the same sandbox data.

    .venv/bin/python bench/bench_extract.py --accounts 10000
    .venv/bin/python bench/bench_extract.py --accounts 5000 --tap-venv /tmp/tap-stripe-venv

tap-stripe (singer-io, unmodified) is installed by this script into a throwaway virtualenv under /tmp
(``--tap-venv``; never into the project's environment) and pointed at the sandbox by a wrapper
(:mod:`tap_stripe_run`) that routes ``https://api.stripe.com`` to the emulator and trusts its CA — the
tap's code and its stripe-python are untouched.  Both read the same streams from the same sandbox:
customers, subscriptions and invoices (tap-stripe: no sub-streams selected, ``start_date`` = the oldest
object's creation day, its default 30-day windows and its event-update pass; the connector: its first full
read, which also keeps each customer's default card, expanded inline).  Timed end to end: the tap as a
process (sync mode, catalog prepared beforehand, records to /dev/null), the connector's
``StripeSource.pull`` until its last observation (replica writes into a fresh SQLite store included).
Calls come from the sandbox ledger.  Target: ≤ 0.5× tap-stripe's time, ≤ its calls.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import ROOT, UNTHROTTLED, Sandbox, quiet_logs

TAP_VERSION = "3.3.0"
STREAMS = ("customers", "subscriptions", "invoices")


def ensure_tap(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not (venv / f".tap-stripe-{TAP_VERSION}").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"tap-stripe=={TAP_VERSION}"], check=True)
        (venv / f".tap-stripe-{TAP_VERSION}").touch()
    return python


def connector_pull(sandbox: Sandbox) -> dict[str, Any]:
    from connector.runtime import http_layer
    from connector.sources.base import SourceContext
    from connector.sources.stripe import StripeSource
    from connector.store import Store

    config = sandbox.config()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/state.db")
        ctx = SourceContext(store=store, http=http_layer(config), config=config, now=sandbox.now(), full=True)
        sandbox.command("reset")
        started = time.perf_counter()
        items = sum(1 for _ in StripeSource(config).pull(ctx))
        seconds = time.perf_counter() - started
        store.close()
    return {"seconds": seconds, "items": items, "calls": _calls(sandbox)}


def tap_pull(sandbox: Sandbox, python: Path, workdir: Path) -> dict[str, Any]:
    from connector.secrets import resolve

    config = sandbox.config()
    oldest = sandbox.command("stripe_oldest")["created"]
    tap_config = {"client_secret": resolve(config.stripe.secret_ref("api_key"), key="stripe.api_key"),
                  "account_id": "acct_sandbox",
                  "start_date": datetime.fromtimestamp(oldest, UTC).strftime("%Y-%m-%dT00:00:00Z")}
    (workdir / "config.json").write_text(json.dumps(tap_config), encoding="utf-8")
    env = {**os.environ, "SANDBOX_STRIPE_URL": config.stripe.base_url, "SANDBOX_CA": str(config.stripe.ca_bundle)}
    wrapper = [str(python), str(ROOT / "bench" / "tap_stripe_run.py"), "--config", str(workdir / "config.json")]
    catalog = json.loads(subprocess.run([*wrapper, "--discover"], check=True, capture_output=True, text=True,
                                        env=env).stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in STREAMS
    (workdir / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
    sandbox.command("reset")
    started = time.perf_counter()
    with open(os.devnull, "w", encoding="utf-8") as sink:
        subprocess.run([*wrapper, "--catalog", str(workdir / "catalog.json")], check=True, stdout=sink,
                       stderr=subprocess.DEVNULL, env=env)
    return {"seconds": time.perf_counter() - started, "calls": _calls(sandbox)}


def _calls(sandbox: Sandbox) -> dict[str, int]:
    calls: dict[str, int] = {}
    for row in sandbox.ledger():
        if row["system"] == "stripe":
            key = f"{row['method']} {row['endpoint']}"
            calls[key] = calls.get(key, 0) + row["calls"]
    return calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--tap-venv", default="/tmp/tap-stripe-venv", help="throwaway virtualenv for tap-stripe")
    args = ap.parse_args()
    quiet_logs()
    python = ensure_tap(Path(args.tap_venv))
    with Sandbox(args.accounts, limits=UNTHROTTLED, unthrottled_config=True) as sandbox, \
            tempfile.TemporaryDirectory() as tmp:
        ours = connector_pull(sandbox)
        tap = tap_pull(sandbox, python, Path(tmp))
    print(f"{args.accounts:,} accounts, Stripe sandbox, no latency, rate limits off; one run each (machine shared)")
    for name, r in (("connector", ours), (f"tap-stripe {TAP_VERSION}", tap)):
        total = sum(r["calls"].values())
        detail = ", ".join(f"{k} ×{v}" for k, v in sorted(r["calls"].items()))
        print(f"  {name:<17} {r['seconds']:>7.1f} s  {total:>5} calls  ({detail})")
    ours_calls, tap_calls = sum(ours["calls"].values()), sum(tap["calls"].values())
    share = ours["seconds"] / tap["seconds"]
    print(f"  → connector/tap-stripe: time {share:.2f}×, calls {ours_calls / tap_calls:.2f}× (targets ≤ 0.5×, ≤ 1×)")


if __name__ == "__main__":
    main()
