"""The demo end to end on a small world: it succeeds, writes the report, and shows movement over weeks."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.config import load_config
from connector.demo import run_demo
from connector.runtime import open_store
from connector.store.schema import ScoreRow

from .crm_readback import blank_risk_flags

READBACK: dict[str, list[str]] = {}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path, str]:
    out_dir = tmp_path_factory.mktemp("demo")
    buffer = io.StringIO()
    code = run_demo(accounts=60, out_dir=out_dir, console=Console(file=buffer, width=200), runs=3, keep_seconds=0,
                    inspect=lambda cluster, config: READBACK.update(blank_risk_flags(cluster, config)))
    return code, out_dir, buffer.getvalue()


def test_no_flagged_account_shows_empty_risk_flags_in_either_crm(demo: tuple[int, Path, str]) -> None:
    """Read back through simple-salesforce and hubspot-api-client after the demo's last sync."""
    assert READBACK["flagged accounts"], "the demo world has accounts with risk flags"
    assert (READBACK["salesforce"], READBACK["hubspot"]) == ([], [])


def test_demo_succeeds_and_says_so(demo: tuple[int, Path, str]) -> None:
    code, _, output = demo
    assert code == 0, output
    assert "Every part worked." in output
    assert "/salesforce" in output and "/zendesk" in output


def test_report_has_the_charts(demo: tuple[int, Path, str]) -> None:
    _, out_dir, _ = demo
    html = (out_dir / "report.html").read_text(encoding="utf-8")
    for chart in ("vector", "change", "quadrant", "calls", "runs"):
        assert f'data-target="chart-{chart}"' in html


def test_accounts_move_between_weeks_and_tasks_are_created(demo: tuple[int, Path, str]) -> None:
    _, out_dir, _ = demo
    store = open_store(load_config(out_dir / "connector.toml"))
    try:
        with Session(store.engine) as s:
            rows = s.execute(select(ScoreRow.account_id, ScoreRow.direction, ScoreRow.outputs)).all()
        tasks = store.tasks("salesforce")
    finally:
        store.close()
    seen: dict[str, set[tuple[object, object]]] = {}
    for account_id, direction, outputs in rows:
        seen.setdefault(account_id, set()).add((direction, (outputs or {}).get("current_stage")))
    assert sum(1 for states in seen.values() if len(states) > 1) >= 1
    assert tasks


def test_later_syncs_write_far_less_than_the_first(demo: tuple[int, Path, str]) -> None:
    _, out_dir, _ = demo
    store = open_store(load_config(out_dir / "connector.toml"))
    try:
        runs = sorted((r for r in store.runs(limit=20) if r.kind == "sync"), key=lambda r: r.id)
    finally:
        store.close()
    written = [sum(s["fields_written"] for s in (r.stats or {})["sinks"].values()) for r in runs]
    calls = [_write_calls((r.stats or {})["calls"]) for r in runs]
    assert len(written) == 4  # 3 weekly syncs + the re-run
    assert written[1] < 0.7 * written[0] and written[2] < 0.7 * written[0]
    assert calls[0] > 0 and calls[1] <= calls[0] and calls[2] <= calls[0]


def _write_calls(calls: dict[str, dict[str, Any]]) -> int:
    """Calls that write records (not token refreshes, batch reads or searches), from a run's HTTP ledger."""
    reads = ("oauth2/token", "/batch/read", "/search")
    return sum(int(n) for system in calls.values() for endpoint, n in system["endpoints"].items()
               if endpoint.split(" ", 1)[0] in ("POST", "PATCH", "PUT") and not endpoint.endswith(reads))
