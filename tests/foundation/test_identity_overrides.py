"""Identity overrides as code: the file format, its line-numbered errors, editing it, and resolution honouring it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import ConfigError, IdentityConfig
from connector.identity import IdentityResolver
from connector.identity_overrides import TEMPLATE, edit, load, parse, parse_ref, render_entry
from connector.records import Account

ACCOUNTS = [
    Account("001A", "salesforce", "Acme", "acme.com", "ERP-1"),
    Account("001B", "salesforce", "Acme Holdings", "acme.com", "ERP-1"),  # shares domain and external id
    Account("001C", "salesforce", "Globex", "globex.io", "ERP-3"),
]
ORG = ("zendesk", "organization", "360000000017")


def _file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "identity_overrides.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_template_parses_empty_and_repo_starter_file_is_the_template() -> None:
    assert parse(TEMPLATE) == ([], [])
    starter = Path(__file__).resolve().parents[2] / "mappings" / "identity_overrides.toml"
    assert starter.read_text(encoding="utf-8") == TEMPLATE


def test_rendered_line_round_trips_with_comment_and_awkward_text(tmp_path: Path) -> None:
    line = render_entry("zendesk", "organization", 'we"ird#id', "001A", 'Acme "EU" # after merger')
    path = _file(tmp_path, f"link = [\n{line}\n]\n")
    loaded = load(path)
    assert loaded.link == {("zendesk", "organization", 'we"ird#id'): "001A"}


@pytest.mark.parametrize(
    "body,line,words",
    [
        ('link = [\n  { source = "zendesk", entity = "organization", id = "1" },\n]\n', 2, "missing account"),
        ('link = [\n  { source = "zendesk", entity = "organization", id = "1", account = "001A", x = 1 },\n]\n',
         2, "unknown key(s) x"),
        ('link = [\n  { source = "zendesk", entity = "organization" id = "1", account = "001A" },\n]\n', 2,
         "not a valid override"),
        ('# ok\nlink = [\n  { source = "zendesk", entity = "organization", id = "", account = "001A" },\n]\n', 3,
         "id must be a non-empty"),
        ('link = [\n]\nnever = [\n  { source = "zendesk", entity = "organization", id = "1", account = "001A" },\n',
         4, "never closed"),
        ('links = [\n]\n', 1, "expected `link = [`"),
        ('link = [\n  { source = "s", entity = "e", id = "1", account = "001A" },\n'
         '  { source = "s", entity = "e", id = "1", account = "001B" },\n]\n', 3, "already linked to 001A on line 2"),
        ('link = [\n  { source = "s", entity = "e", id = "1", account = "001A" },\n]\n'
         'never = [\n  { source = "s", entity = "e", id = 1, account = "001A" },\n]\n', 5, "both `link` and `never`"),
    ],
)
def test_malformed_line_is_named(tmp_path: Path, body: str, line: int, words: str) -> None:
    path = _file(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.path == str(path)
    assert any(key == f"line {line}" and words in msg for key, msg in caught.value.problems), caught.value.problems


def test_numeric_id_is_accepted_as_text(tmp_path: Path) -> None:
    body = 'never = [\n  { source = "zendesk", entity = "organization", id = 42, account = "001A" },\n]\n'
    path = _file(tmp_path, body)
    assert load(path).never == {("zendesk", "organization", "42"): frozenset({"001A"})}


def test_editing_keeps_comments_and_replaces_what_it_contradicts(tmp_path: Path) -> None:
    path = _file(tmp_path, "# reviewed by ops\n" + TEMPLATE)
    edit(path, "never", ORG, "001A", "not Acme")
    edit(path, "link", ORG, "001B", "Acme Holdings owns it")
    assert load(path).link == {ORG: "001B"}
    changes = edit(path, "link", ORG, "001A", "")  # re-link: the old link and the never of that pair go
    assert len(changes) == 3, changes
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# reviewed by ops\n") and "# One override per line." in text
    loaded = load(path)
    assert loaded.link == {ORG: "001A"} and loaded.never == {}
    edit(path, None, ORG, None)
    assert len(load(path)) == 0
    assert parse(path.read_text(encoding="utf-8"))[1] == []


def test_edit_creates_a_missing_file_and_refuses_a_broken_one(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "overrides.toml"
    edit(path, "link", ORG, "001A")
    assert load(path).link == {ORG: "001A"}
    broken = _file(tmp_path, "link = [\n  nonsense\n]\n")
    with pytest.raises(ConfigError):
        edit(broken, "link", ORG, "001A")
    assert broken.read_text(encoding="utf-8") == "link = [\n  nonsense\n]\n"


def test_parse_ref() -> None:
    assert parse_ref("zendesk:organization:a:b") == ("zendesk", "organization", "a:b")
    with pytest.raises(ValueError, match="SOURCE:ENTITY:ID"):
        parse_ref("zendesk:42")


def test_link_beats_every_key_and_decides_an_ambiguous_match(tmp_path: Path) -> None:
    keys = {"external_id": "ERP-1", "domain": "acme.com"}
    plain = IdentityResolver(ACCOUNTS, IdentityConfig()).resolve(*ORG, keys)
    assert plain.status == "ambiguous"
    path = tmp_path / "o.toml"
    edit(path, "link", ORG, "001B")
    m = IdentityResolver(ACCOUNTS, IdentityConfig(), load(path)).resolve(*ORG, {"crm_id": "001C", **keys})
    assert (m.status, m.account_id, m.key) == ("matched", "001B", "override")


def test_link_to_an_account_gone_from_the_crm_is_unmatched(tmp_path: Path) -> None:
    path = tmp_path / "o.toml"
    edit(path, "link", ORG, "001GONE")
    m = IdentityResolver(ACCOUNTS, IdentityConfig(), load(path)).resolve(*ORG, {"domain": "globex.io"})
    assert (m.status, m.account_id, m.key) == ("unmatched", None, "override")


def test_never_pair_stays_unmatched_and_never_narrows_candidates(tmp_path: Path) -> None:
    path = tmp_path / "o.toml"
    edit(path, "never", ORG, "001C")
    resolver = IdentityResolver(ACCOUNTS, IdentityConfig(), load(path))
    assert resolver.resolve(*ORG, {"domain": "globex.io"}).status == "unmatched"
    other = ("zendesk", "organization", "99")
    assert resolver.resolve(*other, {"domain": "globex.io"}).account_id == "001C"  # only that record
    edit(path, "never", ORG, "001A")
    narrowed = IdentityResolver(ACCOUNTS, IdentityConfig(), load(path)).resolve(*ORG, {"domain": "acme.com"})
    assert (narrowed.status, narrowed.account_id) == ("matched", "001B")


def test_cli_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    bad = tmp_path / "mappings" / "identity_overrides.toml"
    bad.write_text('# ok\nnever = [\n  { source = "zendesk", account = "001A" },\n]\n', encoding="utf-8")
    config = tmp_path / "connector.toml"
    config.write_text('[hubspot]\nbase_url = "https://api.hubapi.com"\naccess_token_env = "HS_TOKEN"\n'
                      '[connector]\nprimary_crm = "hubspot"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "validate", "-c", str(config)])
    assert result.exit_code == 2
    assert f"{bad}: line 3: missing entity, id" in result.stderr, result.stderr
    linked = CliRunner().invoke(app, ["identity", "link", "zendesk:organization:1", "001A", "-c", str(config)])
    assert linked.exit_code == 2 and "line 3" in linked.stderr
    bad.write_text(TEMPLATE, encoding="utf-8")
    linked = CliRunner().invoke(app, ["identity", "link", "zendesk:organization:1", "001A", "-c", str(config)])
    assert linked.exit_code == 0, linked.output
    assert load(bad).link == {("zendesk", "organization", "1"): "001A"}
