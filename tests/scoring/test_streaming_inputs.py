"""``ScoringInputs.from_records`` reading signals, history and state as streams.

The streaming build exists for memory (no ``Signal``, series or state dict outlives its chunk); these tests
pin that it builds exactly the columns the record-by-record build made: the same winner per (account,
signal), the same history matrix, and the same previous state as one ``previous_from_json`` over all rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields as dataclass_fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scoring_helpers import make_account

from connector.records import Signal
from connector.scoring import inputs as inputs_module
from connector.scoring.conditions import Categorical
from connector.scoring.days import days_ago
from connector.scoring.inputs import (
    MAX_HISTORY_POINTS,
    PreviousState,
    ScoringInputs,
    _daily,
    day_number,
    previous_from_json,
)

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
TODAY = NOW.date()


def assert_same_previous(got: PreviousState, want: PreviousState) -> None:
    assert got.contribution_names == want.contribution_names
    assert got.milestone_names == want.milestone_names
    assert got.plays.names == want.plays.names
    for name in ("magnitude", "direction", "contributions", "achieved"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b, equal_nan=True), name
    for f in dataclass_fields(want.plays):
        if f.name == "names":
            continue
        a, b = getattr(got.plays, f.name), getattr(want.plays, f.name)
        assert a.dtype == b.dtype and a.shape == b.shape, f.name
        assert np.array_equal(a, b, equal_nan=True), f.name


def _state(magnitude: float | None, plays: dict[str, Any], milestones: dict[str, str],
           contributions: dict[str, float], scored_at: str = "2025-03-02T09:00:00+00:00") -> dict[str, Any]:
    return {"v": 1, "scored_at": scored_at, "magnitude": magnitude, "direction": "Negative",
            "contributions": contributions, "baseline": {"magnitude": 1.0, "contributions": {"x": 2.0}},
            "milestones": milestones, "plays": plays}


#: Mixed on purpose: accounts without state, falsy state, play / milestone / contribution names that only
#: some chunks see, a same-day re-run (baseline used), a state for an account that is not scored.
STATES: dict[str, dict[str, Any]] = {
    "A": _state(50.0, {"renewal": {"first": "2025-01-01T00:00:00+00:00", "step": 1, "last": None, "cleared": None}},
                {"kickoff": "2024-07-01"}, {"usage": 3.5}),
    "C": _state(None, {}, {}, {"support": -1.0}),
    "D": _state(12.5, {"rescue": {"first": "2025-02-01", "step": 0, "last": "2025-02-02T10:00:00", "cleared": None}},
                {"adoption": "2024-09-09", "kickoff": "2024-07-02"}, {"usage": 1.0, "zeta": 0.5},
                scored_at="2025-03-03T08:00:00+00:00"),
    "E": {},
    "G": _state(70.0, {"expansion": {"first": None, "step": 2, "last": None, "cleared": "2025-01-05"},
                       "renewal": {"step": "bad"}}, {"value": "not a date"}, {"alpha": 9.0}),
    "NOT-SCORED": _state(99.0, {"ghost": {"first": "2025-01-01"}}, {"ghost": "2025-01-01"}, {"ghost": 1.0}),
}
ACCOUNT_IDS = ["A", "B", "C", "D", "E", "F", "G", "H"]


def _accounts() -> list[Any]:
    return [make_account(a) for a in ACCOUNT_IDS]


def _expected_previous() -> PreviousState:
    return previous_from_json([STATES.get(a) or {} for a in ACCOUNT_IDS], TODAY)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5000])
def test_state_stream_in_small_chunks_equals_one_previous_from_json(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inputs_module, "STATE_CHUNK", chunk)
    stream = ((a, s) for a, s in STATES.items())
    got = ScoringInputs.from_records(_accounts(), [], {}, stream, NOW).previous
    assert got.plays.names == ("expansion", "renewal", "rescue")  # the union, sorted, without "ghost"
    assert_same_previous(got, _expected_previous())


def test_state_mapping_still_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs_module, "STATE_CHUNK", 2)
    got = ScoringInputs.from_records(_accounts(), [], {}, STATES, NOW).previous
    assert_same_previous(got, _expected_previous())


def test_assemble_aligns_parts_with_different_names() -> None:
    first = previous_from_json([STATES["D"], STATES["A"]], TODAY)
    second = previous_from_json([STATES["G"]], TODAY)
    got = PreviousState.assemble(5, iter([(np.array([3, 0]), first), (np.array([1]), second)]))
    want = previous_from_json([STATES["A"], STATES["G"], {}, STATES["D"], {}], TODAY)
    assert_same_previous(got, want)


def test_assemble_without_parts_is_the_no_state_default() -> None:
    assert_same_previous(PreviousState.assemble(3, []), previous_from_json([{}, {}, {}], TODAY))


# -- signals ------------------------------------------------------------------------------------------


def _reference_signal_columns(
    account_ids: list[str], signals: list[Signal], now: datetime
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Categorical]]:
    """The record-by-record build the streaming one replaced: keep the winning Signal, then convert."""
    n, row, now_day = len(account_ids), {a: i for i, a in enumerate(account_ids)}, day_number(now)
    latest: dict[tuple[int, str], Signal] = {}
    for sig in signals:
        i = row.get(sig.account_id)
        if i is None or sig.value is None:
            continue
        held = latest.get((i, sig.name))
        if held is None or sig.as_of >= held.as_of:
            latest[(i, sig.name)] = sig
    numeric: dict[str, np.ndarray] = {}
    ages: dict[str, np.ndarray] = {}
    text_values: dict[str, list[str | None]] = {}
    for (i, name), sig in latest.items():
        if isinstance(sig.value, str):
            text_values.setdefault(name, [None] * n)[i] = sig.value
        else:
            numeric.setdefault(name, np.full(n, np.nan))[i] = float(sig.value)  # type: ignore[arg-type]
        ages.setdefault(name, np.full(n, np.nan, np.float32))[i] = days_ago(now_day, day_number(sig.as_of))
    return numeric, ages, {k: Categorical.from_values(v) for k, v in text_values.items()}


def _signals() -> list[Signal]:
    t = NOW - timedelta(days=3)
    return [
        Signal("A", "nps", 5.0, t, "s"),
        Signal("A", "nps", 7.0, t, "s"),                        # tie: the later one seen wins
        Signal("A", "nps", 9.0, t - timedelta(days=1), "s"),    # older: loses
        Signal("A", "nps", None, t + timedelta(days=1), "s"),   # None: skipped, even when newest
        Signal("B", "plan", "gold", t, "s"),
        Signal("B", "plan", "silver", t + timedelta(hours=1), "s"),  # "gold" is no winner: not a category
        Signal("C", "plan", "bronze", t, "s"),
        Signal("C", "mixed", "text", t, "s"),
        Signal("C", "mixed", 4.0, t + timedelta(microseconds=1), "s"),  # numeric supersedes text
        Signal("D", "mixed", 3.0, t, "s"),
        Signal("D", "mixed", "word", t + timedelta(hours=2), "s"),      # text supersedes numeric
        Signal("E", "flip", "only text wins", t + timedelta(days=1), "s"),
        Signal("E", "flip", 1.0, t, "s"),                       # a numeric that never wins: no numeric column
        Signal("ZZ", "nps", 1.0, t, "s"),                       # unknown account: skipped
        Signal("B", "arr", 1234.0, datetime(2025, 3, 1), "s"),  # naive → UTC
        Signal("A", "count", 3, t, "s"),                        # int → float
    ]


def test_signal_stream_builds_the_record_by_record_columns() -> None:
    ids = ["A", "B", "C", "D", "E"]
    sigs = _signals()
    got = ScoringInputs.from_records([make_account(a) for a in ids], (s for s in sigs), {}, {}, NOW)
    numeric, ages, text = _reference_signal_columns(ids, sigs, NOW)
    assert set(got.numeric) == set(numeric) and set(got.ages) == set(ages) and set(got.text) == set(text)
    assert "flip" not in got.numeric and "flip" in got.text
    for name in numeric:
        assert np.array_equal(got.numeric[name], numeric[name], equal_nan=True), name
    for name in ages:
        assert got.ages[name].dtype == np.float32
        assert np.array_equal(got.ages[name], ages[name], equal_nan=True), name
    for name in text:
        assert got.text[name].categories == text[name].categories, name
        assert got.text[name].codes.dtype == np.int32
        assert np.array_equal(got.text[name].codes, text[name].codes), name
    assert got.text["plan"].categories == ("bronze", "silver")
    assert got.numeric["nps"][0] == 7.0
    assert got.row("C") == 2


# -- history ------------------------------------------------------------------------------------------


def _reference_history(
    ids: list[str], history: dict[str, list[tuple[datetime, float]]], now_day: float
) -> tuple[np.ndarray, np.ndarray]:
    series = [_daily(history.get(a) or [], now_day)[-MAX_HISTORY_POINTS:] for a in ids]
    width = max((len(s) for s in series), default=0)
    age = np.full((len(ids), width), np.nan, np.float32)
    value = np.full((len(ids), width), np.nan, np.float32)
    for i, points in enumerate(series):
        for j, (when, magnitude) in enumerate(points):
            age[i, j] = days_ago(now_day, day_number(when))
            value[i, j] = magnitude
    return age, value


def _history() -> dict[str, list[tuple[datetime, float]]]:
    return {
        "A": [(NOW - timedelta(days=d), 50.0 + d) for d in range(100)],  # over the cap
        "B": [(NOW - timedelta(days=1, hours=h), float(h)) for h in (1, 5, 3)] + [(NOW, 99.0)],  # one day, today
        "C": [],
        "D": [(NOW - timedelta(days=d), 40.0 - d) for d in (9, 3, 5)],  # unsorted
        "X": [(NOW - timedelta(days=2), 1.0)],  # not scored
    }


@pytest.mark.parametrize("as_stream", [True, False])
def test_history_stream_builds_the_same_matrix(as_stream: bool) -> None:
    ids = ["A", "B", "C", "D", "E"]
    hist = _history()
    source: Any = iter(hist.items()) if as_stream else hist
    got = ScoringInputs.from_records([make_account(a) for a in ids], [], source, {}, NOW)
    age, value = _reference_history(ids, hist, day_number(NOW))
    assert got.history_age.shape == (5, MAX_HISTORY_POINTS)
    for a, b in ((got.history_age, age), (got.history_value, value)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b, equal_nan=True)


def test_history_width_is_trimmed_to_the_longest_series() -> None:
    hist = {"B": _history()["B"], "D": _history()["D"]}
    got = ScoringInputs.from_records([make_account(a) for a in ("B", "D")], [], iter(hist.items()), {}, NOW)
    age, value = _reference_history(["B", "D"], hist, day_number(NOW))
    assert got.history_age.shape == (2, 3) and got.history_age.flags.c_contiguous
    assert np.array_equal(got.history_age, age, equal_nan=True)
    assert np.array_equal(got.history_value, value, equal_nan=True)


def test_empty_inputs() -> None:
    got = ScoringInputs.from_records([], iter([]), iter([]), iter([]), NOW)
    assert got.n == 0 and got.history_age.shape == (0, 0) and got.previous.plays.names == ()
    none = ScoringInputs.from_records([make_account("A")], [], iter([]), iter([]), NOW)
    assert none.history_age.shape == (1, 0)
    assert_same_previous(none.previous, previous_from_json([{}], date(2025, 3, 3)))


def test_streams_are_consumed_lazily_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The state stream is pulled one chunk at a time, not drained into a list before columns are built."""
    monkeypatch.setattr(inputs_module, "STATE_CHUNK", 2)
    pulled: list[str] = []
    built: list[int] = []
    original = inputs_module.previous_from_json

    def spy(states: list[dict[str, Any]], today: date | None = None) -> PreviousState:
        built.append(len(pulled))
        return original(states, today)

    monkeypatch.setattr(inputs_module, "previous_from_json", spy)

    def stream() -> Iterator[tuple[str, dict[str, Any]]]:
        for a in ("A", "C", "D", "G"):
            pulled.append(a)
            yield a, STATES[a]

    ScoringInputs.from_records(_accounts(), [], {}, stream(), NOW)
    assert built == [2, 4]  # each chunk is turned into columns before the next is read
