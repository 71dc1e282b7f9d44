"""Identity resolution: precedence, ambiguity reported (never guessed), normalisation, merging."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.config import IdentityConfig
from connector.identity import IdentityResolver, merge_signals, normalise_domain
from connector.records import Account

NOW = datetime(2026, 11, 2, tzinfo=UTC)
ACCOUNTS = [
    Account("001A", "salesforce", "Acme", "https://www.Acme.com/", "ERP-1"),
    Account("001B", "salesforce", "Globex", "globex.io", "ERP-2"),
    Account("001C", "salesforce", "Globex EMEA", "globex.io", "ERP-3"),  # duplicate domain after an acquisition
    Account("001D", "salesforce", "Initech", None, "ERP-4"),
    Account("001E", "salesforce", "Initrode", "gmail.com", "ERP-4"),  # one external id on two accounts
]


@pytest.fixture
def resolver() -> IdentityResolver:
    return IdentityResolver(ACCOUNTS, IdentityConfig())


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("HTTPS://www.Acme.com:443/about?x=1", "acme.com"),
        ("ops@Acme.COM", "acme.com"),
        ("acme.com.", "acme.com"),
        ("zürich.ch", "zürich.ch"),
        ("not a domain", None),
        ("", None),
        (None, None),
        ("localhost", None),
        ("acme.com'; DROP TABLE accounts;--", None),
    ],
)
def test_normalise_domain(raw: str | None, expected: str | None) -> None:
    assert normalise_domain(raw) == expected


def test_precedence_crm_id_beats_domain(resolver: IdentityResolver) -> None:
    m = resolver.resolve("stripe", "customer", "cus_1", {"crm_id": "001B", "domain": "acme.com"})
    assert (m.status, m.account_id, m.key) == ("matched", "001B", "crm_id")


def test_falls_through_to_next_key(resolver: IdentityResolver) -> None:
    m = resolver.resolve("zendesk", "organization", "9", {"external_id": "ERP-404", "domain": "www.acme.com"})
    assert (m.status, m.account_id, m.key) == ("matched", "001A", "domain")


def test_duplicate_domain_is_ambiguous_not_guessed(resolver: IdentityResolver) -> None:
    m = resolver.resolve("enrichment", "domain", "globex.io", {"domain": "globex.io"})
    assert m.status == "ambiguous" and m.account_id is None and m.candidates == ("001B", "001C")


def test_one_org_for_two_accounts_is_ambiguous(resolver: IdentityResolver) -> None:
    m = resolver.resolve("zendesk", "organization", "7", {"external_id": "ERP-4"})
    assert m.status == "ambiguous" and m.candidates == ("001D", "001E")


def test_freemail_never_matches(resolver: IdentityResolver) -> None:
    m = resolver.resolve("stripe", "customer", "cus_2", {"email_domain": "gmail.com"})
    assert m.status == "unmatched"


def test_missing_keys_are_unmatched(resolver: IdentityResolver) -> None:
    m = resolver.resolve("stripe", "customer", "cus_3", {})
    assert m.status == "unmatched" and m.key is None


def test_merge_adds_counts_and_keeps_worst() -> None:
    merged = {
        s.name: s.value
        for s in merge_signals(
            "001A",
            "zendesk",
            [
                ({"tickets_open": 2.0, "resolution_hours_p90": 10.0, "competitor_names": "RivalCS"}, NOW),
                ({"tickets_open": 3.0, "resolution_hours_p90": 30.0, "competitor_names": "HealthDeck;RivalCS"}, NOW),
            ],
        )
    }
    assert merged == {"tickets_open": 5.0, "resolution_hours_p90": 30.0, "competitor_names": "RivalCS;HealthDeck"}
    statuses = {
        s.value
        for s in merge_signals(
            "001A", "stripe", [({"subscription_status": "active"}, NOW), ({"subscription_status": "past_due"}, NOW)]
        )
    }
    assert statuses == {"past_due"}
