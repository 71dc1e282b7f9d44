"""Fixtures of the reliability suite: the clean-run state every faulted or crashed run must reach."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.logging import configure
from connector.runtime import run_sync

from .rel_kit import NOW, crm_state, duplicate_task_keys, start_rig

ACCOUNTS = 80


@pytest.fixture(scope="session", autouse=True)
def _quiet_logs() -> None:
    configure("WARNING")


def clean_state(workdir: Path, accounts: int, primary_crm: str = "salesforce") -> dict[str, Any]:
    """Sync a fresh cluster once with no faults; the state every other run of that world must reach."""
    rig = start_rig(workdir, accounts=accounts, primary_crm=primary_crm)
    try:
        result = run_sync(rig.config, now=NOW)
        assert result.status == "ok", (result.source_errors, result.sink_errors)
        assert not duplicate_task_keys(rig.cluster)
        return crm_state(rig.cluster)
    finally:
        rig.stop()


@pytest.fixture(scope="session")
def clean_salesforce(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    yield clean_state(tmp_path_factory.mktemp("clean-sf"), ACCOUNTS)


@pytest.fixture(scope="session")
def clean_hubspot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    yield clean_state(tmp_path_factory.mktemp("clean-hs"), ACCOUNTS, primary_crm="hubspot")
