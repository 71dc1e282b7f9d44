"""Config that would leak a credential is refused: exit 2, naming file, key and fix, never echoing the value.

The probe's findings: a token pasted into ``token_env`` passed validation and was then printed ("environment
variable <token> is not set") and stored; ``http://`` base URLs sent the Stripe key in clear text; URLs and
DSNs with embedded credentials were accepted; a relative ``ca_bundle`` resolved against the working
directory for four of five systems.  Each planted case below is one entry of the bad-input catalogue.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from connector.config import Config, ConfigError, config_from_dict, load_config

from .rel_kit import cli, start_rig

SF = {"base_url": "https://acme.my.salesforce.com", "session_id_env": "SF_ACCESS_TOKEN"}


@dataclass(frozen=True)
class Bad:
    name: str
    section: str
    key: str
    value: Any
    fix: str  # regex the message must match
    extra: tuple[tuple[str, Any], ...] = ()

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"salesforce": dict(SF)}
        if self.section == "stripe":
            data["stripe"] = {"api_key_env": "STRIPE_API_KEY"}
        if self.section == "zendesk":
            data["zendesk"] = {"base_url": "https://acme.zendesk.com", "email": "ops@example.com",
                               "token_env": "ZENDESK_TOKEN"}
        if self.section == "enrichment":
            data["enrichment"] = {"api_key_env": "BUILTWITH_KEY"}
        data.setdefault(self.section, {}).update({self.key: self.value, **dict(self.extra)})
        return data


STRIPE_KEY = "sk_live_51HxQ2rK8m3Zt9VbYcL0pWq7E"
CASES = [
    Bad("env-holds-stripe-key", "stripe", "api_key_env", STRIPE_KEY, "rotate it.*STRIPE_API_KEY"),
    Bad("env-holds-zendesk-token", "zendesk", "token_env", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7d",
        "looks like a secret"),
    Bad("env-holds-hubspot-pat", "hubspot", "access_token_env", "pat-na1-8b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
        "looks like a secret"),
    Bad("env-holds-sf-session", "salesforce", "session_id_env", "00D5g000004abcd!AQ4AQFpY.zq8Hk3L2x",
        "looks like a secret"),
    Bad("env-with-space", "webhooks", "hubspot_client_secret_env", "my secret", "name of an environment variable"),
    Bad("env-starts-with-digit", "connector", "state_url_env", "1STATE", "name of an environment variable"),
    Bad("env-non-ascii", "stripe", "webhook_secret_env", "STRIPE_WHSÉC", "name of an environment variable"),
    Bad("http-remote", "stripe", "base_url", "http://api.stripe.com", "use https://"),
    Bad("http-loopback-without-flag", "stripe", "base_url", "http://127.0.0.1:8443", "allow_insecure_loopback"),
    Bad("http-private-with-flag", "stripe", "base_url", "http://10.0.0.5:8443", "only to a loopback",
        (("allow_insecure_loopback", True),)),
    Bad("http-token-url", "salesforce", "token_url", "http://login.salesforce.com/services/oauth2/token",
        "use https://"),
    Bad("url-userinfo", "zendesk", "base_url", "https://agent:Zx9-secret@acme.zendesk.com", "credentials"),
    Bad("url-api-key-query", "enrichment", "base_url", "https://api.builtwith.com/v21?KEY=bw-77aa-secret",
        "KEY=…"),
    Bad("url-token-query", "hubspot", "base_url", "https://api.hubapi.com?access_token=hs-secret-123",
        "access_token=…"),
    Bad("state-url-password", "connector", "state_url", "postgresql+psycopg://cs:hunter2-secret@db/cs",
        "state_url_env"),
    Bad("state-url-password-param", "connector", "state_url", "postgresql://db/cs?user=cs&password=hunter2-secret",
        "state_url_env"),
    Bad("public-url-userinfo", "webhooks", "public_url", "https://hook:s3cret-pw@cs.example.com", "credentials"),
]


def _secret_part(value: Any) -> str:
    """The part of a planted value that must never be echoed."""
    text = str(value)
    for marker in ("hunter2-secret", "Zx9-secret", "bw-77aa-secret", "hs-secret-123", "s3cret-pw"):
        if marker in text:
            return marker
    return text


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_unsafe_config_is_refused_without_echoing_it(case: Bad) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(case.data(), "/etc/cs/connector.toml")
    message = str(err.value)
    line = next((ln for ln in message.splitlines() if f"{case.section}.{case.key}:" in ln), "")
    assert line.startswith("/etc/cs/connector.toml: "), message
    assert re.search(case.fix, line), line
    assert _secret_part(case.value) not in message


def test_loopback_http_is_accepted_with_the_explicit_flag() -> None:
    data = {"salesforce": dict(SF), "stripe": {"api_key_env": "STRIPE_API_KEY", "base_url": "http://127.0.0.1:8443",
                                               "allow_insecure_loopback": True}}
    config = config_from_dict(data)
    assert config.stripe is not None and config.stripe.base_url == "http://127.0.0.1:8443"
    assert config_from_dict({"salesforce": dict(SF), "connector": {"state_url":
                             "postgresql+psycopg://postgres@127.0.0.1:5432/test"}})  # a user without a password


def test_cli_exits_2_naming_every_problem_and_no_value(tmp_path: Path) -> None:
    path = tmp_path / "connector.toml"
    path.write_text(
        "[connector]\n"
        'state_url = "postgresql+psycopg://cs:hunter2-secret@db/cs"\n'
        "[salesforce]\n"
        'base_url = "https://acme.my.salesforce.com"\n'
        'session_id_env = "SF_ACCESS_TOKEN"\n'
        "[stripe]\n"
        'base_url = "http://api.stripe.com"\n'
        f'api_key_env = "{STRIPE_KEY}"\n',
        encoding="utf-8",
    )
    done = cli("config", "validate", "-c", str(path))
    assert done.returncode == 2, done.stderr
    output = done.stdout + done.stderr
    for key in ("connector.state_url", "stripe.base_url", "stripe.api_key_env"):
        assert f"{path}: {key}:" in output, output
    assert "hunter2-secret" not in output and STRIPE_KEY not in output


# -- paths resolve against the config file's folder, in one place ------------------------------------------


def _paths(model: BaseModel, where: str = "") -> dict[str, Path]:
    found: dict[str, Path] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path):
            found[f"{where}{name}"] = value
        elif isinstance(value, BaseModel):
            found.update(_paths(value, f"{where}{name}."))
    return found


def test_every_relative_path_resolves_against_the_config_folder(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "connector.toml").write_text(
        '[connector]\nsuccess_model = "models/success.toml"\noutput_dir = "out"\n'
        '[salesforce]\nbase_url = "https://acme.my.salesforce.com"\nsession_id_file = "secrets/sf"\n'
        'mapping = "maps/sf.toml"\nca_bundle = "certs/ca.pem"\n'
        '[hubspot]\naccess_token_file = "secrets/hs"\nca_bundle = "certs/ca.pem"\n'
        '[zendesk]\nbase_url = "https://acme.zendesk.com"\nemail = "a@b.example"\ntoken_file = "secrets/zd"\n'
        'ca_bundle = "certs/ca.pem"\n'
        '[stripe]\napi_key_file = "secrets/stripe"\nca_bundle = "certs/ca.pem"\n'
        '[usage]\npath = "data/usage.csv"\n'
        '[enrichment]\napi_key_file = "secrets/bw"\nca_bundle = "certs/ca.pem"\n', encoding="utf-8")
    monkeypatch.chdir("/")
    config = load_config(folder / "connector.toml")
    paths = _paths(config)
    systems = ("salesforce", "hubspot", "zendesk", "stripe", "enrichment")
    assert {k for k in paths if k.endswith("ca_bundle")} == {f"{s}.ca_bundle" for s in systems}
    outside = {k: p for k, p in paths.items() if k != "base_dir" and not p.is_relative_to(folder)}
    assert not outside, outside
    assert all(p == folder / "certs/ca.pem" for k, p in paths.items() if k.endswith("ca_bundle"))
    assert isinstance(config, Config) and config.usage is not None and config.usage.path == folder / "data/usage.csv"


def test_relative_ca_bundle_works_from_any_directory(tmp_path: Path) -> None:
    """The probe's run: relative ``ca_bundle`` and secret files, started from ``/`` — every system connects."""
    rig = start_rig(tmp_path, accounts=10, setup=False)
    try:
        folder = rig.config_path.parent
        text = rig.config_path.read_text(encoding="utf-8")
        shutil.copy(rig.cluster.tls.ca_path, folder / "sandbox-ca.pem")
        text = text.replace(str(rig.cluster.tls.ca_path), "sandbox-ca.pem")
        rig.config_path.write_text(text, encoding="utf-8")
        done = cli("check", "--json", "-c", str(rig.config_path), cwd="/")
        report = json.loads(done.stdout)
        unreachable = {name: info.get("error") for name, info in report["systems"].items() if not info["reachable"]}
        assert not unreachable, unreachable
    finally:
        rig.stop()
