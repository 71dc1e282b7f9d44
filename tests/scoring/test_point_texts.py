"""A point's text made a field at a time is ``json.dumps`` of the point's dict, character for character:
for every kind of value a column may hold, and for every account of scored worlds (the digests that let
a re-score skip a point are of these texts)."""

from __future__ import annotations

import enum
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from state_worlds import world

from connector.safe_output import json_ready_column
from connector.scoring.book import book_columns, book_rows
from connector.scoring.output_columns import output_blocks
from connector.scoring.output_table import OutputTable
from connector.scoring.point_texts import encoded_column, point_texts


class Level(enum.IntEnum):
    HIGH = 3


KINDS: list[Any] = [
    None, True, False, 0, -7, 2**70, 0.0, -0.0, 1.5, 1e300, 5e-324, 71.0, float("nan"), float("inf"),
    float("-inf"), "", "plain", 'quote " and \\ backslash', "tab\tnew\nline\x00\x1f", "café – ünïcode ✓",
    "\ud800 lone surrogate", "emoji 😀", "50% off %s %d", "2026-11-02", {"a": 1, "b": [1.5, None]},
    [1, "x"], Level.HIGH,
]


@pytest.mark.parametrize("value", KINDS, ids=repr)
def test_each_kind_of_value_is_written_as_json_dumps_writes_it(value: Any) -> None:
    outputs = {"field": [value, value], "other %s": ["x", value]}
    book = {"arr": [value, 1.0], "status": ["active", None]}
    made = point_texts(outputs, book)
    want = [json.dumps({"field": value, "other %s": "x", "book": {"arr": value, "status": "active"}}),
            json.dumps({"field": value, "other %s": value, "book": {"arr": 1.0, "status": None}})]
    assert made == want


@pytest.mark.parametrize("column", [
    ["a", "b\n"], [1.0, 2.5, -0.0], [1, 2, 3], [1.0, float("nan")], [True, 1, 1.0, None, "1"], [], KINDS,
])
def test_a_column_of_one_kind_or_many_is_encoded_as_json_dumps(column: list[Any]) -> None:
    assert encoded_column(column) == [json.dumps(v) for v in column]


def test_an_output_named_book_is_refused() -> None:
    with pytest.raises(ValueError, match="book"):
        point_texts({"book": [1]}, {"arr": [1.0]})


@pytest.mark.parametrize(("days", "seed"), [(1, 11), (8, 13), (12, 4)])
def test_every_account_of_a_world_gets_the_text_of_its_point_dict(days: int, seed: int) -> None:
    result = world(days, seed)
    assert result.now.microsecond  # the stamp is written to the microsecond
    for start, stop, columns in output_blocks(result, OutputTable()):
        ready = {k: json_ready_column(c) for k, c in columns.items()}
        books = book_rows(result, start, stop)
        want = [json.dumps({**{k: c[i] for k, c in ready.items()}, "book": books[i]}) for i in range(stop - start)]
        assert point_texts(ready, book_columns(result, start, stop)) == want


def test_dates_are_written_as_their_text() -> None:
    ready = json_ready_column([date(2026, 1, 2), None, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)])
    assert point_texts({"due": ready}, {}) == [json.dumps({"due": v, "book": {}}) for v in ready]
