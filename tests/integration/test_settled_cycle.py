"""A quiet cycle skips scoring and writing, and anything that could change an output brings scoring back.

One sandbox world (real clients, 80 accounts).  After a sync and the re-sync that reads our own writes
back, nothing in the world changes: the next cycle must find the last complete one's scores standing
(``result.settled``), score nothing and send nothing.  Then each thing a cycle's outputs depend on is
changed in turn — a CRM record, a CSM completing a task, the UTC day, ``--full`` — and the cycle after
it must score again: the changed accounts only, within the day (:mod:`connector.incremental`), every account
on a new day or with ``--full``; a skipped cycle is only ever one whose full re-score writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from connector.clients.salesforce import SalesforceClient
from connector.config import Config
from connector.http import HttpLayer
from connector.report import build_report
from connector.runtime import open_store, run_sync
from connector.sandbox.cluster import Cluster
from connector.sandbox.resync_check import AUTH_POSTS, READ_POSTS, at_time_of_day
from connector.status import collect_status, validated
from connector.sync import SyncResult

from .admin_rig import admin_rig

ACCOUNTS = 80


@pytest.fixture
def rig(tmp_path) -> Iterator[tuple[Cluster, Config, SalesforceClient]]:  # type: ignore[no-untyped-def]
    with admin_rig(tmp_path, accounts=ACCOUNTS, seed=5, start=at_time_of_day(9, 0)) as (cluster, config, _):
        assert config.salesforce is not None
        yield cluster, config, SalesforceClient(config.salesforce, HttpLayer())


def _sync(cluster: Cluster, config: Config, after: timedelta = timedelta(minutes=5), full: bool = False,
          ok: bool = True) -> tuple[SyncResult, list[tuple[str, str]]]:
    """One sync ``after`` the last, and the write calls it made on any emulator."""
    cluster.clock.advance(after)
    cluster.reset_ledgers()
    result = run_sync(config, now=cluster.clock.now(), full=full)
    if ok:
        assert result.status == "ok", (result.source_errors, result.sink_errors)
    writes = [(c.method, c.path) for e in cluster.emulators.values() for c in e.ctx.ledger.entries()
              if c.method != "GET" and not c.path.endswith(READ_POSTS + AUTH_POSTS)]
    return result, writes


def _settle(cluster: Cluster, config: Config) -> SyncResult:
    """Quiet cycles until one is settled: our own writes come back once as re-reads (the echo), and the
    tasks a re-score opens are read back once; three quiet cycles are plenty."""
    for _ in range(3):
        result, writes = _sync(cluster, config)
        if result.settled is not None:
            assert writes == [] and result.scored == 0 and result.sinks == {}
            return result
    raise AssertionError("three quiet cycles in a row and none found the last one's scores standing")


def test_quiet_cycles_skip_and_every_kind_of_change_scores_again(
        rig: tuple[Cluster, Config, SalesforceClient]) -> None:
    cluster, config, sf = rig
    first, _ = _sync(cluster, config, after=timedelta(minutes=2))
    assert first.scored == ACCOUNTS and first.settled is None
    settled = _settle(cluster, config)
    again = _settle(cluster, config)
    assert again.settled == settled.settled  # the same complete cycle still stands

    # The admin sees why the run scored nothing: in `status --json` and in the report's runs table.
    store = open_store(config)
    try:
        runs = {r["id"]: r for r in validated(collect_status(store))["runs"]}
        page = build_report(config, store, tmp_report := config.base_dir / "report.html").read_text()
    finally:
        store.close()
    assert runs[again.run_id]["settled_since"] == again.settled["run_id"]  # type: ignore[index]
    assert f"unchanged since #{again.settled['run_id']}" in page, tmp_report  # type: ignore[index]

    # What it skipped is exactly what a full re-score would have done: nothing.
    full, writes = _sync(cluster, config, full=True)
    assert full.settled is None and full.scored == ACCOUNTS and writes == []
    _settle(cluster, config)

    # A CRM record changes: that account is scored again, and only it (the rest would score the same).
    account = next(iter(sf.query_iter("SELECT Id, Name FROM Account ORDER BY Id LIMIT 1")))
    sf.call(lambda s: s.Account.update(account["Id"], {"Name": account["Name"] + " (renamed)"}))
    changed, _ = _sync(cluster, config)
    assert changed.settled is None and changed.scored == 1
    assert changed.incremental is not None and changed.incremental["changed"] == 1
    store = open_store(config)
    try:  # the admin sees why one account was scored
        runs = {r["id"]: r for r in validated(collect_status(store))["runs"]}
        page = build_report(config, store, config.base_dir / "report2.html").read_text()
    finally:
        store.close()
    assert runs[changed.run_id]["changed_since"] == changed.incremental["since_run"]
    assert f"1 changed since #{changed.incremental['since_run']}" in page
    _settle(cluster, config)

    # A CSM completes one of the connector's tasks: read back, and that account's plan scores again.
    task = next(t for t in sf.query_iter("SELECT Id, WhatId FROM Task WHERE IsClosed = false ORDER BY Id"))
    sf.call(lambda s: s.Task.update(task["Id"], {"Status": "Completed"}))
    read, _ = _sync(cluster, config)
    assert read.tasks_read_back >= 1 and read.settled is None and 1 <= read.scored < ACCOUNTS
    _settle(cluster, config)

    # A new UTC day: waits fall due and windows move, so every account is scored.
    day = cluster.clock.now()
    midnight = day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1, minutes=1)
    next_day, _ = _sync(cluster, config, after=midnight - day)
    assert next_day.settled is None and next_day.scored == ACCOUNTS


def test_a_refused_write_is_retried_by_every_cycle_until_it_lands(
        rig: tuple[Cluster, Config, SalesforceClient]) -> None:
    """A record the CRM refused is a write still owed: no cycle after it may be settled until it lands."""
    cluster, config, _ = rig
    _sync(cluster, config, after=timedelta(minutes=2))
    _settle(cluster, config)
    company = next(c for c in cluster.world.companies if c.stripe_customer_id and c.salesforce_id and not c.mess)
    salesforce = cluster.emulators["salesforce"].backend
    salesforce.validation_rules[company.salesforce_id] = "Closed accounts cannot be edited"
    cluster.emulators["stripe"].backend.fail_payment(company.stripe_customer_id)  # its risk flags change
    refused, _ = _sync(cluster, config, ok=False)
    failures = refused.sinks["salesforce"]["failures"]
    assert [f["record_id"] for f in failures] == [company.salesforce_id]
    for _ in range(2):  # nothing else changes, but the write is owed: every account scored and diffed again
        again, _ = _sync(cluster, config, ok=False)
        assert again.settled is None and again.incremental is None and again.scored == ACCOUNTS
        assert [f["record_id"] for f in again.sinks["salesforce"]["failures"]] == [company.salesforce_id]
    del salesforce.validation_rules[company.salesforce_id]
    landed, _ = _sync(cluster, config)
    assert landed.settled is None and landed.sinks["salesforce"]["records_updated"] >= 1
    _settle(cluster, config)
