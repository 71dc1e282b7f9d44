"""Pre-flight: a sync against destinations without the mapped fields stops before its first pull.

The "done when" of issue 22, item 1, measured on the emulators' own ledgers: the only calls a stopped sync
made are field look-ups (describe / property lists / organization fields), one per object written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import load_config
from connector.daemon import serve_forever
from connector.preflight import run_preflight
from connector.runtime import open_store, run_setup
from connector.sandbox.cluster import Cluster, start_cluster
from connector.sandbox.hubspot import schema as hubspot_schema

#: Calls that only read a destination's field metadata (plus the OAuth token Salesforce needs first).
METADATA = re.compile(r"/describe$|/crm/v3/properties/\w+$|/organization_fields(\.json)?$|/oauth2/token$")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Path]]:
    workdir = tmp_path_factory.mktemp("preflight")
    cluster = start_cluster(workdir / "sandbox", accounts=40, seed=5)
    yield cluster, cluster.write_config(workdir / "connector.toml")
    cluster.stop()


def _ledger(cluster: Cluster) -> dict[str, list[tuple[str, str]]]:
    return {name: [(c.method, c.path) for c in e.ctx.ledger.entries()] for name, e in cluster.emulators.items()}


def test_sync_without_setup_stops_before_any_pull_or_write(cluster: tuple[Cluster, Path]) -> None:
    sandbox, config = cluster
    sandbox.reset_ledgers()
    result = CliRunner().invoke(app, ["sync", "-c", str(config), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "preflight_failed"
    missing = {(p["system"], p["field"]) for p in report["preflight"]["problems"] if p["problem"] == "missing"}
    assert {s for s, _ in missing} == {"salesforce", "hubspot", "zendesk"}
    assert ("salesforce", "CS_Success_Vector__c") in missing
    assert "connector setup" in report["preflight"]["fix"]

    calls = _ledger(sandbox)
    assert calls["stripe"] == [] and calls["techlookup"] == [], calls  # pure sources: not even a probe
    for system in ("salesforce", "hubspot", "zendesk"):
        other = [c for c in calls[system] if not METADATA.search(c[1])]
        assert other == [], f"{system} was pulled from or written to before the pre-flight stopped: {other}"
        assert calls[system], f"{system} was not checked"
    store = open_store(load_config(config))
    try:
        assert store.runs(limit=5) == []  # no run started: nothing to resume or to count as a failure
    finally:
        store.close()


def test_terminal_output_lists_every_missing_field_and_the_fix(cluster: tuple[Cluster, Path]) -> None:
    _, config = cluster
    result = CliRunner().invoke(app, ["sync", "-c", str(config)])
    assert result.exit_code == 1
    assert "pre-flight failed" in result.stdout and "run `connector setup`" in result.stdout
    assert "salesforce Account.CS_Success_Vector__c: missing" in result.stdout
    assert "zendesk organization." in result.stdout and "hubspot companies." in result.stdout


def test_the_daemon_does_not_start_its_first_cycle_without_the_fields(cluster: tuple[Cluster, Path]) -> None:
    sandbox, config = cluster
    sandbox.reset_ledgers()
    with pytest.raises(SystemExit) as stopped:
        serve_forever(load_config(config))
    assert stopped.value.code == 1
    assert all(METADATA.search(path) for calls in _ledger(sandbox).values() for _, path in calls)


def test_after_setup_the_preflight_passes_and_catches_read_only_fields(
        cluster: tuple[Cluster, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox, path = cluster
    config = load_config(path)
    assert run_setup(config, dry_run=False)["errors"] == {}
    report = run_preflight(config)
    assert report.ok, report.as_json()
    assert set(report.checked) == {"salesforce", "hubspot", "zendesk"}

    field = sandbox.emulators["salesforce"].backend.schema["Account"]["CS_Success_Vector__c"]
    monkeypatch.setattr(field, "updateable", False)  # field-level security took write access away
    monkeypatch.setattr(hubspot_schema, "READ_ONLY", hubspot_schema.READ_ONLY | {"cs_quadrant"})
    problems = run_preflight(config).problems
    assert [(p.system, p.field, p.problem.split(" (")[0]) for p in problems] == [
        ("salesforce", "CS_Success_Vector__c", "not writable by the connector's user"),
        ("hubspot", "cs_quadrant", "not writable"),
    ]
