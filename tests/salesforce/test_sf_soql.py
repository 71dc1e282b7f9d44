"""SOQL: the emulator's parser rejects what Salesforce rejects, and our quoting keeps data out of syntax."""

from __future__ import annotations

from pathlib import Path

import pytest
from sf_kit import REPO, SfSandbox, make_config
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connector.clients.salesforce import SalesforceClient, soql_datetime, soql_identifier, soql_quote
from connector.config import ConfigError
from connector.sandbox.salesforce.schema import standard_objects
from connector.sandbox.salesforce.soql import SoqlError, parse
from connector.sources.salesforce import SalesforceSource

SCHEMA = standard_objects()


def _matches(where: str, record: dict[str, object]) -> bool:
    q = parse(f"SELECT Id FROM Account WHERE {where}", SCHEMA)
    assert q.where is not None
    return q.where(record)


@pytest.mark.parametrize(("where", "record", "expected"), [
    ("Name = 'acme'", {"Name": "ACME"}, True),  # string equality is case-insensitive, as in Salesforce
    ("ARR__c >= 10 AND (Segment__c = 'SMB' OR Segment__c = 'Enterprise')", {"ARR__c": 10.0, "Segment__c": "SMB"}, True),
    ("ARR__c < 10 OR NOT Churned__c = TRUE", {"ARR__c": 12.0, "Churned__c": True}, False),
    ("Segment__c IN ('SMB', 'Mid-Market')", {"Segment__c": "Mid-Market"}, True),
    ("Segment__c NOT IN ('SMB')", {"Segment__c": "SMB"}, False),
    ("Name LIKE 'Ac_e%'", {"Name": "Acme Corp"}, True),
    ("Name LIKE '100\\%'", {"Name": "100 percent"}, False),
    ("Churn_Reason__c = NULL", {"Churn_Reason__c": None}, True),
    ("Renewal_Date__c <= 2027-01-01", {"Renewal_Date__c": "2026-12-31"}, True),
    ("SystemModstamp > 2026-11-02T09:00:00.000Z", {"SystemModstamp": "2026-11-02T09:00:00.001+0000"}, True),
    ("SystemModstamp > 2026-11-02T10:00:00+01:00", {"SystemModstamp": "2026-11-02T09:00:00.000+0000"}, False),
    ("Name = 'O\\'Brien \\\\ Co'", {"Name": "O'Brien \\ Co"}, True),
])
def test_where_clauses_evaluate_like_salesforce(where: str, record: dict[str, object], expected: bool) -> None:
    assert _matches(where, record) is expected


@pytest.mark.parametrize(("text", "code"), [
    ("SELECT Id, Nmae FROM Account", "INVALID_FIELD"),
    ("SELECT Id FROM Acount", "INVALID_TYPE"),
    ("SELECT Id FROM Account WHERE Renewal_Date__c > '2026-01-01'", "INVALID_FIELD"),
    ("SELECT Id FROM Account WHERE SystemModstamp > 2026-01-01", "INVALID_FIELD"),
    ("SELECT Id FROM Account WHERE Name = 'unterminated", "MALFORMED_QUERY"),
    ("SELECT Id FROM Account WHERE Name = 'x' OR", "MALFORMED_QUERY"),
    ("SELECT Id FROM Account LIMIT 5 extra", "MALFORMED_QUERY"),
])
def test_bad_queries_are_refused_with_salesforce_codes(text: str, code: str) -> None:
    with pytest.raises(SoqlError) as info:
        parse(text, SCHEMA)
    assert info.value.code == code


def test_order_by_and_limit_over_http(client: SalesforceClient) -> None:
    rows = list(client.query_iter("SELECT Id, ARR__c FROM Account WHERE Segment__c = 'SMB' "
                                  "ORDER BY ARR__c DESC NULLS LAST LIMIT 3"))
    assert [r["ARR__c"] for r in rows] == sorted((r["ARR__c"] for r in rows), reverse=True)
    assert len(rows) == 3


def test_unknown_field_is_a_400_invalid_field(client: SalesforceClient) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        list(client.query_iter("SELECT Id, NotAField__c FROM Account"))
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"


@pytest.mark.parametrize("hostile", [
    "x' OR Name != '",
    "x\\' OR Name != \\'",
    "x\\\\' OR Name != '",
    "line\nbreak' OR Id != '",
    "quote\" and tab\t' OR Id != '",
])
def test_soql_quote_keeps_injection_attempts_as_data(client: SalesforceClient, sandbox: SfSandbox,
                                                     hostile: str) -> None:
    assert list(client.query_iter(f"SELECT Id FROM Account WHERE Name = {soql_quote(hostile)}")) == []
    record_id = sandbox.backend.put("Account", {"Name": hostile})
    found = list(client.query_iter(f"SELECT Id, Name FROM Account WHERE Name = {soql_quote(hostile)}"))
    assert [(r["Id"], r["Name"]) for r in found] == [(record_id, hostile)]


def test_soql_quote_escapes_every_special_character() -> None:
    assert soql_quote("O'Brien\\\n\"") == "'O\\'Brien\\\\\\n\\\"'"


@pytest.mark.parametrize("bad", ["Name, (SELECT Id FROM Contacts)", "ARR__c FROM User --", "A B", "x'", "Bad__x__c",
                                 ""])
def test_soql_identifier_refuses_anything_but_a_field_name(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid field name"):
        soql_identifier(bad)


def test_soql_datetime_is_utc_and_needs_a_zone() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    local = datetime(2026, 11, 2, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert soql_datetime(local) == "2026-11-02T09:00:00.123Z"
    with pytest.raises(ValueError):
        soql_datetime(datetime(2026, 11, 2))
    assert soql_datetime(datetime(2026, 1, 1, tzinfo=UTC)).endswith("Z")


def test_mapping_field_names_cannot_inject_soql(sandbox: SfSandbox, sandbox_tls, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    text = (REPO / "mappings" / "salesforce.toml").read_text()
    bad = tmp_path / "salesforce.toml"
    bad.write_text(text.replace('arr = "ARR__c"', 'arr = "ARR__c FROM User WHERE Id != null --"'))
    config = make_config(sandbox, sandbox_tls, monkeypatch, mapping=str(bad))
    with pytest.raises(ConfigError, match=r"source\.arr"):
        SalesforceSource(config)
