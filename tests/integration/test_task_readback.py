"""What a CSM does to the connector's tasks in Salesforce is read back and respected (real client, sandbox).

One world, synced; then a CSM completes one task, deletes one, and reassigns and re-dates a third through
the REST API; the next syncs must: count them as read back, never recreate the deleted one inside its
cooldown, keep her owner and due date, escalate the completed step only after the wait (a new task, hers
stays Completed), and never set ``Completed`` themselves (closes use "Not needed" with a reason).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from connector.clients.salesforce import SalesforceClient
from connector.config import Config, load_config
from connector.http import HttpLayer
from connector.runtime import open_store, run_setup, run_sync
from connector.sandbox.cluster import Cluster, start_cluster

KEY = "CS_Task_Key__c"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Config, SalesforceClient]]:
    workdir = tmp_path_factory.mktemp("readback")
    cluster = start_cluster(workdir / "sandbox", accounts=80, seed=5,
                            limits={"zendesk": {"export_requests_per_minute": None}})
    config = load_config(cluster.write_config(workdir / "connector.toml"))
    assert run_setup(config, dry_run=False)["errors"] == {}
    assert config.salesforce is not None
    yield cluster, config, SalesforceClient(config.salesforce, HttpLayer())
    cluster.stop()


def _tasks(sf: SalesforceClient) -> dict[str, dict]:
    soql = f"SELECT Id, {KEY}, WhatId, OwnerId, Status, IsClosed, ActivityDate, Description FROM Task"
    return {t[KEY]: t for t in sf.query_iter(soql, deleted=True) if t.get(KEY)}


def _sync(cluster: Cluster, config: Config, days: float = 0) -> dict:
    cluster.clock.advance(timedelta(days=days))
    result = run_sync(config, now=cluster.clock.now())
    assert result.status == "ok", (result.source_errors, result.sink_errors)
    return result.as_json()


def test_csm_actions_are_read_back_and_respected(rig: tuple[Cluster, Config, SalesforceClient]) -> None:
    cluster, config, sf = rig
    statuses = next(f for f in sf.describe("Task")["fields"] if f["name"] == "Status")["picklistValues"]
    assert "Not needed" in {v["value"] for v in statuses}  # setup added the close status
    _sync(cluster, config)
    open_tasks = sorted((t for t in _tasks(sf).values() if not t["IsClosed"]), key=lambda t: t[KEY])
    assert len(open_tasks) >= 3 and len({t["WhatId"] for t in open_tasks}) == len(open_tasks)
    done, gone, moved = open_tasks[:3]
    other_owner = next(u["Id"] for u in sf.query_iter("SELECT Id FROM User") if u["Id"] != moved["OwnerId"])
    new_due = (cluster.clock.now() + timedelta(days=20)).date().isoformat()
    sf.call(lambda s: s.Task.update(done["Id"], {"Status": "Completed"}))
    sf.call(lambda s: s.Task.delete(gone["Id"]))
    sf.call(lambda s: s.Task.update(moved["Id"], {"OwnerId": other_owner, "ActivityDate": new_due}))

    second = _sync(cluster, config, days=1)
    assert second["tasks_read_back"] >= 3
    store = open_store(config)
    try:
        evidence = {e.key: e.state for e in store.task_evidence("salesforce")}
    finally:
        store.close()
    assert evidence[done[KEY]] == "completed" and evidence[gone[KEY]] == "dismissed"
    after = _tasks(sf)
    assert after[done[KEY]]["Status"] == "Completed"  # hers, never reopened or rewritten

    for _ in range(3):
        _sync(cluster, config, days=4)
    final = _tasks(sf)
    by_account = {t["WhatId"]: t for t in final.values() if not t["IsClosed"] and t[KEY] != gone[KEY]}
    assert gone["WhatId"] not in by_account or by_account[gone["WhatId"]][KEY] == gone[KEY], "recreated"
    assert (final[moved[KEY]]["OwnerId"], final[moved[KEY]]["ActivityDate"]) == (other_owner, new_due)
    account = done["WhatId"]
    followers = [t for t in final.values() if t["WhatId"] == account and t[KEY] != done[KEY]]
    for task in followers:  # a next step after her completed one says why
        assert "completed in the CRM" in task["Description"]
    store = open_store(config)
    try:
        ledger = store.tasks("salesforce")
    finally:
        store.close()
    closed_by_connector = [k for k, e in ledger.items() if e.status == "closed"]
    assert all(final[k]["Status"] == "Not needed" and ledger[k].close_reason for k in closed_by_connector)
    completed = [k for k, t in final.items() if t["Status"] == "Completed"]
    assert completed == [done[KEY]], "the connector set Completed on its own"
    _sync(cluster, config)  # same day: reads the echo of the last writes (a reassigned task among them)
    cluster.reset_ledgers()
    _sync(cluster, config)
    writes = [(c.method, c.path) for c in cluster.emulators["salesforce"].ctx.ledger.entries()
              if c.method in ("POST", "PATCH", "PUT", "DELETE") and "/oauth2/" not in c.path]
    assert writes == [], "an unchanged re-sync after CSM actions wrote"


def test_unchanged_resync_reads_back_nothing_new_and_writes_nothing(
        rig: tuple[Cluster, Config, SalesforceClient]) -> None:
    cluster, config, _ = rig
    _sync(cluster, config)  # the echo of the last run's own writes is read once
    cluster.reset_ledgers()
    quiet = _sync(cluster, config)
    writes = [(c.method, c.path) for c in cluster.emulators["salesforce"].ctx.ledger.entries()
              if c.method in ("POST", "PATCH", "PUT", "DELETE") and "/oauth2/" not in c.path]
    assert quiet["tasks_read_back"] == 0 and writes == []


def test_the_sandbox_keeps_is_closed_and_completed_time_with_the_status(
        rig: tuple[Cluster, Config, SalesforceClient]) -> None:
    _, _, sf = rig
    task = next(sf.query_iter("SELECT Id FROM Task WHERE IsClosed = false"))
    sf.call(lambda s: s.Task.update(task["Id"], {"Status": "In Progress"}))
    row = next(sf.query_iter(f"SELECT IsClosed, CompletedDateTime FROM Task WHERE Id = '{task['Id']}'"))
    assert row == {"IsClosed": False, "CompletedDateTime": None}
