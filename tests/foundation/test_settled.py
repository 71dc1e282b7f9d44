"""The parts of a settled cycle (see ``connector.settled``): the store's data token, the configuration
fingerprint, and which runs may be recorded as complete.  The whole behaviour against the sandbox is in
``tests/integration/test_settled_cycle.py``."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.config import Config, config_from_dict
from connector.records import Account, Signal
from connector.settled import SETTLED_META, configuration_fingerprint, cycle_key, record_settled, settled_since
from connector.store import Store
from connector.sync import SyncResult, SyncRunner

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _config(folder: Path) -> Config:
    for name in ("success_model.toml", "salesforce.toml"):
        shutil.copy(ROOT / "mappings" / name, folder / name)
    return config_from_dict({"salesforce": {"base_url": "https://x.my.salesforce.com", "session_id_env": "SF",
                                            "mapping": "salesforce.toml"},
                             "connector": {"success_model": "success_model.toml"}}, folder / "connector.toml")


def test_the_data_token_moves_with_every_write_a_cycle_reads_and_only_then(store: Store) -> None:
    assert store.inputs_version() is None
    store.upsert_accounts([Account("001A", "salesforce", "Acme", "acme.com", None, None, None, None, None, None,
                                   NOW)])
    first = store.inputs_version()
    assert first is not None
    store.upsert_accounts([])
    store.replace_signals([])
    store.set_matches([])
    store.upsert_tasks([])
    store.record_readback("salesforce", [])
    store.set_cursor("zendesk", "tickets", "42")  # where a pull got to is not what a cycle reads
    store.append_scores([])
    assert store.inputs_version() == first
    store.replace_signals([Signal("001A", "nps", 9.0, NOW, "usage")])
    assert store.inputs_version() != first


def test_the_configuration_fingerprint_follows_the_model_and_mapping_files(tmp_path: Path) -> None:
    config = _config(tmp_path)
    before = configuration_fingerprint(config)
    assert configuration_fingerprint(config) == before
    model = tmp_path / "success_model.toml"
    model.write_text(model.read_text() + "\n# a comment is a new file all the same\n")
    after_model = configuration_fingerprint(config)
    assert after_model != before
    mapping = tmp_path / "salesforce.toml"
    mapping.write_text(mapping.read_text() + "\n")
    assert configuration_fingerprint(config) != after_model


def test_a_recorded_cycle_stands_for_the_same_day_data_and_configuration_only(store: Store, tmp_path: Path) -> None:
    config = _config(tmp_path)
    store.replace_signals([Signal("001A", "nps", 9.0, NOW, "usage")])
    key = cycle_key(store, config, NOW)
    assert settled_since(store, key) is None  # nothing recorded yet
    record_settled(store, key, 7, NOW)
    later = cycle_key(store, config, NOW + timedelta(hours=14, minutes=59))
    assert (settled_since(store, later) or {}).get("run_id") == 7  # 23:59 the same day: still standing
    assert settled_since(store, cycle_key(store, config, NOW + timedelta(hours=15))) is None  # next UTC day
    store.replace_signals([Signal("001A", "nps", 3.0, NOW, "usage")])
    assert settled_since(store, cycle_key(store, config, NOW)) is None
    store.set_meta(SETTLED_META, "{not json")
    assert settled_since(store, cycle_key(store, config, NOW)) is None


def test_only_a_run_with_nothing_to_retry_or_report_is_complete() -> None:
    clean = {"fields_written": 3, "failures": [], "drift": [], "stopped_reason": None}
    assert SyncRunner._complete(SyncResult(1, sinks={"salesforce": clean}))
    for problem in ({"failures": [{"record_id": "001A"}]}, {"drift": [{"field": "CS_Risk_Flags__c"}]},
                    {"stopped_reason": "daily API budget reached"}):
        assert not SyncRunner._complete(SyncResult(1, sinks={"salesforce": {**clean, **problem}}))
    assert not SyncRunner._complete(SyncResult(1, sinks={"salesforce": clean}, source_errors={"stripe": "HTTP 500"}))
    assert not SyncRunner._complete(SyncResult(1, sink_errors={"hubspot": "HTTP 401"}))
