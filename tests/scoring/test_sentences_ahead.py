"""A large pass's sentences made by a forked child are the ones this process makes: in the outputs table,
in the score history and in what the sinks read — and a child that fails, or a platform without fork,
changes nothing but who made them."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from state_worlds import world

from connector.config import config_from_dict
from connector.incremental import cycle_scope
from connector.sandbox.store_world import fill
from connector.scoring import sentences_ahead
from connector.scoring.output_columns import output_table
from connector.scoring.sentences_ahead import SENTENCE_FIELDS, SentencesAhead, sentence_columns
from connector.settled import cycle_key
from connector.store import Store
from connector.store.schema import ScoreRow
from connector.sync import SyncResult, SyncRunner

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the child is made by os.fork (Linux)")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _rows(table: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(o.account_id, dict(o.fields)) for o in table]


def test_the_child_makes_every_sentence_this_process_makes() -> None:
    result = world(8, 21)
    ahead = SentencesAhead.start(result, from_accounts=0)
    assert ahead is not None
    made = ahead.take()
    assert made is not None and sorted(made) == sorted(SENTENCE_FIELDS)
    assert made == sentence_columns(world(8, 21), 0, result.inputs.n)  # a fresh result: nothing cached
    slim = result.for_outputs()
    assert _rows(output_table(replace(slim, sentences=made))) == _rows(output_table(world(8, 21).for_outputs()))
    ahead.abandon()  # after take: closes nothing twice, waits for nobody


def test_a_failing_child_means_the_sentences_are_made_here(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("the child fails")

    monkeypatch.setattr(sentences_ahead, "sentence_columns", broken)
    result = world(3, 4)
    ahead = SentencesAhead.start(result, from_accounts=0)
    assert ahead is not None and ahead.take() is None


def test_no_child_below_the_threshold_or_without_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    result = world(2, 5)
    assert SentencesAhead.start(result, from_accounts=result.inputs.n + 1) is None
    monkeypatch.delattr(os, "fork")
    assert SentencesAhead.start(result, from_accounts=0) is None


def test_an_abandoned_child_is_waited_for() -> None:
    ahead = SentencesAhead.start(world(2, 6), from_accounts=0)
    assert ahead is not None
    ahead.abandon()
    with pytest.raises(ChildProcessError):
        os.waitpid(ahead.pid, os.WNOHANG)  # reaped: no zombie left


def _pass(store: Store, now: datetime) -> tuple[list[tuple[str, dict[str, Any]]], list[Any]]:
    config = config_from_dict({"salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False}})
    runner = SyncRunner(config, store, sources=[], sinks=[])
    runner.resolve(SyncResult(run_id=store.start_run("resolve")))
    key = cycle_key(store, config, now)
    scope = cycle_scope(store, key, full=True)
    outputs, tasks = runner.score(now, SyncResult(run_id=store.start_run("test")), persist=True, only=scope.only,
                                  facts=scope.facts, configuration=key.configuration)
    with store.engine.connect() as conn:
        points = conn.execute(select(ScoreRow.account_id, ScoreRow.outputs).where(ScoreRow.scored_at == now)
                              .order_by(ScoreRow.account_id)).all()
    return _rows(outputs), [(a, {k: v for k, v in o.items() if k != "vector_updated_at"}) for a, o in points] + [
        (t.key, t.subject, t.body) for t in tasks]


def test_a_sync_pass_with_the_child_writes_and_returns_what_one_without_it_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two copies of one store, a day's first pass and the next day's on each: one with every pass's
    sentences made by the child, one without — the same outputs, points and tasks."""
    first = Store(f"sqlite:///{tmp_path / 'a.db'}")
    fill(first, 200, T0)
    first.close()
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    seen: dict[str, list[Any]] = {}
    for name, threshold in (("a", 0), ("b", 10**9)):
        monkeypatch.setattr(sentences_ahead, "AHEAD_FROM_ACCOUNTS", threshold)
        started: list[Any] = []
        real = SentencesAhead.start.__func__  # type: ignore[attr-defined]

        def spying(cls: Any, result: Any, *, from_accounts: int | None = None, _real: Any = real,
                   _started: list[Any] = started) -> Any:
            ahead = _real(cls, result, from_accounts=from_accounts)
            _started.append(ahead)
            return ahead

        monkeypatch.setattr(SentencesAhead, "start", classmethod(spying))
        store = Store(f"sqlite:///{tmp_path / f'{name}.db'}")
        try:
            seen[name] = [_pass(store, T0), _pass(store, T0 + timedelta(days=1))]
        finally:
            store.close()
        assert all((a is not None) == (threshold == 0) for a in started) and len(started) == 2
    assert seen["a"] == seen["b"]
