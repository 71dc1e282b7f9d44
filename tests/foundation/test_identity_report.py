"""The run's identity report follows the matches, and a cycle where no record is resolved neither builds the
resolver's index nor reads the report again (at 100k accounts both cost ~2 s a cycle for nothing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import connector.sync as sync_module
from connector.config import config_from_dict
from connector.records import IdentityKeys, Observation
from connector.sandbox.store_world import fill
from connector.store import Store
from connector.sync import SyncRunner

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_a_cycle_with_nothing_to_resolve_reuses_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    fill(store, 40, NOW - timedelta(minutes=5))
    config = config_from_dict({"salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False}})

    def run(at: datetime) -> dict:  # type: ignore[type-arg]
        return SyncRunner(config, store, sources=[], sinks=[], now=lambda: at).run().identity

    first = run(NOW)
    assert first["rates"]["zendesk"]["unmatched"] == 1  # the one record store_world leaves unmatched

    def no_index(*args: object, **kwargs: object) -> None:
        raise AssertionError("the resolver's index was built with nothing to resolve")

    with monkeypatch.context() as patched:
        patched.setattr(sync_module.IdentityResolver, "from_keys", no_index)
        assert run(NOW + timedelta(minutes=5)) == first
    store.upsert_observations([Observation("zendesk", "organization", "z-new", IdentityKeys(domain="nowhere.example"),
                                           {"tickets_open": 2.0}, NOW)])
    after = run(NOW + timedelta(minutes=10))
    assert after["rates"]["zendesk"]["unmatched"] == 2
    assert after["rates"]["zendesk"]["total"] == first["rates"]["zendesk"]["total"] + 1
    store.close()
