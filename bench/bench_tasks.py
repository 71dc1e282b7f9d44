"""Benchmark: the tasks a CSM finds in Salesforce after each weekly sync of the demo world.

    .venv/bin/python bench/bench_tasks.py                  # 500 accounts, 6 weekly syncs (the demo world)
    .venv/bin/python bench/bench_tasks.py --accounts 200 --weeks 4

Runs what ``connector demo`` runs (sandbox, ``setup``, weekly syncs with the world moving in between, then a
re-run with nothing changed) and, after every sync, reads the sandbox's Salesforce through its REST API
(simple-salesforce, as an admin's report would) plus the connector's state store, and prints per sync:

* open connector tasks, per CSM (max) and per account (max), accounts over ``max_open_tasks_per_account``,
  accounts holding two open tasks of the same step;
* tasks set to ``Completed`` by the connector (every ``Completed`` the simulated CSMs did not set);
* renewal coverage (accounts with a renewal in 0–90 days whose open task carries the renewal reason, or
  whose ``CS_Next_Action__c`` does), onboarding coverage, self-serve accounts with a human task;
* closes by reason, deferred new tasks (from the sync result), write calls of the unchanged re-run.

The figures go in docs/success_model.md (orchestration section).  Not a unit test.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.clients.salesforce import SalesforceClient
from connector.config import load_config
from connector.demo import DEMO_LIMITS, SEED
from connector.demo_calls import tally
from connector.http import HttpLayer
from connector.runtime import open_store, run_setup, run_sync
from connector.sandbox.cluster import start_cluster
from connector.sandbox.evolution import advance
from connector.scoring.days import day_to_iso
from connector.scoring.packed_state import packed_parts
from connector.store import Store

KEY = "CS_Task_Key__c"


def _rows(client: SalesforceClient, soql: str) -> list[dict[str, Any]]:
    return list(client.query_iter(soql))


def audit(sf: SalesforceClient, store: Any, today: date, csm_completed: set[str]) -> dict[str, Any]:
    accounts = {r["Id"]: r for r in _rows(sf,
        "SELECT Id, OwnerId, Segment__c, Renewal_Date__c, Contract_Start__c, Churned__c FROM Account")}
    try:
        actions = {r["Id"]: r.get("CS_Next_Action__c") for r in _rows(sf,
            "SELECT Id, CS_Next_Action__c FROM Account")}
    except Exception:  # before the digital route existed
        actions = {}
    tasks = [t for t in _rows(sf, f"SELECT Id, {KEY}, WhatId, OwnerId, Status, Subject, Description "
                                      f"FROM Task") if t.get(KEY)]
    open_tasks = [t for t in tasks if t["Status"] != "Completed" and t["Status"] != "Not needed"]
    per_account = Counter(t["WhatId"] for t in open_tasks)
    per_owner = Counter(t["OwnerId"] for t in open_tasks)
    same_step = Counter((t["WhatId"], (t.get("Description") or "").split("Step ")[-1][:1]) for t in open_tasks
                        if "Step " in (t.get("Description") or ""))
    states = _states(store, today)
    ledger = store.tasks("salesforce")
    renewal = [a for a, r in accounts.items() if r.get("Renewal_Date__c") and not r.get("Churned__c")
               and 0 <= (date.fromisoformat(r["Renewal_Date__c"]) - today).days <= 90]
    # Onboarding accounts: the onboarding play's trigger holds (first 60 days, < 2 milestones reached).
    onboarding = [a for a, st in states.items() if ((st.get("plays") or {}).get("onboarding") or {}).get("first")]

    def covered(account: str, play: str) -> bool:
        if play in str(actions.get(account) or ""):
            return True
        plan = (states.get(account) or {}).get("plan") or {}
        members = {m for slot in plan.get("slots", []) if slot.get("open") for m in slot.get("members", [])}
        return play in members or any(t["WhatId"] == account and f":{play}:" in t[KEY] for t in open_tasks)

    def worked(account: str, play: str) -> bool:
        """The CSM already worked this term's task: it rests after she completed its last step (or closed
        it), or waits for the customer after a completed step.  Not re-opened: that would be fake work."""
        state = states.get(account) or {}
        if ((state.get("plays") or {}).get(play) or {}).get("cleared"):
            return True
        slots = (state.get("plan") or {}).get("slots") or []
        return any(s.get("lead") == play and s.get("done") and not s.get("open") for s in slots)

    smb = {a for a, r in accounts.items() if (r.get("Segment__c") or "").lower() == "smb"}
    reasons = Counter(getattr(e, "close_reason", None) or "unrecorded" for e in ledger.values() if e.status == "closed")
    return {
        "open_tasks": len(open_tasks),
        "max_open_per_csm": max(per_owner.values(), default=0),
        "max_open_per_account": max(per_account.values(), default=0),
        "accounts_with_open_task": len(per_account),
        "accounts_over_1_open": sum(1 for v in per_account.values() if v > 1),
        "accounts_two_tasks_same_step": sum(1 for v in same_step.values() if v > 1),
        "completed_by_connector": sum(1 for t in tasks if t["Status"] == "Completed" and t["Id"] not in csm_completed
                                      and getattr(ledger.get(t[KEY]), "status", None) == "closed"),
        "renewal_accounts": len(renewal),
        "renewal_covered": sum(covered(a, "renewal") for a in renewal),
        "renewal_covered_or_worked": sum(covered(a, "renewal") or worked(a, "renewal") for a in renewal),
        "onboarding_accounts": len(onboarding),
        "onboarding_covered": sum(covered(a, "onboarding") for a in onboarding),
        "self_serve_open_human_tasks": sum(1 for t in open_tasks if t["WhatId"] in smb),
        "open_after_csm_completed_step": sum("completed in the CRM" in (t.get("Description") or "")
                                             for t in open_tasks),
        "open_escalated_untouched_overdue": sum("nobody touched it" in (t.get("Description") or "")
                                                for t in open_tasks),
        "open_saying_no_result": sum("no result" in (t.get("Description") or "") for t in open_tasks),
        "closes_by_reason": dict(reasons),
        "renewal_uncovered": [_why(accounts[a], states.get(a) or {}, actions.get(a)) for a in renewal
                              if not covered(a, "renewal") and not worked(a, "renewal")][:8],
    }


def _states(store: Store, today: date) -> dict[str, dict[str, Any]]:
    """Each account's saved plays (first, cleared) and plan, shaped as the JSON state keeps them
    (``ScoringResult.state_at``), read from the packed engine states."""
    out: dict[str, dict[str, Any]] = {}
    for ids, part in packed_parts(store.packed_state_rows(), store.state_layouts(), today):
        for i, account in enumerate(ids):
            first, cleared = part.plays.first[:, i], part.plays.cleared[:, i]
            plays = {name: {"first": day_to_iso(first[p]), "cleared": day_to_iso(cleared[p])}
                     for p, name in enumerate(part.plays.names) if np.isfinite(first[p]) or np.isfinite(cleared[p])}
            plan = part.plans[i]
            out[account] = {"plays": plays, "plan": json.loads(plan) if plan else None}
    return out


def _why(account: dict[str, Any], state: dict[str, Any], action: Any) -> str:
    """One line on an uncovered renewal account: segment, the renewal play's episode, the plan, the action."""
    play = (state.get("plays") or {}).get("renewal") or {}
    slots = (state.get("plan") or {}).get("slots") or [{}]
    slot = slots[0]
    return (f"{account.get('Segment__c')} renewal={play.get('first', '-')[:10] if play.get('first') else '-'}"
            f"/cleared={str(play.get('cleared'))[:10]} plan open={slot.get('open')} lead={slot.get('lead')} "
            f"step={slot.get('step')} members={slot.get('members')} action={action}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--weeks", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = start_cluster(Path(tmp) / "sandbox", accounts=args.accounts, seed=SEED, limits=DEMO_LIMITS)
        try:
            config = load_config(cluster.write_config(Path(tmp) / "connector.toml"))
            run_setup(config, dry_run=False)
            assert config.salesforce is not None
            sf = SalesforceClient(config.salesforce, HttpLayer())
            completed: set[str] = set()
            for week in range(args.weeks + 1):
                if 0 < week < args.weeks:
                    changes = advance(cluster, 7, seed=SEED + week)
                    completed |= set(getattr(cluster, "csm_completed", set()))
                    print(f"  world: {json.dumps({k: dict(v) for k, v in changes.items()}, default=str)[:300]}")
                cluster.reset_ledgers()
                result = run_sync(config, now=cluster.clock.now())
                writes = tally({n: e.ctx.ledger.entries() for n, e in cluster.emulators.items()}).write_calls
                store = open_store(config)
                try:
                    figures = audit(sf, store, cluster.clock.now().date(), completed)
                finally:
                    store.close()
                label = f"week {week}" if week < args.weeks else "re-run"
                sinks = result.sinks.get("salesforce", {})
                print(json.dumps({"sync": label, "created": sinks.get("tasks_created"),
                                  "updated": sinks.get("tasks_updated"), "closed": sinks.get("tasks_closed"),
                                  "deferred": getattr(result, "tasks_deferred", None), "sf_write_calls": writes,
                                  **figures}, default=str))
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
