"""Shared helpers for the reliability suite: seeded clusters, CRM state snapshots, CLI runs.

Every comparison is between two clusters built from the same seeded world and synced with the same pinned
``now``, so any difference in the CRM/HubSpot/Zendesk state is the connector's doing, not the clock's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.config import Config, load_config
from connector.runtime import run_setup
from connector.sandbox.cluster import Cluster, start_cluster
from connector.sandbox.core import Faults

#: The world is generated at this moment and every sync is run "now" = this moment, so runs compare exactly.
WORLD_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOW = WORLD_START
CONNECTOR = Path(sys.executable).with_name("connector")
#: Outputs whose value is the run's timestamp: compared by presence only.
VOLATILE = ("updated_at",)


@dataclass
class Rig:
    """A running cluster, its config file and the loaded config."""

    cluster: Cluster
    config_path: Path
    config: Config

    def stop(self) -> None:
        self.cluster.stop()


def start_rig(workdir: Path, *, accounts: int, seed: int = 7, faults: dict[str, Faults] | None = None,
              primary_crm: str = "salesforce", setup: bool = True) -> Rig:
    """A cluster on a fixed seeded world with the connector's fields created (``connector setup``)."""
    cluster = start_cluster(workdir / "cluster", accounts=accounts, seed=seed, start=WORLD_START, faults=faults)
    path = cluster.write_config(workdir / "connector.toml", primary_crm=primary_crm)
    config = load_config(path)
    if setup:
        result = run_setup(config, dry_run=False)
        assert not result["errors"], result["errors"]
    return Rig(cluster, path, config)


def _volatile(name: str) -> bool:
    return any(name.lower().endswith(v) for v in VOLATILE)


def _fields(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Connector-owned fields; volatile ones reduced to 'set or not'."""
    return {k: (v is not None and v != "") if _volatile(k) else v
            for k, v in values.items() if k.lower().startswith(prefix)}


def crm_state(cluster: Cluster) -> dict[str, Any]:
    """Everything the connector writes, in a form two runs can be compared with ``==``."""
    sf = cluster.emulators["salesforce"].backend
    hs = cluster.emulators["hubspot"].backend
    zd = cluster.emulators["zendesk"].backend
    with sf.lock:
        sf_tasks = [dict(t) for t in sf.records["Task"].values() if t.get("CS_Task_Key__c")]
    with hs._lock:
        hs_tasks = [dict(o.properties) for o in hs.table("tasks").values() if not o.archived]
    hs_tasks = [t for t in hs_tasks if t.get("cs_task_key")]
    return {
        "salesforce.accounts": {a["Id"]: _fields(a, "cs_") for a in sf.accounts_view()},
        "salesforce.tasks": {t["CS_Task_Key__c"]: (t.get("Subject"), t.get("Status"), t.get("WhatId"))
                             for t in sf_tasks},
        "hubspot.companies": {c["id"]: _fields(c, "cs_") for c in hs.companies_view()},
        "hubspot.tasks": {t["cs_task_key"]: (t.get("hs_task_subject"), t.get("hs_task_status")) for t in hs_tasks},
        "zendesk.orgs": {oid: _fields(dict(o.get("organization_fields") or {}), "cs_") for oid, o in zd.orgs.items()},
        "zendesk.tags": {tid: sorted(t.get("tags") or []) for tid, t in zd.tickets.items()},
    }


def duplicate_task_keys(cluster: Cluster) -> dict[str, int]:
    """Task keys held by more than one task, per system (must always be empty)."""
    sf = cluster.emulators["salesforce"].backend
    hs = cluster.emulators["hubspot"].backend
    with sf.lock:
        sf_keys = Counter(t.get("CS_Task_Key__c") for t in sf.records["Task"].values() if t.get("CS_Task_Key__c"))
    with hs._lock:
        hs_keys = Counter(o.properties.get("cs_task_key") for o in hs.table("tasks").values()
                          if not o.archived and o.properties.get("cs_task_key"))
    return {f"{system}:{k}": n for system, keys in (("salesforce", sf_keys), ("hubspot", hs_keys))
            for k, n in keys.items() if n > 1}


def state_diff(expected: dict[str, Any], actual: dict[str, Any], limit: int = 5) -> list[str]:
    """A short human-readable list of differences (for assertion messages)."""
    out: list[str] = []
    for section in expected:
        want, got = expected[section], actual.get(section, {})
        for key in sorted(set(want) | set(got), key=str):
            if want.get(key) != got.get(key):
                out.append(f"{section}[{key}]: clean={want.get(key)!r} got={got.get(key)!r}")
                if len(out) >= limit:
                    return out
    return out


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
        cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``connector`` CLI in a subprocess (what an admin or cron would run)."""
    return subprocess.run([str(CONNECTOR), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False, cwd=cwd)


def cli_sync(config_path: Path, *flags: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``connector sync --json --now NOW [flags]``; the parsed summary (fails the test on a non-JSON answer)."""
    done = cli("sync", "-c", str(config_path), "--json", "--now", NOW.isoformat(), *flags, env=env)
    try:
        return dict(json.loads(done.stdout))
    except ValueError as exc:
        raise AssertionError(f"sync exit {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}") from exc


@dataclass(frozen=True)
class Case:
    """One planted bad record: where it goes, the id it is quarantined under, what the reason must say."""

    name: str
    source: str
    entity_id: str
    reason: str  # regex the quarantine reason must match
    plant: Callable[[Rig], None]
