"""Helpers for the scoring tests: accounts and signals built from plain dicts, scored in one call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connector.records import Account, Signal, TaskEvidence
from connector.scoring import ScoringInputs, ScoringResult, SuccessModel, default_model_path, load_model, score

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

#: A healthy enterprise customer well along its path: used as the base most tests tweak.
HEALTHY: dict[str, Any] = {
    "active_users": 70, "licensed_seats": 100, "features_adopted": 6, "key_features_total": 10,
    "meaningful_events_30d": 250, "resolution_hours_median": 6, "tickets_open": 1, "nps": 9,
    "subscription_status": "active", "payments_failed_90d": 0, "days_overdue": 0, "training_completed": 3,
}


DEFAULT_MODEL = load_model(default_model_path())


def run(
    signals: Mapping[str, Mapping[str, Any]],
    *,
    now: datetime = NOW,
    state: Mapping[str, dict[str, Any]] | None = None,
    history: Mapping[str, list[tuple[datetime, float]]] | None = None,
    accounts: Mapping[str, dict[str, Any]] | None = None,
    ages: Mapping[str, float] | None = None,
    model: SuccessModel = DEFAULT_MODEL,
    evidence: Iterable[TaskEvidence] = (),
) -> ScoringResult:
    """Score ``{"A": {signal: value}}`` accounts as the sync would: records → inputs → ``score``."""
    accs = [make_account(aid, **(accounts or {}).get(aid, {})) for aid in signals]
    sigs = [Signal(aid, name, value, now - timedelta(days=(ages or {}).get(name, 1)), "test")
            for aid, values in signals.items() for name, value in values.items()]
    inputs = ScoringInputs.from_records(accs, sigs, history or {}, state or {}, now, evidence)
    return score(inputs, model, now)


def make_account(account_id: str, **overrides: Any) -> Account:
    base: dict[str, Any] = {
        "system": "salesforce", "name": f"Account {account_id}", "owner_id": "005OWNER",
        "segment": "Enterprise", "contract_start": date(2024, 6, 1), "renewal_date": date(2025, 12, 1),
        "arr": 60_000.0,
    }
    base.update(overrides)
    return Account(account_id=account_id, **base)


def fields(result: ScoringResult, account_id: str) -> dict[str, Any]:
    return result.fields(result.inputs.row(account_id))


def open_plays(result: ScoringResult) -> set[tuple[str, str, int]]:
    """(account, play, step) for every play in a task written this run (merged plays included)."""
    return {(t.account_id, p, t.step) for t in result.tasks() if t.status == "open" for p in t.plays}
