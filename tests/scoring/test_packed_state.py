"""Packed engine states read back as exactly what the JSON state of the same run reads back as.

The JSON state (``ScoringResult.state_at``, what ``explain`` shows and what earlier versions saved) is the
reference: every column :func:`previous_from_json` makes of it — rounded numbers, dates, timestamps to the
second, the same-day baseline, what it leaves out — must come out of the packed rows unchanged, on the
state's own day (a re-run) and on the next day.  Column sets may differ (packed rows name every input,
the JSON only those it kept), so both are compared by name, a missing name read as its empty value.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from state_worlds import assert_same_previous, from_packed, world

from connector.scoring.previous import previous_from_json


@pytest.mark.parametrize(("days", "seed"), [(1, 1), (3, 2), (6, 3), (12, 4)])
def test_packed_rows_read_back_as_the_json_state(days: int, seed: int) -> None:
    result = world(days, seed)
    saved = json.loads(json.dumps([result.state_at(row) for row in range(result.inputs.n)]))
    assert any(s["plays"] for s in saved) or days == 1
    for today in (result.now.date(), result.now.date() + timedelta(days=1)):  # a re-run, the next day
        assert_same_previous(previous_from_json(saved, today), from_packed(result, today))


def test_a_world_with_trends_plans_and_undated_milestones_exercises_every_part() -> None:
    result = world(12, 4)
    saved = [result.state_at(row) for row in range(result.inputs.n)]
    assert any(s["trend"]["y"] for s in saved)
    assert any(s["trend"].get("candidate") for s in saved) or any(s["direction"] != "Flat" for s in saved)
    assert any("plan" in s for s in saved)
    assert any("unknown" in s["milestones"].values() for s in saved)
    assert any(p["cleared"] for s in saved for p in s["plays"].values()) or \
        any(p["first"] for s in saved for p in s["plays"].values())
