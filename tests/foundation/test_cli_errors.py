"""A broken mapping file, success model or address: exit 2 (files) or one clear line (addresses), never a traceback.

The mapping files and the success model are read by the sinks and the scorer once work starts; before, a
missing or invalid one came out of ``check``, ``setup`` and ``sync`` as a traceback with exit 1.  Now every
command that uses them validates them first, and says which file, which key, and the fix.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import config_from_dict, load_config
from connector.probes import describe_failure
from connector.runtime import run_checks

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

CONFIG = """
[connector]
state_url = "sqlite:///state/connector.db"
success_model = "{model}"
primary_crm = "salesforce"

[salesforce]
base_url = "https://127.0.0.1:9"
session_id_env = "SF_TOKEN"
mapping = "{mapping}"
max_retries = 0
"""

BAD_MAPPING = '[fields.success_vectr]\nname = "CS_Success_Vector__c"\ntype = "number"\nlabel = "Success Vector"\n'
BAD_TYPE = '[fields.success_vector]\nname = "CS_Success_Vector__c"\ntype = "numeric"\nlabel = "Success Vector"\n'

# (case, mapping file text or None for missing, model file text or None for missing / "" for the default,
#  substrings stderr must contain)
CASES = [
    ("missing mapping", None, "", ["connector.toml: salesforce.mapping:", "sf.toml does not exist",
                                   "fix the path"]),
    ("mapping: unknown output", BAD_MAPPING, "", ["sf.toml: fields:", "success_vectr", "allowed"]),
    ("mapping: wrong type", BAD_TYPE, "", ["sf.toml: fields.success_vector.type:", "numeric", "'number'"]),
    ("mapping: invalid TOML", "[fields\n", "", ["sf.toml:", "invalid TOML", "line 1"]),
    ("missing model", "", None, ["connector.toml: connector.success_model:", "model.toml does not exist"]),
    ("model: unknown key", "", "[vectr]\nx = 1\n", ["model.toml: vectr: unknown key", "did you mean `vector`?"]),
    ("model: invalid TOML", "", "[segments\n", ["model.toml:", "invalid TOML", "fix the syntax"]),
]


def _rig(tmp_path: Path, mapping: str | None, model: str | None) -> Path:
    if mapping == "":
        shutil.copy(REPO / "mappings" / "salesforce.toml", tmp_path / "sf.toml")
    elif mapping is not None:
        (tmp_path / "sf.toml").write_text(mapping, encoding="utf-8")
    if model == "":
        shutil.copy(REPO / "mappings" / "success_model.toml", tmp_path / "model.toml")
    elif model is not None:
        (tmp_path / "model.toml").write_text(model, encoding="utf-8")
    config = tmp_path / "connector.toml"
    config.write_text(CONFIG.format(model="model.toml", mapping="sf.toml"), encoding="utf-8")
    return config


@pytest.mark.parametrize("command", ["check", "setup", "sync", "config validate"])
@pytest.mark.parametrize(("case", "mapping", "model", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_mapping_or_model_exits_2_naming_file_key_and_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, case: str, mapping: str | None,
        model: str | None, expected: list[str]) -> None:
    monkeypatch.setenv("SF_TOKEN", "token-for-tests")
    monkeypatch.chdir(tmp_path)
    config = _rig(tmp_path, mapping, model)
    result = runner.invoke(app, [*command.split(), "-c", config.name])
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), "an exception escaped: a traceback, not a message"
    for text in expected:
        assert text in result.output, result.output


def test_unreachable_address_is_one_line_naming_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong ``base_url`` (nothing listens there): `check` says which system, which URL, why, which key."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connection refused
        monkeypatch.setenv("SF_TOKEN", "token-for-tests")
        monkeypatch.setenv("STRIPE_KEY", "sk_test_abcd")
        config_path = _rig(tmp_path, "", "")
        text = config_path.read_text(encoding="utf-8").replace("https://127.0.0.1:9", f"https://127.0.0.1:{port}")
        text += f'\n[stripe]\nbase_url = "https://127.0.0.1:{port}"\napi_key_env = "STRIPE_KEY"\nmax_retries = 0\n'
        text += '\n[usage]\npath = "no-such-usage.csv"\n'
        config_path.write_text(text, encoding="utf-8")
        report = run_checks(load_config(config_path))
    assert report["ok"] is False
    systems = report["systems"]
    assert set(systems) == {"salesforce", "stripe", "usage"}
    for name in ("salesforce", "stripe"):
        error = systems[name]["error"]
        assert error == (f"{name}: cannot reach https://127.0.0.1:{port} — the connection was refused; "
                         f"check `base_url` in the [{name}] section"), error
    assert "no-such-usage.csv" in systems["usage"]["error"] and "[usage] path" in systems["usage"]["error"]


def test_describe_failure_reads_through_the_client_wrappers() -> None:
    import requests
    import urllib3

    config = config_from_dict({"salesforce": {"base_url": "https://nowhere.invalid", "session_id_env": "X"}})
    inner = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: "  # type: ignore[arg-type]
                                                  "[Errno -2] Name or service not known")
    wrapped = urllib3.exceptions.MaxRetryError(None, "/services/data", inner)  # type: ignore[arg-type]
    assert describe_failure("salesforce", config, wrapped) == (
        "salesforce: cannot reach https://nowhere.invalid — the host name does not resolve; "
        "check `base_url` in the [salesforce] section")
    tls = requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert "not trusted; check `ca_bundle`" in describe_failure("salesforce", config, tls)
    assert describe_failure("salesforce", config, ValueError("bad")) == "ValueError: bad"


def test_check_table_counts_the_field_problems_it_does_not_list() -> None:
    from rich.console import Console

    from connector.render import render_check

    problems = [{"field": f"CS_Field_{i}__c", "problem": "missing"} for i in range(8)]
    report = {"ok": False, "systems": {"salesforce": {"reachable": True, "field_problems": problems}},
              "identity": {"rates": {}, "top_unmatched": {}}}
    console = Console(record=True, width=400)
    render_check(console, report)
    text = console.export_text()
    assert "CS_Field_4__c: missing" in text and "CS_Field_5__c" not in text
    assert "+3 more (`connector check --json` lists all)" in text
