"""The store's streaming reads and chunked writes, on SQLite and on the real PostgreSQL.

Scoring a large book reads score history and engine state as per-account streams and writes scores and
states from generators; these pin that the streams carry the same data as the dict-returning methods, that
writes consume their input a chunk at a time, and that a write is still one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from connector.store import Store
from connector.store.store import _CHUNK

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _score_rows(accounts: int, days: int) -> Iterator[dict[str, Any]]:
    for d in range(days):  # newest first, accounts interleaved: the stream must sort and group
        for a in range(accounts):
            yield {"account_id": f"A{a:05d}", "scored_at": NOW - timedelta(days=d), "magnitude": float(a + d),
                   "outputs": {"success_vector": float(a + d)}}


def _inserts(store: Store, pulled: list[int], seen: list[int]) -> None:
    """Record how many input items had been pulled whenever an INSERT reaches the database."""

    @event.listens_for(store.engine, "before_cursor_execute")
    def _spy(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            seen.append(pulled[0])


def test_append_scores_consumes_a_generator_in_chunks(any_store: Store) -> None:
    total = 2 * _CHUNK + 7
    pulled: list[int] = [0]
    seen: list[int] = []
    _inserts(any_store, pulled, seen)

    def rows() -> Iterator[dict[str, Any]]:
        for row in _score_rows(accounts=total, days=1):
            pulled[0] += 1
            yield row

    assert any_store.append_scores(rows()) == total
    assert seen and seen[0] == _CHUNK  # the first chunk was written before the rest was read
    assert len(any_store.score_history(NOW - timedelta(days=1))) == total


def test_score_history_stream_groups_per_account(any_store: Store) -> None:
    any_store.append_scores(_score_rows(accounts=30, days=5))
    since = NOW - timedelta(days=2)
    streamed = list(any_store.score_history_stream(since))
    assert [a for a, _ in streamed] == sorted(f"A{a:05d}" for a in range(30))
    first = dict(streamed)["A00003"]
    assert [m for _, m in first] == [5.0, 4.0, 3.0]  # oldest first, only since ``since``
    assert all(when.tzinfo is not None for when, _ in first)
    assert dict(streamed) == any_store.score_history(since)


def test_score_history_stream_for_many_ids(any_store: Store) -> None:
    any_store.append_scores(_score_rows(accounts=1000, days=2))
    wanted = [*(f"A{a:05d}" for a in reversed(range(1000))), "missing"]  # more ids than one IN chunk
    streamed = list(any_store.score_history_stream(NOW - timedelta(days=1), wanted))
    assert len(streamed) == 1000 and len({a for a, _ in streamed}) == 1000
    assert all(len(points) == 2 for _, points in streamed)
    assert list(any_store.score_history_stream(NOW, [])) == []
    assert any_store.score_history(NOW - timedelta(days=1), ["A00001"]) == {
        "A00001": [(NOW - timedelta(days=1), 2.0), (NOW, 1.0)]
    }


def test_save_states_consumes_a_generator_in_chunks(any_store: Store) -> None:
    total = _CHUNK + 11
    pulled: list[int] = [0]
    seen: list[int] = []
    _inserts(any_store, pulled, seen)

    def states() -> Iterator[tuple[str, dict[str, Any]]]:
        for a in range(total):
            pulled[0] += 1
            yield f"A{a:05d}", {"magnitude": float(a), "plays": {"p": {"step": a % 3}}}
        pulled[0] += 1
        yield "A00000", {"magnitude": -1.0}  # the same account again, in the last chunk: last one wins

    assert any_store.save_states(states()) == total + 1
    assert seen and seen[0] == _CHUNK
    loaded = any_store.load_states()
    assert len(loaded) == total and loaded["A00000"] == {"magnitude": -1.0}
    assert loaded[f"A{total - 1:05d}"]["plays"]["p"]["step"] == (total - 1) % 3


def test_save_states_keeps_the_last_of_duplicates_within_a_chunk(any_store: Store) -> None:
    assert any_store.save_states(iter([("A", {"v": 1}), ("B", {"v": 2}), ("A", {"v": 3})])) == 2
    assert any_store.load_states() == {"A": {"v": 3}, "B": {"v": 2}}


def test_states_stream_matches_load_states(any_store: Store) -> None:
    any_store.save_states((f"A{a:05d}", {"milestones": {"kickoff": f"2026-01-{a % 28 + 1:02d}"}}) for a in range(950))
    streamed = dict(any_store.states_stream())
    assert streamed == any_store.load_states() and len(streamed) == 950
    wanted = [f"A{a:05d}" for a in range(0, 950, 2)] * 2 + ["missing"]  # duplicates, more ids than one chunk
    assert dict(any_store.states_stream(wanted)) == {a: streamed[a] for a in wanted if a in streamed}
    assert any_store.load_states(["A00004"]) == {"A00004": {"milestones": {"kickoff": "2026-01-05"}}}
    assert list(any_store.states_stream([])) == []


def test_chunked_writes_are_one_transaction(any_store: Store) -> None:
    """A generator failing after a chunk was written leaves nothing behind: a run's scores and states are
    all-or-nothing, as when they were written as one list."""

    def failing_states() -> Iterator[tuple[str, dict[str, Any]]]:
        for a in range(_CHUNK + 5):
            yield f"A{a:05d}", {"v": a}
        raise RuntimeError("scoring broke half-way")

    def failing_scores() -> Iterator[dict[str, Any]]:
        yield from _score_rows(accounts=_CHUNK + 5, days=1)
        raise RuntimeError("scoring broke half-way")

    with pytest.raises(RuntimeError):
        any_store.save_states(failing_states())
    with pytest.raises(RuntimeError):
        any_store.append_scores(failing_scores())
    assert any_store.load_states() == {}
    assert any_store.score_history(NOW - timedelta(days=30)) == {}
