"""The whole pipeline on a PostgreSQL state store: what an admin who sets ``state_url`` to PostgreSQL gets.

The store's own tests run on both backends, but a sync writes through paths no unit test composes (the
score stage's point texts, the diff's digests and settled values, the task ledger, the run records); one
of them failed only on PostgreSQL (a point's JSON text bound as VARCHAR).  This drives the real clients
against the sandbox with the store in a fresh PostgreSQL schema: first sync, echo, a quiet cycle, a full
re-score, and the report read from the same store.
"""

from __future__ import annotations

from pathlib import Path

from connector.config import load_config
from connector.report import report_context
from connector.report.model_view import load_model_view
from connector.runtime import run_setup, run_sync
from connector.sandbox.cluster import start_cluster
from connector.store import Store

ACCOUNTS = 60


def _fields_written(result: dict) -> int:
    return sum(result["sinks"].get(s, {}).get("fields_written", 0) for s in ("salesforce", "hubspot", "zendesk"))


def test_a_day_of_syncs_on_postgresql(tmp_path: Path, postgres_schema_url: str) -> None:
    cluster = start_cluster(tmp_path / "sandbox", accounts=ACCOUNTS, seed=5,
                            limits={"zendesk": {"export_requests_per_minute": None}})
    try:
        config = load_config(cluster.write_config(tmp_path / "connector.toml", state_url=postgres_schema_url))
        assert run_setup(config, dry_run=False)["errors"] == {}

        def sync(**kwargs: object) -> dict:
            result = run_sync(config, now=cluster.clock.now(), **kwargs)  # type: ignore[arg-type]
            assert result.status == "ok", (result.source_errors, result.sink_errors)
            return result.as_json()

        first = sync()
        assert first["scored"] == ACCOUNTS
        assert all(first["sinks"][s]["fields_written"] > 0 for s in ("salesforce", "hubspot", "zendesk"))
        assert first["sinks"]["salesforce"]["tasks_created"] > 0
        sync()  # the echo of our own writes
        quiet = sync()
        assert _fields_written(quiet) == 0
        full = sync(full=True)
        assert full["scored"] == ACCOUNTS
        assert _fields_written(full) == 0, "a full re-score of an unchanged world writes nothing"

        store = Store(postgres_schema_url)
        try:
            assert store.account_count() == ACCOUNTS
            tasks = store.tasks("salesforce")
            assert len(tasks) == first["sinks"]["salesforce"]["tasks_created"]
            context, _ = report_context(store, load_model_view(config.resolve(config.connector.success_model)))
            assert context["scored"] == ACCOUNTS
        finally:
            store.close()
    finally:
        cluster.stop()
