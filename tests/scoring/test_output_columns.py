"""Outputs made a block of accounts at a time are the per-account outputs, value for value and type for
type, at any block size; so are their JSON-ready forms and the book snapshots the score history keeps."""

from __future__ import annotations

import math
from typing import Any

import pytest
from state_worlds import world

import connector.scoring.output_columns as output_columns_module
from connector.records import AccountOutput
from connector.safe_output import json_ready, json_ready_column
from connector.scoring.book import NUMBERS, book_rows
from connector.scoring.conditions import Categorical
from connector.scoring.milestones import STATUS_LABELS
from connector.scoring.output_columns import output_blocks
from connector.scoring.output_table import OutputTable
from connector.scoring.result import ScoringResult


def _typed(value: Any) -> Any:
    """A value with its type, so ``1 == 1.0 == True`` and NaN compare as they would be written."""
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    return (type(value).__name__, value)


def book_snapshots(result: ScoringResult) -> Any:
    """The book snapshot one row at a time, as the score history made it before it was made by column."""
    columns = result.columns
    numbers = {"arr": result.inputs.arr, **{name: columns.number(name) for name in NUMBERS}}
    status = columns("subscription_status")

    def snapshot(row: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, col in numbers.items():
            value = float(col[row])
            out[name] = None if math.isnan(value) else round(value, 2)
        out["subscription_status"] = status.value_at(row) if isinstance(status, Categorical) else None
        return out

    return snapshot


def _rows(outputs: list[AccountOutput]) -> list[Any]:
    return [(o.account_id, o.owner_id, o.domain, o.name, [(k, _typed(v)) for k, v in o.fields.items()])
            for o in outputs]


@pytest.mark.parametrize(("days", "seed", "block"), [(1, 11, 2048), (4, 12, 3), (8, 13, 5), (12, 4, 1)])
def test_columns_are_the_per_account_outputs(days: int, seed: int, block: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    result = world(days, seed)
    monkeypatch.setattr(output_columns_module, "OUTPUT_BLOCK", block)
    table = OutputTable()
    blocks = list(output_blocks(result, table))
    assert blocks[0][0] == 0 and blocks[-1][1] == result.inputs.n
    alone = world(days, seed)  # the same world, its sentences made row by row (each result keeps its own)
    want = [alone.output(row) for row in range(alone.inputs.n)]
    assert _rows(list(table)) == _rows(want)
    for start, stop, columns in blocks:
        for name, column in columns.items():
            assert [_typed(x) for x in json_ready_column(column)] == [_typed(json_ready(x)) for x in column], name
        snapshot = book_snapshots(result)
        assert [[(k, _typed(v)) for k, v in b.items()] for b in book_rows(result, start, stop)] == \
            [[(k, _typed(v)) for k, v in snapshot(row).items()] for row in range(start, stop)]


def _seen(result: ScoringResult) -> dict[str, int]:
    fields = [result.fields(row) for row in range(result.inputs.n)]
    return {name: sum(f[name] not in (None, "") for f in fields) for name in fields[0]}


def test_the_worlds_exercise_every_field() -> None:
    seen = _seen(world(12, 4))
    for name in ("success_vector", "vector_velocity", "next_milestone_due", "ttfv_days", "quadrant",
                 "risk_flags", "next_action", "cost_to_serve", "current_stage"):
        assert seen[name] > 0, name
    assert seen["next_milestone_due"] < 23 or seen["ttfv_days"] < 23  # some rows None as well


def test_json_ready_column_turns_what_json_ready_turns() -> None:
    from datetime import UTC, date, datetime
    column = [1, 2.5, float("nan"), float("inf"), None, "x", True, date(2026, 1, 2),
              datetime(2026, 1, 2, 3, 4, tzinfo=UTC), date(2026, 1, 2)]
    assert [_typed(x) for x in json_ready_column(column)] == [_typed(json_ready(x)) for x in column]
    assert json_ready_column(["a", None, 3]) == ["a", None, 3]
    assert json_ready_column([1.0, -math.inf]) == [1.0, None]
    assert json_ready_column([[1, 2], {"a": date(2026, 1, 1)}]) == [[1, 2], {"a": "2026-01-01"}]


def test_priority_reasons_by_key_are_the_per_account_texts_at_the_edges() -> None:
    """Scores and speeds on the rounding and band edges (x.5, just either side of the watch and at-risk
    lines, NaN), every direction and status, all flag sets: the keyed texts are the row method's."""
    import numpy as np

    result = world(8, 21)
    n, cfg = result.inputs.n, result.model.priority
    rng = np.random.default_rng(5)
    edges = np.array([cfg.watch_below, cfg.at_risk_below, 0.0, 100.0, 50.5, 51.5])
    offsets = np.array([-0.5, -1e-9, 0.0, 1e-9, 0.49999999999999994, 0.5])
    speeds = np.array([-2.5, -2.6, -3.0, -3.4, -3.5, -0.5, 0.5, -2.4999999, 7.0, np.nan])
    for _ in range(400):  # a world is a few dozen accounts: each draw takes few values, so edges share keys
        magnitude = rng.choice(rng.choice(edges, 2), n) + rng.choice(rng.choice(offsets, 3), n)
        magnitude[rng.random(n) < 0.1] = np.nan
        result.vector.magnitude[:] = np.clip(magnitude, 0.0, 100.0)
        result.vector.velocity[:] = rng.choice(rng.choice(speeds, 3), n)
        result.vector.band[:] = rng.choice([5.0, 6.0, 7.0], n)  # hysteresis lines 2.5 / 3.0 / 3.5 at ratio 0.5
        result.vector.direction[:] = rng.choice(rng.integers(-1, 2, 2), n)
        result.next_status[:] = rng.choice(rng.choice(sorted(STATUS_LABELS), 2), n)
        result.flags[:] = rng.random(result.flags.shape) < 0.02
        assert result.priority_reasons(0, n) == [result.priority_reason(row) for row in range(n)]


def test_next_actions_by_key_are_the_per_account_texts() -> None:
    """Every leading play, step, segment and set of other ready digital plays: the keyed texts are the row
    method's."""
    import numpy as np

    result = world(8, 22)
    pl, n = result.plays, result.inputs.n
    rng = np.random.default_rng(6)
    segments = result.seg.copy()
    usable = [(p, s) for p in range(pl.ladders.shape[0]) for s in range(pl.ladders.shape[1]) if pl.ladders[p, s]]
    assert usable
    for _ in range(300):
        picked = [usable[i] for i in rng.integers(0, len(usable), 2)]
        at = rng.integers(0, 2, n)
        top = np.array([picked[i][0] for i in at])
        result.seg[:] = np.where(rng.random(n) < 0.9, [picked[i][1] for i in at], segments)
        ok = np.array([bool(pl.ladders[t, s]) for t, s in zip(top, result.seg, strict=True)])
        pl.digital[:] = np.where(ok & (rng.random(n) < 0.8), top, -1)
        pl.digital_step[:] = [rng.integers(0, max(1, min(2, len(pl.ladders[t, s])))) for t, s in
                              zip(top, result.seg, strict=True)]
        pl.digital_plays[:] = rng.random(pl.digital_plays.shape) < 0.2
        want = [result.next_action(row) for row in range(n)]
        assert output_columns_module._next_actions(result, 0, n) == want


@pytest.mark.parametrize(("days", "seed"), [(1, 11), (4, 12), (8, 13), (12, 4)])
def test_a_block_of_sentences_is_each_movement_s_sentence(days: int, seed: int) -> None:
    """Flat rows with a velocity are written from the numbers (no Movement made): each says what the
    sentence of its movement says, held-back input and hold count-down included."""
    from connector.scoring.drivers import drivers_sentence

    result = world(days, seed)
    block = result.drivers_block(0, result.inputs.n)
    want = [drivers_sentence(result.movement(row)) for row in range(result.inputs.n)]
    assert block == want
    if days >= 8:
        steady = [t for t in want if t.startswith("Steady at") and "not enough history" not in t]
        assert any("held back by" in t for t in steady) and any("noise band" in t for t in steady)
