"""CLI output with hostile external strings and non-finite numbers: printed as text, emitted as strict JSON."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from connector.numbers import parse_number
from connector.render import render_check, render_quarantine, render_sync
from connector.safe_output import dumps, for_terminal, json_ready
from connector.sync import SyncResult

HOSTILE = [
    "Acme [/] Ltd",
    "[link=https://evil.example]click[/link]",
    "\x1b[2J\x1b[31mred\x1b[0m",
    "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07",
    "line\rover",
    "bell\x07 and nul\x00",
    "\u202eevil",
    "back\\slash[",
]


def _printed(render: Any) -> str:
    console = Console(record=True, width=200, force_terminal=False, color_system=None)
    render(console)
    return console.export_text()


@pytest.mark.parametrize("text", HOSTILE)
def test_external_text_prints_as_its_printable_characters(text: str) -> None:
    shown = _printed(lambda c: c.print(f"[bold]{for_terminal(text)}[/]"))
    assert not any(ch in shown for ch in "\x1b\x07\x00\r\u202e")
    visible = "".join(ch for ch in text if ch.isprintable() and ch != "\u202e")
    for part in ("Acme [/] Ltd", "[link=https://evil.example]", "back\\slash["):
        if part in visible:
            assert part in shown


def test_render_functions_take_markup_in_every_external_field() -> None:
    result = SyncResult(run_id=1, dry_run=False)
    result.source_errors["zendesk"] = "HTTP 400 [/] \x1b[2Jbad"
    assert "HTTP 400 [/] bad" in _printed(lambda c: render_sync(c, result))
    report = {"ok": False, "systems": {"stripe": {"reachable": False, "error": "[/] refused"}},
              "identity": {"rates": {"usage": {"total": 1, "matched": 0, "ambiguous": 0, "unmatched": 1,
                                               "match_rate": 0.0}},
                           "top_unmatched": {"usage": [{"entity": "account", "entity_id": "[/]\x1b[2J",
                                                        "status": "unmatched", "key": "[b]", "candidates": []}]}}}
    assert "[/] refused" in _printed(lambda c: render_check(c, report))
    quarantined = [{"source": "usage", "entity": "usage_row", "entity_id": "[/]\x1b[2J", "reason": "row 3: [b]x",
                    "seen": 1, "last_seen": ""}]
    assert "row 3: [b]x" in _printed(lambda c: render_quarantine(c, quarantined, 10))


def test_json_output_never_holds_nan_or_infinity() -> None:
    data = {"a": math.inf, "b": [math.nan, 1.5], "c": {"d": -math.inf}, "e": np.float64("inf"), "f": "x"}
    text = dumps(data)
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard constant {c}")) == {
        "a": None, "b": [None, 1.5], "c": {"d": None}, "e": None, "f": "x"}
    with pytest.raises(ValueError):  # what a default= hook returns is checked too
        dumps({"x": object()}, default=lambda _o: math.nan)


@pytest.mark.parametrize("raw", ["1_000", "١٢٣", "²", "inf", "-Infinity", "nan", "0x1A", "1e400", "1e300", " ",
                                 "1,5", "½", True, 10**400, float("nan")])
def test_numbers_are_plain_finite_and_plausible(raw: Any) -> None:
    with pytest.raises(ValueError):
        parse_number(raw)


def test_plain_numbers_parse() -> None:
    assert [parse_number(v) for v in ("12", " -3.5 ", "1e3", ".5", 7, 2.5)] == [12.0, -3.5, 1000.0, 0.5, 7.0, 2.5]


class _Odd:
    def __str__(self) -> str:
        return "odd"


@pytest.mark.parametrize("value", [
    {"a": 1, "b": 1.0, "c": True, "d": None, "e": "x", "f": -0.0, "g": float("nan"), "h": float("inf")},
    {"due": date(2026, 12, 1), "at": datetime(2026, 11, 30, 9, 0, tzinfo=UTC), "naive": datetime(2026, 1, 2, 3, 4)},
    {"nested": {"t": (1, 2.5, "z"), "l": [None, date(2026, 1, 1)]}, "big": 2**70},
    {"np": np.float64(0.1), "np_nan": np.float64("nan"), "i": np.int64(3)},
    [1, {"k": Decimal("1.10")}, object.__new__(_Odd)],
    {1: "int key", "s": "str"},
])
def test_json_ready_is_the_json_round_trip(value: object) -> None:
    """The score history's rows skip the text round trip; what they hold must not change by it."""
    assert json_ready(value) == json.loads(dumps(value, default=str))
    assert json.dumps(json_ready(value)) == json.dumps(json.loads(dumps(value, default=str)))
