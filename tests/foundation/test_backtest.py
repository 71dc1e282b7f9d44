"""``connector backtest`` on a hand-built score history: every figure is known by construction."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.backtest import run_backtest
from connector.cli import app
from connector.store import Store

START = datetime(2026, 1, 5, 9, tzinfo=UTC)
DAYS = (0, 7, 14, 21)


def _row(run: int, account: str, *, direction: str = "Flat", magnitude: float = 70.0, flags: str = "",
         arr: float = 10_000.0, churned: float = 0.0, status: str = "active") -> dict[str, Any]:
    return {"run_id": run + 1, "account_id": account, "scored_at": START + timedelta(days=DAYS[run]),
            "magnitude": magnitude, "velocity": 0.0, "direction": direction, "confidence": 90,
            "quadrant": "Success",
            "outputs": {"risk_flags": flags, "book": {"arr": arr, "mrr": arr / 12, "licensed_seats": 10,
                                                     "churned": churned, "subscription_status": status}}}


def history() -> list[dict[str, Any]]:
    """A: payment_failed on days 7 and 14, churns on day 21 (hit, lead 14 days).
    B: payment_failed on day 0, nothing happens (a false alarm).
    C: Negative on day 7, downgrades 20 % on day 14 (hit for the direction, lead 7; missed by payment_failed).
    D: Negative on day 21, nothing happens.  E: already churned at its first run (left out).
    F: expands 30 % on day 14."""
    rows = []
    for run in range(4):
        rows.append(_row(run, "A", magnitude=30.0, flags="payment_failed" if run in (1, 2) else "",
                         churned=1.0 if run == 3 else 0.0, status="canceled" if run == 3 else "active"))
        rows.append(_row(run, "B", magnitude=50.0, flags="payment_failed" if run == 0 else ""))
        rows.append(_row(run, "C", magnitude=60.0, direction="Negative" if run == 1 else "Flat",
                         arr=8_000.0 if run >= 2 else 10_000.0))
        rows.append(_row(run, "D", magnitude=80.0, direction="Negative" if run == 3 else "Flat"))
        rows.append(_row(run, "E", magnitude=10.0, churned=1.0, status="canceled"))
        rows.append(_row(run, "F", magnitude=90.0, arr=13_000.0 if run >= 2 else 10_000.0))
    return rows


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'state.db'}")
    s.append_scores(history())
    return s


def _signal(data: dict[str, Any], name: str, kind: str) -> dict[str, Any]:
    return next(s for s in data["signals"] if s["signal"] == name)["by_outcome"][kind]


def test_outcomes_come_from_changes_between_runs_and_already_gone_accounts_are_left_out(store: Store) -> None:
    data = run_backtest(store)
    assert data["history"]["accounts"] == 5 and data["history"]["left_out_already_gone"] == 1
    assert data["outcomes"] == {"churn": 1, "downgrade": 1, "adverse": 2, "expansion": 1}
    assert data["history"]["span_days"] == 21.0


def test_precision_recall_lift_and_lead_time_known_by_construction(store: Store) -> None:
    data = run_backtest(store, horizon_days=90)
    # Base rate of adverse outcomes: A and C of the 5 accounts counted.
    assert _signal(data, "flag:payment_failed", "adverse") == {
        "warned": 2, "hits": 1, "precision": 0.5, "recall": 0.5, "lift": 1.25,
        "lead_days_median": 14.0, "lead_days_range": [14.0, 14.0]}
    assert _signal(data, "negative_direction", "adverse") == {
        "warned": 2, "hits": 1, "precision": 0.5, "recall": 0.5, "lift": 1.25,
        "lead_days_median": 7.0, "lead_days_range": [7.0, 7.0]}
    # Churn alone: only A; the direction never warned it.
    assert _signal(data, "flag:payment_failed", "churn")["recall"] == 1.0
    assert _signal(data, "negative_direction", "churn")["hits"] == 0
    # The vector below 40: only A (30) ever was; E (10) is left out.
    assert _signal(data, "vector_below_40", "adverse")["warned"] == 1
    assert _signal(data, "vector_below_40", "adverse")["lead_days_median"] == 21.0


def test_a_warning_older_than_the_horizon_does_not_count(store: Store) -> None:
    data = run_backtest(store, horizon_days=10)
    # A's first warning (day 7) is 14 days before its churn: only day 14's (7 days before) is inside.
    assert _signal(data, "flag:payment_failed", "adverse")["lead_days_median"] == 7.0
    assert _signal(data, "vector_below_40", "adverse")["lead_days_median"] == 7.0


def test_lift_table_ranks_accounts_by_their_first_vector(store: Store) -> None:
    lift = run_backtest(store)["lift_table"]
    assert lift["base_rate"] == 0.4
    assert [(r["vector_from"], r["outcomes"]) for r in lift["rows"]] == [(30.0, 1), (50.0, 0), (60.0, 1),
                                                                         (80.0, 0), (90.0, 0)]
    assert lift["rows"][0]["lift"] == 2.5


def test_cli_json_is_strict_json_with_every_signal(tmp_path: Path, store: Store) -> None:
    config = tmp_path / "connector.toml"
    config.write_text(f'[connector]\nstate_url = "sqlite:///{tmp_path / "state.db"}"\nprimary_crm = "salesforce"\n'
                      '[salesforce]\nbase_url = "https://127.0.0.1:9"\nsession_id_env = "SF_TOKEN"\n',
                      encoding="utf-8")
    result = CliRunner().invoke(app, ["backtest", "--config", str(config), "--json", "--horizon", "30"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert data["parameters"]["horizon_days"] == 30
    names = {s["signal"] for s in data["signals"]}
    assert names == {"negative_direction", "vector_below_40", "flag:payment_failed"}
    assert _signal(data, "flag:payment_failed", "expansion")["precision"] == 0.0
    assert _signal(data, "vector_below_40", "expansion")["lift"] == 0.0


def test_since_replays_only_the_later_runs(store: Store) -> None:
    """From day 14 on, A's churn (day 21) and F's expansion (day 14 vs day 7, not replayed) are what is left."""
    data = run_backtest(store, since=START + timedelta(days=14))
    assert data["history"]["span_days"] == 7.0
    assert data["outcomes"] == {"churn": 1, "downgrade": 0, "adverse": 1, "expansion": 0}
    assert _signal(data, "flag:payment_failed", "churn")["lead_days_median"] == 7.0


def test_empty_store_reports_nothing_rather_than_failing(tmp_path: Path) -> None:
    data = run_backtest(Store(f"sqlite:///{tmp_path / 'empty.db'}"))
    assert data["outcomes"] == {"churn": 0, "downgrade": 0, "adverse": 0, "expansion": 0}
    assert data["lift_table"]["rows"] == []
    json.dumps(data, allow_nan=False)
