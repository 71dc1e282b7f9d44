"""Bad source records are quarantined with a reason and the sync goes on; hostile names pass through intact.

One cluster gets every bad record planted at once (in the emulators' backends and the usage CSV), one sync
runs, and each planted record is then its own test case: quarantined under its id with a reason naming the
problem.  The same run must score every healthy account and write names with markup, quotes, backslashes
and non-Latin text back unchanged.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from connector.runtime import open_store, run_sync

from .rel_kit import NOW, Case, Rig, cli, start_rig

ACCOUNTS = 40
HOSTILE_NAMES = {"001Dn00000HOST1IAA": "<script>alert('x')</script> & Co",
                 "001Dn00000HOST2IAA": "O'Reilly \\ Sons; DROP TABLE Account--",
                 "001Dn00000HOST3IAA": "Zürich Ünïcødé 株式会社 🚀 \u202eevil",
                 # Rich markup, a screen clear and an OSC 8 hyperlink: printed as text, never interpreted
                 "001Dn00000HOST4IAA": "Acme [/] [bold red]Ltd[/] \x1b[2J\x1b]8;;https://evil.example\x07click\x1b]8;;\x07"}
MARKUP_NAME = "001Dn00000HOST4IAA"
LONG_FIELD = b"x" * 131_073  # one over the csv module's field limit


def sf_account(rig: Rig, ident: str, **changes: Any) -> None:
    backend = rig.cluster.emulators["salesforce"].backend
    with backend.lock:
        template = copy.deepcopy(next(iter(backend.records["Account"].values())))
        template.update(Id=ident, **changes)
        backend.records["Account"][ident] = template


def usage_row(rig: Rig, line: bytes) -> None:
    with rig.cluster.usage_path.open("ab") as fh:
        fh.write(line + b"\n")


def sf(name: str, ident: str, reason: str, **changes: Any) -> Case:
    return Case(name, "salesforce", ident, reason, lambda rig: sf_account(rig, ident, **changes))


def usage(name: str, key: str, reason: str, line: bytes) -> Case:
    return Case(name, "usage", key, reason, lambda rig: usage_row(rig, line))


CASES = [
    sf("sf-name-null", "001Dn00000BAD01IAA", "Name", Name=None),
    sf("sf-name-empty", "001Dn00000BAD02IAA", "Name", Name="   "),
    sf("sf-name-huge", "001Dn00000BAD03IAA", "Name", Name="N" * 300),
    sf("sf-name-wrong-type", "001Dn00000BAD04IAA", "Name", Name=12345),
    sf("sf-arr-text", "001Dn00000BAD05IAA", "ARR__c.*number", ARR__c="lots"),
    sf("sf-arr-bool", "001Dn00000BAD06IAA", "ARR__c.*number", ARR__c=True),
    sf("sf-nps-text", "001Dn00000BAD07IAA", "NPS__c.*number", NPS__c="9/10"),
    sf("sf-advocate-text", "001Dn00000BAD08IAA", "Advocate__c.*checkbox", Advocate__c="yes"),
    sf("sf-contract-not-date", "001Dn00000BAD09IAA", "Contract_Start__c.*date", Contract_Start__c="last spring"),
    sf("sf-renewal-bad-date", "001Dn00000BAD10IAA", "Renewal_Date__c.*date", Renewal_Date__c="2026-13-45"),
    sf("sf-churn-reason-huge", "001Dn00000BAD13IAA", "Churn_Reason__c.*characters", Churn_Reason__c="x" * 40_000),
    sf("sf-upsells-list", "001Dn00000BAD14IAA", "Upsells_Taken__c.*number", Upsells_Taken__c="[1, 2]"),
    sf("sf-arr-beyond-plausible", "001Dn00000BAD16IAA", "ARR__c.*number", ARR__c=1e300),
    usage("usage-key-empty", "", "account key", b",2026-11-02T09:00:00+00:00,4,7,12,12,51"),
    usage("usage-as-of-garbage", "001Dn00000USE01IAA", "as_of", b"001Dn00000USE01IAA,tuesday,4,7,12,12,51"),
    usage("usage-far-future", "001Dn00000USE03IAA", "future",
          b"001Dn00000USE03IAA,2999-01-01T00:00:00+00:00,4,7,1,1,1"),
    usage("usage-metric-text", "001Dn00000USE04IAA", "active_users",
          b"001Dn00000USE04IAA,2026-11-02T09:00:00+00:00,four,7,1,1,1"),
    usage("usage-metric-negative", "001Dn00000USE05IAA", "licensed_seats",
          b"001Dn00000USE05IAA,2026-11-02T09:00:00+00:00,4,-7,1,1,1"),
    usage("usage-metric-huge", "001Dn00000USE07IAA", "features_adopted",
          b"001Dn00000USE07IAA,2026-11-02T09:00:00+00:00,4,7," + b"9" * 400 + b",12,51"),
    # one field over 131,072 characters, unquoted and quoted across lines: that row only, the rest is read
    usage("usage-field-over-limit", "", "not readable CSV.*field larger than field limit",
          b"001Dn00000USE08IAA,2026-11-02T09:00:00+00:00,4,7,1,1," + LONG_FIELD),
    usage("usage-quoted-field-over-limit", "", "not readable CSV.*field larger than field limit",
          b'001Dn00000USE09IAA,2026-11-02T09:00:00+00:00,4,7,1,1,"' + LONG_FIELD
          + b'\n001Dn00000USE10IAA,2026-11-02T09:00:00+00:00,4,7,1,1,1"'),
    usage("usage-metric-1e300", "001Dn00000USE11IAA", "active_users.*plausible",
          b"001Dn00000USE11IAA,2026-11-02T09:00:00+00:00,1e300,7,1,1,1"),
    usage("usage-seats-1e-300", "001Dn00000USE12IAA", "licensed_seats.*plausible",
          b"001Dn00000USE12IAA,2026-11-02T09:00:00+00:00,4,1e-300,1,1,1"),
    usage("usage-metric-underscores", "001Dn00000USE13IAA", "active_users.*not a number",
          b"001Dn00000USE13IAA,2026-11-02T09:00:00+00:00,1_000,7,1,1,1"),
    usage("usage-metric-arabic-digits", "001Dn00000USE14IAA", "active_users.*not a number",
          "001Dn00000USE14IAA,2026-11-02T09:00:00+00:00,١٢,7,1,1,1".encode()),
    usage("usage-metric-superscript", "001Dn00000USE15IAA", "licensed_seats.*not a number",
          "001Dn00000USE15IAA,2026-11-02T09:00:00+00:00,4,²,1,1,1".encode()),
    usage("usage-metric-infinity", "001Dn00000USE16IAA", "features_adopted.*not a number",
          b"001Dn00000USE16IAA,2026-11-02T09:00:00+00:00,4,7,Infinity,1,1"),
    usage("usage-metric-nan", "001Dn00000USE17IAA", "meaningful_events_30d.*not a number",
          b"001Dn00000USE17IAA,2026-11-02T09:00:00+00:00,4,7,1,1,NaN"),
    # after every bad row: a good one, which must still be read
    Case("usage-read-after-bad-rows", "usage", "", "", lambda rig: usage_row(
        rig, b"001Dn00000USE18IAA,2026-11-02T09:00:00+00:00,4,7,1,1,1")),
]
BAD_CASES = [c for c in CASES if c.reason]


def plant_hostile_names(rig: Rig) -> None:
    for ident, name in HOSTILE_NAMES.items():
        sf_account(rig, ident, Name=name, Website=f"https://{ident.lower()}.example' OR Name != '.com")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    rig = start_rig(tmp_path_factory.mktemp("bad-input"), accounts=ACCOUNTS)
    try:
        for case in CASES:
            case.plant(rig)
        plant_hostile_names(rig)
        result = run_sync(rig.config, now=NOW).as_json()
        store = open_store(rig.config)
        try:
            quarantined = [(q.source, str(q.entity_id or ""), q.reason) for q in store.quarantined(limit=10_000)]
        finally:
            store.close()
        accounts = {a["Id"]: a for a in rig.cluster.emulators["salesforce"].backend.accounts_view()}
        store = open_store(rig.config)
        try:
            usage_keys = {o.entity_id for o in store.observations("usage")}
        finally:
            store.close()
        yield {"result": result, "quarantined": quarantined, "accounts": accounts, "usage_keys": usage_keys,
               "config": rig.config_path}
    finally:
        rig.stop()


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
def test_bad_record_is_quarantined_with_reason(planted: dict[str, Any], case: Case) -> None:
    reasons = [r for source, ident, r in planted["quarantined"] if source == case.source and ident == case.entity_id]
    assert reasons, f"{case.name}: not quarantined; quarantine holds {planted['quarantined'][:50]}"
    assert any(re.search(case.reason, r) for r in reasons), reasons


def test_sync_goes_on_past_bad_records(planted: dict[str, Any]) -> None:
    result = planted["result"]
    assert result["status"] == "ok", (result["source_errors"], result["sink_errors"])
    assert result["scored"] >= ACCOUNTS
    assert not [f for s in result["sinks"].values() for f in s["failures"]]


@pytest.mark.parametrize("ident", sorted(HOSTILE_NAMES))
def test_hostile_names_are_scored_and_left_intact(planted: dict[str, Any], ident: str) -> None:
    account = planted["accounts"][ident]
    assert account["Name"] == HOSTILE_NAMES[ident]
    assert account["CS_Success_Vector__c"] is not None


def test_usage_rows_after_an_oversized_field_are_read(planted: dict[str, Any]) -> None:
    keys = planted["usage_keys"]
    assert "001Dn00000USE18IAA" in keys  # the good row after every bad one
    assert "001Dn00000USE10IAA" not in keys  # inside the quoted oversized field: never a row of its own
    assert not {"001Dn00000USE08IAA", "001Dn00000USE11IAA", "001Dn00000USE12IAA"} & keys


def test_explain_prints_markup_and_escapes_in_names_as_text(planted: dict[str, Any]) -> None:
    done = cli("explain", MARKUP_NAME, "-c", str(planted["config"]), "--now", NOW.isoformat(), env={"COLUMNS": "300"})
    assert done.returncode == 0, done.stderr
    assert "Acme [/] [bold red]Ltd[/]" in done.stdout and "click" in done.stdout
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    missing = cli("explain", "[/] nobody \x1b[2J", "-c", str(planted["config"]))
    assert missing.returncode == 1 and "MarkupError" not in missing.stderr and "\x1b" not in missing.stderr


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("ident", [MARKUP_NAME, "001Dn00000HOST1IAA"])
def test_explain_json_is_strict_and_keeps_the_name(planted: dict[str, Any], ident: str) -> None:
    done = cli("explain", ident, "--json", "-c", str(planted["config"]), "--now", NOW.isoformat())
    assert done.returncode == 0, done.stderr
    assert _strict_json(done.stdout)["account"]["name"] == HOSTILE_NAMES[ident]
