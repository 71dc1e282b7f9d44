"""A signed HubSpot event for a known company is re-scored after the connector's own write-back.

The probe's finding: the connector's writes move every written company, the next pull re-reads them, and
re-reading reset each company's identity match to pending — so the webhook lookup (matched observations
only) found nothing and every event ended as ``refresh.unmatched`` until the next score cycle.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from connector.config import WebhooksConfig
from connector.daemon.refresh import accounts_for
from connector.daemon.service import Daemon
from connector.records import IdentityKeys, Observation
from connector.runtime import open_store, run_sync
from connector.store import Store

from .rel_kit import NOW, start_rig
from .webhook_kit import SECRETS, hubspot_sign

ACCOUNTS = 20


def test_rereading_keeps_the_match_unless_the_keys_changed(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    now = datetime.now(UTC)
    same, moved = IdentityKeys(domain="acme.example"), IdentityKeys(domain="acme-new.example")
    store.upsert_observations([Observation("hubspot", "company", "1", same, {"x": 1.0}, now),
                               Observation("hubspot", "company", "2", same, {"x": 1.0}, now)])
    store.set_matches([("hubspot", "company", "1", "001A", "matched"), ("hubspot", "company", "2", "001A", "matched")])
    store.upsert_observations([Observation("hubspot", "company", "1", same, {"x": 2.0}, now),
                               Observation("hubspot", "company", "2", moved, {"x": 2.0}, now)])
    rows = {r.entity_id: (r.account_id, r.match, r.signals) for r in store.observations("hubspot")}
    assert rows == {"1": ("001A", "matched", {"x": 2.0}), "2": (None, "pending", {"x": 2.0})}
    store.close()


@pytest.fixture
def synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Daemon, str, str]]:
    """A Salesforce-primary sandbox synced once (write-back included), then HubSpot pulled again."""
    rig = start_rig(tmp_path, accounts=ACCOUNTS)
    try:
        assert run_sync(rig.config, now=NOW).status == "ok"
        store = open_store(rig.config)
        try:
            company, account = next((ids[0], acc) for acc, ids in
                                    sorted(store.matched_entities("hubspot", "company").items()))
        finally:
            store.close()
        reread = run_sync(rig.config, only_sources=["hubspot"], pull_only=True, kind="pull:hubspot")
        assert reread.pulled["hubspot"].get("observations", 0) > 0, "the write-back did not make HubSpot re-read"
        monkeypatch.setenv("HS_CLIENT_SECRET", SECRETS["HS_CLIENT_SECRET"])
        config = rig.config.model_copy(update={"webhooks": WebhooksConfig(
            enabled=True, hubspot_client_secret_env="HS_CLIENT_SECRET")})
        daemon = Daemon(config)
        yield daemon, company, account
        daemon.runner.stop.set()
        daemon.store.close()
    finally:
        rig.stop()


def test_signed_hubspot_event_after_write_back_is_rescored(synced: tuple[Daemon, str, str]) -> None:
    daemon, company, account = synced
    assert accounts_for(daemon.store, daemon.config, "hubspot", {company}) == {account}
    assert daemon.refresher is not None
    daemon.refresher.start()
    body = (b'[{"eventId": 501, "subscriptionType": "company.propertyChange", "objectId": ' + company.encode()
            + b', "propertyName": "name", "occurredAt": 1}]')
    with TestClient(daemon.app, base_url="http://testserver") as client:
        response = client.post("/webhooks/hubspot", content=body, headers=hubspot_sign(body))
        assert response.status_code == 200 and response.json()["accepted"] == 1
        deadline = time.monotonic() + 240  # progress wait: the refresh pulls, scores and writes over HTTPS
        while not (runs := [r for r in daemon.store.runs(kind="webhook:hubspot") if r.status != "running"]):
            assert time.monotonic() < deadline, "no re-score run for the event"
            assert 'outcome="unmatched"' not in client.get("/metrics").text, "the event found no account"
            time.sleep(0.2)
    [run] = runs
    assert run.status == "ok", run.error
    assert (run.stats or {}).get("scored") == 1
