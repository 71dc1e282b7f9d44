"""The sandbox cluster in its own process, driven by one-line JSON commands on stdin.

The benchmarks run the emulators here, not in the measuring process, for two reasons: the emulators'
memory must not count in a sync's peak RSS, and on a 2-core machine the servers and the connector should not
share one interpreter lock (in-process, every emulated call would steal time from the sync being timed).

Protocol: the parent writes ``{"cmd": ..., ...}`` lines; each answer is one line ``@@<json>`` on stdout
(anything else on stdout — a library's print — is ignored by :class:`bench.common.Sandbox`).  Commands:

* ``ledger`` → calls aggregated per system, method, endpoint (ids folded to ``{id}``) and status;
* ``reset`` → empty every ledger;  ``faults`` {system, settings} → :meth:`Cluster.set_faults`;
* ``mutate`` {share, seed} → fail a payment (Stripe backend) for ``share`` of the customers that have a live
  subscription, then advance the clock two minutes so the change is past every source's cursor;
* ``tick`` → advance the clock two minutes (so an unchanged re-sync sees the same clock movement);
* ``snapshot`` {name} → remember a fingerprint of every record of every stream under ``name``;
  ``world`` {since} → per stream: records in total, records new or changed since snapshot ``since`` (all
  when no snapshot), so a benchmark computes the work from the sandbox, not from what the connector sent;
* ``stripe_oldest`` → the oldest ``created`` of Stripe customers, subscriptions and invoices (a tap's start date);
* ``now`` → the sandbox clock;  ``stop``.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.sandbox.cluster import Cluster, start_cluster
from connector.sandbox.stripe.backend import StripeError

_ID = re.compile(r"^(?=.*\d)[^.]{9,}")
TICK = timedelta(minutes=2)


def endpoint(path: str) -> str:
    """``/api/v2/job_statuses/9f…e1.json`` → ``/api/v2/job_statuses/{id}.json``: one row per endpoint."""
    return "/".join(_ID.sub("{id}", part) for part in path.split("/"))


def ledger(cluster: Cluster) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str, str, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for system, emulator in cluster.emulators.items():
        for entry in emulator.ctx.ledger.entries():
            row = rows[(system, entry.method, endpoint(entry.path), entry.status)]
            row[0] += 1
            row[1] += entry.records or 0
            row[2] += entry.records is None
    return [{"system": s, "method": m, "endpoint": e, "status": st, "calls": c, "records": r, "uncounted": u}
            for (s, m, e, st), (c, r, u) in sorted(rows.items())]


def streams(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """Every stream the connector reads or writes, as ``system.stream`` → {record key: record}."""
    sf = cluster.emulators["salesforce"].backend
    hs = cluster.emulators["hubspot"].backend
    zd = cluster.emulators["zendesk"].backend
    st = cluster.emulators["stripe"].backend
    out: dict[str, dict[str, Any]] = {f"salesforce.{o}": sf.records[o] for o in ("Account", "Contact", "Task")}
    out.update({f"hubspot.{t}": {k: (o.properties, o.archived) for k, o in hs.objects[t].items()}
                for t in ("companies", "tasks")})
    out.update({"zendesk.organizations": zd.orgs, "zendesk.tickets": zd.tickets})
    out.update({f"stripe.{t}": getattr(st, t) for t in ("customers", "subscriptions", "invoices", "events")})
    domains = {c.domain.lower().removeprefix("www.") for c in cluster.world.companies if c.domain}
    out["techlookup.domains"] = {d: d for d in domains}
    return out


def fingerprints(cluster: Cluster) -> dict[str, dict[str, int]]:
    return {name: {str(k): hash(json.dumps(v, sort_keys=True, default=str)) for k, v in records.items()}
            for name, records in streams(cluster).items()}


def world(cluster: Cluster, before: dict[str, dict[str, int]] | None) -> dict[str, dict[str, int]]:
    """Per stream: ``total`` records and ``changed`` (new or different since ``before``; all without it)."""
    now = fingerprints(cluster)
    out = {}
    for name, prints in now.items():
        old = (before or {}).get(name, {})
        changed = len(prints) if before is None else sum(1 for k, h in prints.items() if old.get(k) != h)
        out[name] = {"total": len(prints), "changed": changed}
    return out


def mutate(cluster: Cluster, share: float, seed: int) -> dict[str, Any]:
    """Fail one payment for ``share`` of the companies (those with a Stripe customer and a live subscription)."""
    stripe = cluster.emulators["stripe"].backend
    candidates = [c for c in cluster.world.companies if c.stripe_customer_id]
    random.Random(seed).shuffle(candidates)
    wanted = max(1, round(share * len(cluster.world.companies)))
    changed: list[str] = []
    for company in candidates:
        if len(changed) == wanted:
            break
        try:
            stripe.fail_payment(company.stripe_customer_id)
        except StripeError:
            continue
        changed.append(company.stripe_customer_id or "")
    cluster.clock.advance(TICK)
    return {"changed": len(changed), "of": len(cluster.world.companies)}


def main() -> None:
    spec = json.loads(sys.argv[1])
    cluster = start_cluster(Path(spec["workdir"]), accounts=spec["accounts"], seed=spec.get("seed", 7),
                            limits=spec.get("limits"))
    config = cluster.write_config(Path(spec["workdir"]) / "connector.toml")
    _answer({"config": str(config), "now": cluster.clock.now().isoformat()})
    snapshots: dict[str, dict[str, dict[str, int]]] = {}
    for line in sys.stdin:
        command = json.loads(line)
        name = command["cmd"]
        if name == "ledger":
            _answer({"rows": ledger(cluster)})
        elif name == "reset":
            cluster.reset_ledgers()
            _answer({})
        elif name == "faults":
            cluster.set_faults(command["system"], **command["settings"])
            _answer({})
        elif name == "mutate":
            _answer(mutate(cluster, command["share"], command.get("seed", 1)))
        elif name == "tick":
            cluster.clock.advance(TICK)
            _answer({})
        elif name == "snapshot":
            snapshots[command["name"]] = fingerprints(cluster)
            _answer({})
        elif name == "world":
            _answer({"streams": world(cluster, snapshots.get(command.get("since") or ""))})
        elif name == "stripe_oldest":
            st = cluster.emulators["stripe"].backend
            _answer({"created": min(int(o.get("created") or 0) for t in (st.customers, st.subscriptions, st.invoices)
                                    for o in t.values())})
        elif name == "now":
            _answer({"now": cluster.clock.now().isoformat()})
        elif name == "stop":
            _answer({})
            break
    cluster.stop()


def _answer(data: dict[str, Any]) -> None:
    sys.stdout.write("@@" + json.dumps(data) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
