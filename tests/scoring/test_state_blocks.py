"""Engine states made a block of rows at a time are the states made one row at a time, at every block
boundary, and survive a JSON round trip unchanged (what the store writes and reads back)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from scoring_helpers import HEALTHY, NOW, run

import connector.scoring.result as result_module

SICK = {**HEALTHY, "active_users": 5, "payments_failed_90d": 2, "subscription_status": "past_due",
        "tickets_open": 9, "nps": 2}


def _accounts() -> dict[str, dict[str, object]]:
    """Seven accounts: healthy, failing, and in between, so plays, trends and candidates differ by row."""
    out: dict[str, dict[str, object]] = {}
    for i in range(7):
        base = SICK if i % 3 == 1 else HEALTHY
        out[f"A{i}"] = {**base, "active_users": int(base["active_users"]) + i, "meaningful_events_30d": 40 * i}
    return out


def _days(days: int) -> object:
    """The accounts scored on ``days`` consecutive days, each day from the last day's states."""
    accounts = _accounts()
    state: dict[str, dict[str, object]] = {}
    result = None
    for day in range(days):
        drift = {a: {**s, "active_users": int(str(s["active_users"])) - 3 * day} for a, s in accounts.items()}
        result = run(drift, now=NOW + timedelta(days=day), state=state)
        state = dict(result.states())
    return result


@pytest.mark.parametrize("block", [1, 2, 3, 7, 2048])
def test_blocks_of_any_size_give_the_row_by_row_states(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _days(4)
    one_by_one = {str(result.inputs.account_ids[row]): result.state_at(row) for row in range(result.inputs.n)}
    assert any(s["trend"]["y"] for s in one_by_one.values())  # sums carried: the rounded columns are exercised
    assert any(s["plays"] for s in one_by_one.values())
    monkeypatch.setattr(result_module, "_STATE_BLOCK", block)
    blocked = dict(result.states())
    assert list(blocked) == list(one_by_one)
    assert json.dumps(blocked) == json.dumps(one_by_one)
    assert json.loads(json.dumps(blocked)) == blocked  # what the store reads back is what was made
