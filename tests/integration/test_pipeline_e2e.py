"""The whole pipeline against the sandbox, with the real client libraries: what an admin's syncs cost and do.

These are the "done when" checks of the sources and sinks issues, measured on the emulators' ledgers:
a run with nothing new makes only cursor probes (at most one read per stream) and no write at all; a
change in any system shows up in the signals after the next run; a dry run writes nothing and saves a
plan; losing the state store creates no duplicate task.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from connector.config import Config, load_config
from connector.runtime import run_setup, run_sync
from connector.sandbox.cluster import Cluster, start_cluster
from connector.store import Store

ACCOUNTS = 120
#: Incremental streams per source: Salesforce reads Account and Contact (and, as the task CRM, the tasks
#: CSMs changed), Zendesk organisations and tickets; HubSpot, Stripe (events) one each; the tech lookup
#: is cached (no call within its TTL).
STREAMS = {"salesforce": 3, "hubspot": 1, "zendesk": 2, "stripe": 1, "techlookup": 0}
READ_POSTS = ("/search", "/query", "/batch/read")  # POSTs that only read


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Config, Path]]:
    workdir = tmp_path_factory.mktemp("pipeline")
    # The export endpoints allow 10 calls a minute; this module syncs a dozen times in a few seconds.
    cluster = start_cluster(workdir / "sandbox", accounts=ACCOUNTS, seed=11,
                            limits={"zendesk": {"export_requests_per_minute": None}})
    path = cluster.write_config(workdir / "connector.toml")
    config = load_config(path)
    assert run_setup(config, dry_run=False)["errors"] == {}
    yield cluster, config, workdir
    cluster.stop()


def _sync(cluster: Cluster, config: Config, **kwargs: object) -> dict:
    cluster.reset_ledgers()
    result = run_sync(config, now=cluster.clock.now(), **kwargs)  # type: ignore[arg-type]
    assert result.status == "ok", (result.source_errors, result.sink_errors)
    return result.as_json()


def _calls(cluster: Cluster) -> dict[str, list[tuple[str, str]]]:
    return {name: [(c.method, c.path) for c in e.ctx.ledger.entries()] for name, e in cluster.emulators.items()}


def _writes(calls: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(m, p) for m, p in calls if m != "GET" and not p.endswith(READ_POSTS)]


def test_first_sync_then_only_cursor_probes(rig: tuple[Cluster, Config, Path]) -> None:
    cluster, config, _ = rig
    first = _sync(cluster, config)
    assert first["scored"] == ACCOUNTS
    assert all(first["sinks"][s]["fields_written"] > 0 for s in ("salesforce", "hubspot", "zendesk"))
    assert first["sinks"]["salesforce"]["tasks_created"] > 0
    _sync(cluster, config)  # reads back the echo of our own writes (SystemModstamp moved): one page
    quiet = _sync(cluster, config)
    calls = _calls(cluster)
    for system, streams in STREAMS.items():
        assert _writes(calls[system]) == [], f"{system} wrote on an unchanged re-sync: {calls[system]}"
        assert len(calls[system]) <= streams, f"{system}: {calls[system]}"
    # Nothing changed since the echo's cycle: it is skipped as settled (no sink ran), or wrote nothing.
    assert all(quiet["sinks"].get(s, {}).get("fields_written", 0) == 0 for s in ("salesforce", "hubspot", "zendesk"))


def _signal(config: Config, account_id: str, name: str) -> object:
    store = Store(f"sqlite:///{config.resolve(Path('state/connector.db'))}")
    try:
        return next((s.value for s in store.signals([account_id]) if s.name == name), None)
    finally:
        store.close()


def test_a_change_in_each_system_reaches_the_signals(rig: tuple[Cluster, Config, Path]) -> None:
    cluster, config, _ = rig
    _sync(cluster, config)
    company = next(c for c in cluster.world.companies
                   if c.stripe_customer_id and c.zendesk_org_id and c.domain and not c.mess)
    account = company.salesforce_id
    assert account is not None
    names = ("payments_failed_90d", "tickets_urgent_open", "competitor_detected", "nps")
    before = {n: _signal(config, account, n) for n in names}

    cluster.clock.advance(timedelta(minutes=5))
    cluster.emulators["stripe"].backend.fail_payment(company.stripe_customer_id)
    now = cluster.clock.now().isoformat().replace("+00:00", "Z")
    zendesk = cluster.emulators["zendesk"].backend
    zendesk.put_ticket({"id": 990001, "organization_id": company.zendesk_org_id, "subject": "Outage: nothing loads",
                        "status": "open", "priority": "urgent", "created_at": now, "updated_at": now, "tags": [],
                        "requester_id": zendesk.user_for(f"ops@{company.domain}", company.zendesk_org_id)})
    cluster.emulators["techlookup"].backend.install(company.domain, cluster.world.competitors[0])
    cluster.emulators["salesforce"].backend.update("Account", {"Id": account, "NPS__c": 2})
    cluster.clock.advance(timedelta(minutes=5))  # the Zendesk export excludes the last minute
    assert config.enrichment is not None
    no_cache = config.enrichment.model_copy(update={"cache_ttl_days": 0})  # look the new competitor up now
    config_no_cache = config.model_copy(update={"enrichment": no_cache})
    _sync(cluster, config_no_cache)

    after = {n: _signal(config, account, n) for n in before}
    assert after["payments_failed_90d"] > (before["payments_failed_90d"] or 0)  # type: ignore[operator]
    assert after["tickets_urgent_open"] > (before["tickets_urgent_open"] or 0)  # type: ignore[operator]
    assert after["competitor_detected"] == 1
    assert after["nps"] == 2


def test_dry_run_writes_nothing_and_saves_the_plan(rig: tuple[Cluster, Config, Path]) -> None:
    cluster, config, _ = rig
    cluster.emulators["stripe"].backend.fail_payment(
        next(c.stripe_customer_id for c in cluster.world.companies if c.stripe_customer_id and not c.mess))
    cluster.clock.advance(timedelta(minutes=2))
    result = _sync(cluster, config, dry_run=True)
    calls = _calls(cluster)
    for system in ("salesforce", "hubspot", "zendesk"):
        assert _writes(calls[system]) == [], f"{system} wrote during a dry run: {calls[system]}"
    plan = [json.loads(line) for line in Path(result["plan_file"]).read_text(encoding="utf-8").splitlines()]
    assert plan, "a failed payment changes at least one field"
    assert {"system", "object", "record_id", "action", "field", "old", "new"} <= set(plan[0])
    for system, sink in result["sinks"].items():  # the table's task columns count what the plan holds
        planned = [p["action"] for p in plan if p["system"] == system]
        assert (sink["tasks_created"], sink["tasks_updated"], sink["tasks_closed"]) == (
            planned.count("create_task"), planned.count("update_task"), planned.count("close_task"))


def test_lost_state_store_creates_no_duplicate_task(rig: tuple[Cluster, Config, Path]) -> None:
    cluster, config, workdir = rig
    _sync(cluster, config)
    backend = cluster.emulators["salesforce"].backend
    done = next(t for t in backend.records["Task"].values() if str(t.get("CS_Task_Key__c", "")).endswith(":plan:0"))
    backend.update("Task", {"Id": done["Id"], "Status": "Completed"})  # a CSM did the step
    completed = dict(backend.records["Task"][done["Id"]])
    cluster.clock.advance(timedelta(minutes=2))
    fresh = config.model_copy(update={"connector": config.connector.model_copy(
        update={"state_url": f"sqlite:///{workdir / 'lost' / 'connector.db'}"})})
    _sync(cluster, fresh)
    _sync(cluster, fresh)
    keys = [t.get("CS_Task_Key__c") for t in backend.records["Task"].values()]
    assert keys and len(keys) == len(set(keys)), "each task key exists once in the CRM"
    assert backend.records["Task"][done["Id"]] == completed, "the plan continued after the CSM's completed task"


def test_real_drift_is_shown_by_sync_and_status(rig: tuple[Cluster, Config, Path]) -> None:
    """A person's edit of an owned field is drift: left alone, and counted in the sync table and status."""
    from rich.console import Console

    from connector.render import render_sync
    from connector.status import collect_status

    cluster, config, _ = rig
    _sync(cluster, config)
    company = next(c for c in cluster.world.companies if c.stripe_customer_id and c.salesforce_id and not c.mess)
    sf = cluster.emulators["salesforce"].backend
    sf.update("Account", {"Id": company.salesforce_id, "CS_Vector_Drivers__c": "Edited by the CSM"})
    cluster.emulators["stripe"].backend.fail_payment(company.stripe_customer_id)  # its outputs change
    cluster.clock.advance(timedelta(minutes=2))
    cluster.reset_ledgers()
    result = run_sync(config, now=cluster.clock.now())
    drift = result.sinks["salesforce"]["drift"]  # (an earlier test's other state store wrote too: more drift)
    assert (company.salesforce_id, "CS_Vector_Drivers__c", "Edited by the CSM") in [
        (d["record_id"], d["field"], d["new"]) for d in drift]
    assert sf.records["Account"][company.salesforce_id]["CS_Vector_Drivers__c"] == "Edited by the CSM"
    total = sum(len(s["drift"]) for s in result.sinks.values())
    console = Console(record=True, width=200)
    render_sync(console, result)
    assert f"drift: {total} owned field(s)" in console.export_text()
    status = collect_status(Store(f"sqlite:///{config.resolve(Path('state/connector.db'))}"))
    assert status["runs"][0]["drift"]["salesforce"] == len(drift)
