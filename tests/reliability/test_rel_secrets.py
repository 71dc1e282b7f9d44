"""Credentials never leave the process: not in logs, ``--json``, the state store, reports or error text;
and TLS verification cannot be switched off, only pointed at a CA bundle."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.config import ConfigError, load_config

from .rel_kit import Rig, cli, cli_sync, start_rig

ACCOUNTS = 30


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    rig = start_rig(tmp_path_factory.mktemp("secrets"), accounts=ACCOUNTS)
    yield rig
    rig.stop()


def issued_sessions(rig: Rig) -> set[str]:
    """Access tokens the Salesforce emulator handed out (secrets the connector held in memory)."""
    backend = rig.cluster.emulators["salesforce"].backend
    with backend.lock:
        return set(backend._sessions)


def leaks(text: str, secrets: set[str]) -> list[str]:
    return sorted(s[:12] + "…" for s in secrets if s in text)


def store_dump(rig: Rig) -> str:
    """Every table of the SQLite state store, as SQL text."""
    db = rig.config_path.parent / "state" / "connector.db"
    with sqlite3.connect(db) as conn:
        return "\n".join(conn.iterdump())


def test_secrets_absent_from_logs_json_store_and_report(rig: Rig, tmp_path: Path) -> None:
    secrets = set(rig.cluster.tokens.values())
    texts: dict[str, str] = {}
    for name, args in {"sync": ("--log-level", "DEBUG", "sync", "-c", str(rig.config_path), "--json"),
                       "check": ("--log-level", "DEBUG", "check", "-c", str(rig.config_path), "--json"),
                       "status": ("status", "-c", str(rig.config_path), "--json"),
                       "report": ("report", "-c", str(rig.config_path), "--out", str(tmp_path / "r.html"))}.items():
        done = cli(*args)
        assert done.returncode == 0, (name, done.stdout[-1000:], done.stderr[-1000:])
        texts[f"{name} stdout"], texts[f"{name} stderr"] = done.stdout, done.stderr
    secrets |= issued_sessions(rig)
    texts["state store"] = store_dump(rig)
    texts["report"] = (tmp_path / "r.html").read_text(encoding="utf-8")
    texts["config"] = rig.config_path.read_text(encoding="utf-8")
    assert "DEBUG" in texts["sync stderr"].upper() or texts["sync stderr"], "debug logging produced nothing to check"
    found = {where: leaks(text, secrets) for where, text in texts.items() if leaks(text, secrets)}
    assert not found, found


def test_auth_failures_name_the_system_but_not_the_credential(rig: Rig, tmp_path: Path) -> None:
    wrong = {"hubspot_token": "pat-eu1-WRONG-hubspot-0123456789abcdef",
             "zendesk_token": "WRONG-zendesk-token-0123456789abcdef",
             "salesforce_refresh_token": "WRONG-sf-refresh-0123456789abcdef",
             "stripe_key": "sk_test_WRONG0123456789abcdef"}
    originals = {name: rig.cluster.secret_file(name).read_text(encoding="utf-8") for name in wrong}
    try:
        for name, value in wrong.items():
            rig.cluster.secret_file(name).write_text(value, encoding="utf-8")
        done = cli("--log-level", "DEBUG", "sync", "-c", str(rig.config_path), "--json")
        summary = cli_sync(rig.config_path, "--skip-preflight")  # past the pre-flight: every source's error too
    finally:
        for name, value in originals.items():
            rig.cluster.secret_file(name).write_text(value, encoding="utf-8")
    stopped = json.loads(done.stdout)
    assert stopped["status"] == "preflight_failed" and done.returncode == 1, done.stdout
    assert set(stopped["preflight"]["unchecked"]) == {"salesforce", "hubspot", "zendesk"}, stopped
    errors = {**summary["source_errors"], **summary["sink_errors"]}
    assert {"salesforce", "hubspot", "zendesk", "stripe"} <= set(summary["source_errors"]), errors
    for system in ("salesforce", "hubspot", "zendesk", "stripe"):
        assert re.search(r"auth|401|403|credential|token|key|session|refused|permission", errors[system], re.I), \
            (system, errors[system])
    secrets = set(wrong.values()) | set(rig.cluster.tokens.values())
    everything = done.stdout + done.stderr + str(summary) + store_dump(rig)
    assert not leaks(everything, secrets), leaks(everything, secrets)


def test_without_the_sandbox_ca_every_system_fails_on_tls(rig: Rig, tmp_path: Path) -> None:
    text = rig.config_path.read_text(encoding="utf-8")
    no_ca = tmp_path / "no-ca.toml"
    no_ca.write_text(re.sub(r"^ca_bundle = .*\n", "", text, flags=re.M), encoding="utf-8")
    summary = cli_sync(no_ca, "--skip-preflight")
    assert summary["status"] in ("partial", "failed")
    for system in ("salesforce", "hubspot", "zendesk", "stripe"):
        assert re.search(r"SSL|CERTIFICATE_VERIFY_FAILED|certificate", summary["source_errors"].get(system, "")), \
            (system, summary["source_errors"])


@pytest.mark.parametrize("key", ["verify = false", "ssl_verify = false", "verify_ssl = false", "insecure = true",
                                 "tls_verify = false"])
def test_no_config_key_turns_verification_off(rig: Rig, tmp_path: Path, key: str) -> None:
    text = rig.config_path.read_text(encoding="utf-8")
    patched = tmp_path / "insecure.toml"
    patched.write_text(text.replace("[hubspot]\n", f"[hubspot]\n{key}\n", 1), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(patched)
    assert "hubspot" in str(info.value)
