"""CSMs working the connector's tasks in the sandbox's Salesforce, as people do between two syncs.

Why: the connector reads back what CSMs did (completed, deleted, reassigned, re-dated) and must respect it;
a sandbox where nobody ever touches a task would only show the connector talking to itself.  Each step,
deterministically per seed, the CSMs complete ``COMPLETE_SHARE`` of the open connector tasks (the
first-step emails and the calls alike), leave the rest, and one of them reassigns one task to a colleague,
deletes one as not relevant and moves one's due date two weeks out.  Every change goes through the same
backend calls the REST API uses, so ``LastModifiedDate``, ``IsClosed`` and ``CompletedDateTime`` move as
Salesforce's would.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.sandbox.salesforce.backend import SalesforceBackend

COMPLETE_SHARE = 0.4
KEY_FIELD = "CS_Task_Key__c"


def simulate_csms(backend: SalesforceBackend, seed: int, changes: Counter[str]) -> None:
    """Complete some open connector tasks, leave the rest, reassign one, delete one, re-date one."""
    with backend.lock:
        open_tasks = sorted((dict(t) for t in backend.records["Task"].values()
                             if t.get(KEY_FIELD) and not t.get("IsClosed") and not t.get("IsDeleted")),
                            key=lambda t: str(t["Id"]))
        users = sorted(str(u["Id"]) for u in backend.records["User"].values())
    if not open_tasks:
        return
    rng = random.Random(f"csm-{seed}")
    rng.shuffle(open_tasks)
    deleted, reassigned, redated, rest = open_tasks[:1], open_tasks[1:2], open_tasks[2:3], open_tasks[3:]
    for task in deleted:
        backend.delete("Task", str(task["Id"]))
        changes["tasks_deleted"] += 1
    for task in reassigned:
        colleague = next((u for u in users if u != task.get("OwnerId")), None)
        if colleague:
            _update(backend, {"Id": task["Id"], "OwnerId": colleague})
            changes["tasks_reassigned"] += 1
    for task in redated:
        due = date.fromisoformat(str(task.get("ActivityDate") or backend.clock.now().date().isoformat()))
        _update(backend, {"Id": task["Id"], "ActivityDate": (due + timedelta(days=14)).isoformat()})
        changes["tasks_redated"] += 1
    for task in rest:
        if rng.random() < COMPLETE_SHARE:
            _update(backend, {"Id": task["Id"], "Status": "Completed"})
            changes["tasks_completed"] += 1
        else:
            changes["tasks_left_open"] += 1


def _update(backend: SalesforceBackend, body: dict[str, Any]) -> None:
    result = backend.update("Task", body)
    if not result["success"]:
        raise RuntimeError(f"sandbox CSM: task {body['Id']} update refused: {result['errors']}")
