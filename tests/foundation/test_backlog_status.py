"""The task backlog (new tasks the per-owner cap deferred) is never silent: status --json and its table."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from connector.render import render_status
from connector.status import collect_status, validated
from connector.store import Store

BACKLOG = [{"play": "renewal", "owner": "005A", "deferred": 3, "oldest_waiting_days": 9}]


def test_status_returns_and_prints_the_last_scoring_runs_backlog(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    scored = store.start_run("sync")
    store.finish_run(scored, "ok", {"scored": 10, "tasks_deferred": 3, "task_backlog": BACKLOG})
    pull = store.start_run("pull")
    store.finish_run(pull, "ok", {"scored": 0, "tasks_deferred": 0})
    data = validated(collect_status(store))
    assert data["task_backlog"] == {"run_id": scored, "deferred": 3, "by_play_owner": BACKLOG}
    console = Console(file=StringIO(), width=120)
    render_status(console, data)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "tasks deferred by the per-owner cap: 3 (oldest waiting 9 days" in text
    assert "renewal for 005A: 3 waiting" in text
