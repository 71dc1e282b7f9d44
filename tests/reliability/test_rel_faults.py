"""A full sync through ≥ 20 % injected faults (429 + Retry-After, 5xx, client timeouts, dropped connections)
plus one Salesforce session expiry ends exactly where a clean run ends, with no duplicate task, and its
summary counts every retry."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from connector.config import load_config
from connector.runtime import run_sync
from connector.sandbox.cluster import SYSTEMS
from connector.sandbox.core import Faults, LedgerEntry, SandboxLedger

from .conftest import ACCOUNTS
from .rel_kit import NOW, Rig, crm_state, duplicate_task_keys, start_rig, state_diff

FAULT_SHARE = 0.32  # drawn per call; the test asserts the share actually injected is ≥ 20 %
CLIENT_TIMEOUT = 0.8  # connector's read timeout in this test; the emulator stalls longer on a "timeout" fault


class ExpiringLedger(SandboxLedger):
    """Salesforce ledger that expires every session once, right after the first answered call to ``path``
    (``/limits/`` is read just before the sink's first write, so the expiry lands between writes)."""

    def __init__(self, backend: Any, path: str):
        super().__init__()
        self.backend, self.path, self.expired = backend, path, 0

    def add(self, entry: LedgerEntry) -> None:
        super().add(entry)
        if not self.expired and entry.status == 200 and entry.path.endswith(self.path):
            self.expired = self.backend.expire_sessions()


def short_timeouts(rig: Rig) -> None:
    """Give every HTTP system a short client timeout, so an injected stall is a real read timeout."""
    text = re.sub(r"^(ca_bundle = .*)$", rf"\1\ntimeout_seconds = {CLIENT_TIMEOUT}",
                  rig.config_path.read_text(encoding="utf-8"), flags=re.M)
    rig.config_path.write_text(text, encoding="utf-8")
    rig.config = load_config(rig.config_path)


def inject(rig: Rig, expire_after: str) -> ExpiringLedger:
    """Faults on every emulator (after setup, so the sync is what is tested) and the session expiry."""
    for seed, system in enumerate(SYSTEMS, start=11):
        share = FAULT_SHARE / 4
        rig.cluster.emulators[system].ctx.faults = Faults(
            rate_429=share, rate_5xx=share, rate_drop=share, rate_timeout=share,
            timeout_seconds=CLIENT_TIMEOUT * 2, retry_after_seconds=0.2, seed=seed)
        rig.cluster.emulators[system].ctx.ledger.reset()
    salesforce = rig.cluster.emulators["salesforce"]
    ledger = ExpiringLedger(salesforce.backend, expire_after)
    salesforce.ctx.ledger = ledger
    return ledger


def injected(rig: Rig) -> dict[str, int]:
    """Calls answered per fault kind (and in total) across all emulators."""
    counts = {"total": 0}
    for emulator in rig.cluster.emulators.values():
        for entry in emulator.ctx.ledger.entries():
            counts["total"] += 1
            if entry.fault:
                counts[entry.fault] = counts.get(entry.fault, 0) + 1
    return counts


@pytest.mark.parametrize("primary_crm", ["salesforce", "hubspot"])
def test_faulted_sync_equals_clean_run(tmp_path: Path, primary_crm: str, request: pytest.FixtureRequest) -> None:
    clean: dict[str, Any] = request.getfixturevalue(f"clean_{primary_crm}")
    rig = start_rig(tmp_path, accounts=ACCOUNTS, primary_crm=primary_crm)
    try:
        short_timeouts(rig)
        ledger = inject(rig, expire_after="/limits/")
        result = run_sync(rig.config, now=NOW).as_json()
        state = crm_state(rig.cluster)
        counts = injected(rig)
        duplicates = duplicate_task_keys(rig.cluster)
    finally:
        rig.stop()

    assert result["status"] == "ok", (result["source_errors"], result["sink_errors"])
    assert not [f for s in result["sinks"].values() for f in s["failures"]]
    faulted = sum(n for kind, n in counts.items() if kind != "total")
    assert faulted / counts["total"] >= 0.20, counts
    assert {"429", "5xx", "drop", "timeout"} <= set(counts), counts
    assert ledger.expired, "the session expiry was never triggered"
    salesforce_calls = [(e.method, e.path, e.status) for e in ledger.entries()]
    assert any(s == 401 for _, _, s in salesforce_calls), "\n".join(map(str, salesforce_calls))
    assert ("POST", "/services/oauth2/token", 200) in salesforce_calls, "the connector did not re-authenticate"

    assert state == clean, state_diff(clean, state)
    assert not duplicates
    # Every injected fault was retried and the summary says so.  It may count a few more retries than
    # faults: a connection the emulator closed after a dropped response can fail on its next reuse.
    retries = {name: calls["retries"] for name, calls in result["calls"].items()}
    assert sum(retries.values()) >= faulted, (retries, counts)
    print(f"faults {counts}, retries {retries}", {k: v["rate_limit_wait_seconds"] for k, v in result["calls"].items()})

