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
