"""Identity fixes as code, end to end on the sandbox with the real clients: the admin pastes the line
``connector check`` printed for an ambiguous Zendesk organization and the next sync writes that
organization's fields; a ``never`` pair stays unmatched and its account loses that organization's signals.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import Config
from connector.identity_overrides import TEMPLATE, overrides_path
from connector.runtime import open_store, run_checks, run_sync
from connector.sandbox.cluster import Cluster

from .admin_rig import admin_rig


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Config, Path]]:
    with admin_rig(tmp_path_factory.mktemp("overrides"), accounts=60, seed=5) as (cluster, config, path):
        assert run_sync(config, now=cluster.clock.now()).status == "ok"
        yield cluster, config, path


def _match(config: Config, entity_id: str) -> tuple[str | None, str]:
    store = open_store(config)
    try:
        row = next(o for o in store.observations("zendesk") if o.entity == "organization" and o.entity_id == entity_id)
        return row.account_id, row.match
    finally:
        store.close()


def test_pasted_check_line_links_an_ambiguous_org_and_the_next_sync_writes_it(
        rig: tuple[Cluster, Config, Path]) -> None:
    cluster, config, _ = rig
    report = run_checks(config)
    ambiguous = [m for m in report["identity"]["ambiguous"]
                 if (m["source"], m["entity"]) == ("zendesk", "organization")]
    assert ambiguous, "the sandbox world shares an external id between two accounts (mess shared_external_id)"
    org = ambiguous[0]
    assert len(org["paste"]) == len(org["candidates"]) >= 2
    org_fields = cluster.emulators["zendesk"].backend.orgs[int(org["entity_id"])]["organization_fields"]
    assert org_fields.get("cs_success_vector") is None, "an ambiguous organization is not written"

    chosen = org["candidates"][1]["account_id"]
    path = overrides_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATE.replace("link = [\n", "link = [\n" + org["paste"][1] + "\n"), encoding="utf-8")
    assert run_sync(config, now=cluster.clock.now()).status == "ok"

    assert _match(config, org["entity_id"]) == (chosen, "matched")
    assert org_fields.get("cs_success_vector") is not None
    assert all(m["entity_id"] != org["entity_id"] for m in run_checks(config)["identity"]["ambiguous"])


def test_never_pair_stays_unmatched(rig: tuple[Cluster, Config, Path]) -> None:
    cluster, config, config_path = rig
    company = next(c for c in cluster.world.companies if c.zendesk_org_id and not c.mess and c.salesforce_id)
    org_id, account = str(company.zendesk_org_id), company.salesforce_id
    assert _match(config, org_id) == (account, "matched")

    result = CliRunner().invoke(app, ["identity", "never", f"zendesk:organization:{org_id}", str(account),
                                      "--note", "reseller org", "-c", str(config_path)])
    assert result.exit_code == 0, result.output
    assert run_sync(config, now=cluster.clock.now()).status == "ok"
    assert _match(config, org_id) == (None, "unmatched")
    assert run_sync(config, now=cluster.clock.now()).status == "ok"
    assert _match(config, org_id) == (None, "unmatched")

    unlinked = CliRunner().invoke(app, ["identity", "unlink", f"zendesk:organization:{org_id}", "-c",
                                        str(config_path)])
    assert unlinked.exit_code == 0, unlinked.output
    assert run_sync(config, now=cluster.clock.now()).status == "ok"
    assert _match(config, org_id) == (account, "matched")
