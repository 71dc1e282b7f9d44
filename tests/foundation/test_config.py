"""Bad configuration is refused with the file, the key, what was expected and the fix — exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

MINIMAL = """
[connector]
primary_crm = "salesforce"

[salesforce]
base_url = "https://acme.my.salesforce.com"
session_id_env = "SF_TOKEN"
"""

# (name, file content or None for special cases, substrings the message must contain)
CASES = [
    ("invalid TOML, with line number", MINIMAL + "\n[zendesk\nbase_url = 1\n", ["invalid TOML", "line 9, column 9"]),
    (
        "unknown section, did-you-mean",
        MINIMAL + '\n[zendsk]\nbase_url = "https://a.zendesk.com"\n',
        ["zendsk", "unknown key", "did you mean `zendesk`"],
    ),
    (
        "unknown nested key, did-you-mean",
        MINIMAL + "bulk_treshold = 10\n",
        ["salesforce.bulk_treshold", "did you mean `bulk_threshold`"],
    ),
    ("wrong type", MINIMAL + 'bulk_threshold = "many"\n', ["salesforce.bulk_threshold", "integer", "many"]),
    ("out of range", MINIMAL + "daily_api_share = 1.5\n", ["salesforce.daily_api_share", "less than or equal to 1"]),
    (
        "literal secret",
        MINIMAL + '\n[zendesk]\nbase_url = "https://a.zendesk.com"\nemail = "a@b.c"\ntoken = "abc123secret"\n',
        ["zendesk.token", "literal secret", 'token_env = "ZENDESK_TOKEN"'],
    ),
    (
        "literal secret in salesforce",
        MINIMAL + 'session_id = "00D!ABCDEF"\n',
        ["salesforce.session_id", "session_id_env"],
    ),
    (
        "missing required key",
        MINIMAL + '\n[zendesk]\nemail = "a@b.c"\ntoken_env = "ZD"\n',
        ["zendesk.base_url", "required key is missing"],
    ),
    (
        "url without scheme",
        MINIMAL.replace("https://acme.my.salesforce.com", "acme.my.salesforce.com"),
        ["salesforce.base_url", "https://"],
    ),
    ("primary CRM not configured", '[connector]\nprimary_crm = "hubspot"\n', ["primary_crm", "[hubspot]"]),
    (
        "no credentials reference",
        '[salesforce]\nbase_url = "https://acme.my.salesforce.com"\n',
        ["salesforce", "session_id_env"],
    ),
    (
        "invalid choice",
        MINIMAL.replace('primary_crm = "salesforce"', 'primary_crm = "pipedrive"'),
        ["connector.primary_crm", "'salesforce' or 'hubspot'"],
    ),
    (
        "schedule with two triggers",
        MINIMAL + '\n[schedules.pull]\ncron = "*/5 * * * *"\nevery_minutes = 5\n',
        ["schedules.pull", "exactly one of"],
    ),
    ("sql usage without query", MINIMAL + '\n[usage]\nkind = "sql"\nurl_env = "WH"\n', ["usage", "query"]),
    ("negative timeout", MINIMAL + "timeout_seconds = -3\n", ["salesforce.timeout_seconds", "greater than 0"]),
    ("wrong type for a list", MINIMAL + '\n[identity]\nprecedence = "domain"\n', ["identity.precedence", "list"]),
    (
        "usage signal missing column",
        MINIMAL + '\n[usage]\npath = "u.csv"\n[[usage.signals]]\nsignal = "x"\n',
        ["usage.signals.0.column", "required key is missing"],
    ),
]


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "connector.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize("name,text,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_config_exits_2_with_file_key_and_fix(tmp_path: Path, name: str, text: str, expected: list[str]) -> None:
    path = _write(tmp_path, text)
    result = runner.invoke(app, ["config", "validate", "-c", str(path)])
    assert result.exit_code == 2, result.output
    message = result.stderr
    assert str(path) in message
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "validate", "-c", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "file not found" in result.stderr and "connector init" in result.stderr


def test_unreadable_file(tmp_path: Path) -> None:
    directory = tmp_path / "connector.toml"
    directory.mkdir()
    result = runner.invoke(app, ["config", "validate", "-c", str(directory)])
    assert result.exit_code == 2
    assert "cannot read the file" in result.stderr


def test_invalid_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL.encode() + b"# caf\xe9\n")
    result = runner.invoke(app, ["config", "validate", "-c", str(path)])
    assert result.exit_code == 2
    assert "not valid UTF-8" in result.stderr


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "bulk_threshold = 'x'\ndaily_api_share = 9\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    keys = {k for k, _ in info.value.problems}
    assert {"salesforce.bulk_threshold", "salesforce.daily_api_share"} <= keys


def test_secret_value_never_echoed(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + 'session_id = "SuperSecretValue42"\n')
    result = runner.invoke(app, ["config", "validate", "-c", str(path)])
    assert result.exit_code == 2
    assert "SuperSecretValue42" not in result.output + result.stderr


def test_example_config_is_valid() -> None:
    config = load_config(REPO / "config.example.toml")
    assert config.enabled_systems() == ["salesforce", "hubspot", "zendesk", "stripe", "usage", "enrichment"]
    assert config.resolve(config.connector.success_model) == REPO / "mappings" / "success_model.toml"


def test_no_tls_off_switch() -> None:
    from connector.config import SystemBase

    assert "verify" not in SystemBase.model_fields, "TLS verification can be pointed at a CA, never disabled"


def test_schema_command_prints_json_schema() -> None:
    result = runner.invoke(app, ["config", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"].startswith("Customer Success")
    assert "salesforce" in schema["properties"] and "base_dir" not in schema["properties"]


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    for command in ("init", "check", "setup", "sync", "run", "explain", "status", "sandbox", "demo", "report"):
        assert command in result.stdout


def test_init_writes_a_valid_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "connector.toml"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mappings" / "salesforce.toml").exists() or not (REPO / "mappings" / "salesforce.toml").exists()
    load_config(target)
    again = runner.invoke(app, ["init", str(target)])
    assert again.exit_code == 2
