"""A fourth CRM plugs in with one client, one source, one sink, one mapping file and one registry entry.

Nothing under ``connector/`` knows the toy CRM: the registry entry is the only place it is named, and the
config section, ``primary_crm``, the rate limit, the run's sources and sinks and the task lifecycle all
follow from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector import registry
from connector.config import ConfigError, load_config
from connector.runtime import http_layer, run_setup, run_sync
from toycrm.client import BACKENDS, ToyBackend

HERE = Path(__file__).parent
REPO = HERE.parents[1]
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
URL = "https://toy.example"


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ToyBackend]:
    monkeypatch.setitem(registry.SYSTEMS, "toycrm", registry.System(
        "toycrm", source="toycrm.source:ToyCrmSource", sink="toycrm.sink:ToyCrmSink",
        settings="toycrm.client:ToyCrmConfig", crm=True))  # the one registry entry
    backend = BACKENDS[URL] = ToyBackend()
    start = (NOW.date() - timedelta(days=400)).isoformat()
    for i in range(12):
        backend.accounts[f"acc{i:02d}"] = {"name": f"Toy {i}", "domain": f"toy{i}.example", "arr": 1000.0 * (i + 1),
                                          "nps": (i % 10) - 2, "contract_start": start, "training_completed": i % 2,
                                          "services_purchased": 0, "upsells_taken": i % 3, "seat_utilisation": i / 12,
                                          "feature_breadth": i / 15, "meaningful_events_30d": 5 * i}
    # An account the CRM knows but no source says anything about yet: it has no magnitude to record.
    backend.accounts["acc99"] = {"name": "Toy new", "domain": "toynew.example", "arr": 500.0, "contract_start": start}
    yield backend
    del BACKENDS[URL]


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "connector.toml"
    path.write_text(f"""
[connector]
primary_crm = "toycrm"
state_url = "sqlite:///{tmp_path / 'state.db'}"
success_model = "{REPO / 'mappings' / 'success_model.toml'}"
output_dir = "{tmp_path / 'runs'}"

[toycrm]
base_url = "{URL}"
mapping = "{HERE / 'mapping.toml'}"
requests_per_second = 5
""", encoding="utf-8")
    return path


def test_a_toy_crm_plugs_in_through_the_registry(toy: ToyBackend, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    assert config.enabled_systems() == ["toycrm"] and config.connector.primary_crm == "toycrm"
    assert http_layer(config).limiter("toycrm").limit == 5  # rate limit from the section, like any system
    assert run_setup(config, dry_run=False)["errors"] == {}
    assert toy.fields == {"sv", "sv_direction", "sv_updated_at"}

    first = run_sync(config, now=NOW)
    assert first.status == "ok", (first.source_errors, first.sink_errors)
    report = first.sinks["toycrm"]
    assert report["records_updated"] == len(toy.accounts) and report["failures"] == []
    assert all(a["sv_direction"] in ("Positive", "Flat", "Negative") for a in toy.accounts.values())
    assert report["tasks_created"] == len(toy.tasks) > 0  # the shared task ledger drove the toy's wire

    writes = toy.writes
    again = run_sync(config, now=NOW + timedelta(hours=1))
    assert again.sinks["toycrm"]["records_updated"] == 0 and toy.writes == writes  # unchanged: no write at all
    assert again.sinks["toycrm"]["tasks_created"] == 0


def test_primary_crm_must_be_a_registered_crm(toy: ToyBackend, tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace('primary_crm = "toycrm"', 'primary_crm = "zendesk"'))
    expected = r"primary_crm: 'zendesk' is not a CRM; use 'salesforce' or 'hubspot' or 'toycrm'"
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_a_bad_plugin_section_names_its_key(toy: ToyBackend, tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("requests_per_second = 5", "requests_per_secnd = 5"))
    with pytest.raises(ConfigError, match=r"toycrm\.requests_per_secnd"):
        load_config(path)
