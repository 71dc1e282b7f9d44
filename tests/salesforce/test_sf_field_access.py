"""Fields people can see: a CSM's own session (real simple-salesforce client) gets no connector field on an
Account read until ``setup`` grants the permission set, and then it does; the dry run changes nothing and a
second setup changes nothing either."""

from __future__ import annotations

import pytest
import requests
from sf_kit import SfSandbox, make_config
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connector.config import Config
from connector.runtime import run_setup
from connector.sandbox.core import SandboxTLS
from connector.sandbox.salesforce.backend import INTEGRATION_USERNAME
from connector.sandbox.world import World

FIELD = "CS_Success_Vector__c"


@pytest.fixture
def config(sandbox: SfSandbox, sandbox_tls: SandboxTLS, monkeypatch: pytest.MonkeyPatch, world: World,
           tmp_path_factory: pytest.TempPathFactory) -> Config:
    state = tmp_path_factory.mktemp("state") / "state.db"
    made = make_config(sandbox, sandbox_tls, monkeypatch, field_access_users=[world.owners[0].email],
                       integration_username=INTEGRATION_USERNAME)
    return made.model_copy(update={"connector": made.connector.model_copy(update={"state_url": f"sqlite:///{state}"})})


def _as_user(sandbox: SfSandbox, tls: SandboxTLS, user_id: str) -> Salesforce:
    session = requests.Session()
    session.verify, session.trust_env = str(tls.ca_path), False  # a REQUESTS_CA_BUNDLE must not override it
    return Salesforce(instance_url=sandbox.url, session_id=sandbox.backend.session_for(user_id), session=session,
                      version=sandbox.backend.api_version)


def test_csm_sees_connector_fields_after_setup_and_not_before(sandbox: SfSandbox, sandbox_tls: SandboxTLS,
                                                             config: Config, world: World) -> None:
    csm_id, other_id = world.owners[0].salesforce_id, world.owners[1].salesforce_id
    account = world.companies[0].salesforce_id
    backend = sandbox.backend
    backend.create_custom_field({"FullName": f"Account.{FIELD}", "Metadata": {"type": "Number", "label": "SV",
                                                                              "precision": 4, "scale": 1}})
    backend.update("Account", {"Id": account, FIELD: 71.5})
    csm = _as_user(sandbox, sandbox_tls, str(csm_id))
    assert FIELD not in csm.Account.get(account) and "Name" in csm.Account.get(account)
    assert FIELD not in {f["name"] for f in csm.Account.describe()["fields"]}
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_FIELD"):
        csm.query(f"SELECT Id, {FIELD} FROM Account")

    planned = run_setup(config, dry_run=True)
    assert planned["errors"] == {}
    actions = {(c["object"], c["action"]) for c in planned["access"]["salesforce"]["changes"]}
    wanted = {("PermissionSet", "create"), ("FieldPermissions", "create"), ("PermissionSetAssignment", "create")}
    assert wanted <= actions
    assert not backend.records["PermissionSet"] and FIELD not in csm.Account.get(account)

    done = run_setup(config, dry_run=False)
    assert done["errors"] == {} and done["access"]["salesforce"]["problems"] == []
    assert csm.Account.get(account)[FIELD] == 71.5
    assert csm.query(f"SELECT Id, {FIELD} FROM Account WHERE Id = '{account}'")["records"][0][FIELD] == 71.5
    assert FIELD not in _as_user(sandbox, sandbox_tls, str(other_id)).Account.get(account), "only the named CSM"
    assert any("Page layout" in step for step in done["access"]["salesforce"]["next_steps"])

    edit_set = next(p["Id"] for p in backend.records["PermissionSet"].values() if p["Name"] == "CS_Connector_Edit")
    assert any(a["PermissionSetId"] == edit_set for a in backend.records["PermissionSetAssignment"].values())
    again = run_setup(config, dry_run=False)
    assert again["access"]["salesforce"]["changes"] == [], "setup is idempotent"
