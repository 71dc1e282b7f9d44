"""The Salesforce source: accounts and CRM signals, incremental with an Id tie-break, quarantine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sf_kit import SfSandbox, make_config, source_ctx

from connector.config import Config
from connector.http import HttpLayer
from connector.records import Account, Observation, Quarantined
from connector.sandbox.core import SandboxClock
from connector.sources.salesforce import SalesforceSource, domain_of
from connector.store import Store


def pull(config: Config, store: Store, http: HttpLayer, clock: SandboxClock, full: bool = False) -> list[object]:
    return list(SalesforceSource(config).pull(source_ctx(store, http, config, clock, full)))


def test_first_pull_yields_accounts_and_crm_signals(config: Config, store: Store, http: HttpLayer,
                                                    clock: SandboxClock, sandbox: SfSandbox) -> None:
    items = pull(config, store, http, clock)
    accounts = {a.account_id: a for a in items if isinstance(a, Account)}
    observations = {o.entity_id: o for o in items if isinstance(o, Observation)}
    assert len(accounts) == len(observations) == 30
    first = sandbox.backend.records["Account"][next(iter(accounts))]
    account = accounts[first["Id"]]
    assert (account.name, account.domain, account.external_id, account.segment) == (
        "Company 0", "c0.test", "ERP-00000", "Enterprise")
    assert account.arr == 10_000.0 and account.owner_id is not None and account.renewal_date is not None
    signals = observations[first["Id"]].signals
    assert signals["champion_changed_90d"] == 1.0  # champion since 2026-10-01, clock at 2026-11-02
    assert signals["email_opt_out"] == 1.0          # company 0's champion opted out
    assert signals["services_purchased"] == 1.0 and signals["churned"] == 0.0 and signals["nps"] == 0.0
    other = observations[next(i for i, a in accounts.items() if a.name == "Company 1")].signals
    assert (other["champion_changed_90d"], other["email_opt_out"]) == (0.0, 0.0)
    keys = observations[first["Id"]].keys
    assert (keys.crm_id, keys.external_id, keys.domain) == (first["Id"], "ERP-00000", "c0.test")


def test_second_pull_without_changes_is_one_probe_per_stream(config: Config, store: Store, http: HttpLayer,
                                                            clock: SandboxClock, sandbox: SfSandbox) -> None:
    from sf_kit import sink_ctx

    from connector.sinks.salesforce import SalesforceSink

    # the sink's fields exist (the source reads them along with the signals; before `setup` it cannot)
    SalesforceSink(config).setup(sink_ctx(store, http, config, clock), dry_run=False)
    pull(config, store, http, clock)
    sandbox.reset_ledger()
    assert pull(config, store, http, clock) == []
    assert sandbox.calls() == ["GET /services/data/v59.0/query/"] * 2  # Account and Contact cursors


def test_modified_account_and_contact_appear_in_the_next_pull(config: Config, store: Store, http: HttpLayer,
                                                              clock: SandboxClock, sandbox: SfSandbox) -> None:
    pull(config, store, http, clock)
    backend = sandbox.backend
    ids = list(backend.records["Account"])
    clock.advance(timedelta(minutes=5))
    backend.update("Account", {"Id": ids[3], "ARR__c": 99_000})
    contact = next(c for c in backend.records["Contact"].values() if c["AccountId"] == ids[4] and c["Is_Champion__c"])
    backend.update("Contact", {"Id": contact["Id"], "HasOptedOutOfEmail": True})
    items = pull(config, store, http, clock)
    assert {i.account_id for i in items if isinstance(i, Account)} == {ids[3], ids[4]}
    obs = {o.entity_id: o for o in items if isinstance(o, Observation)}
    assert obs[ids[3]].signals["arr"] == 99_000.0
    assert obs[ids[4]].signals["email_opt_out"] == 1.0


def test_rows_sharing_the_cursor_timestamp_are_not_missed(config: Config, store: Store, http: HttpLayer,
                                                          clock: SandboxClock, sandbox: SfSandbox) -> None:
    backend = sandbox.backend
    stamp = "2026-11-02T08:00:00.000+0000"
    for record in backend.records["Account"].values():
        record["SystemModstamp"] = stamp
    pull(config, store, http, clock)
    last_id = max(backend.records["Account"])
    late = backend.put("Account", {"Id": last_id[:-4] + "zzzz", "Name": "Same second, later id",
                                   "SystemModstamp": stamp})
    items = pull(config, store, http, clock)
    assert [i.account_id for i in items if isinstance(i, Account)] == [late]


def test_bad_records_are_quarantined_with_the_field_named(config: Config, store: Store, http: HttpLayer,
                                                          clock: SandboxClock, sandbox: SfSandbox) -> None:
    backend = sandbox.backend
    wrong_type = backend.put("Account", {"Name": "Typo Inc", "ARR__c": "twelve thousand"})
    huge = backend.put("Account", {"Name": "Huge Inc", "Churn_Reason__c": "x" * 5000})
    backend.put("Account", {"Name": "No Id"}, raw=True)
    long_name = backend.put("Account", {"Name": "N" * 300})
    items = pull(config, store, http, clock)
    bad = {q.entity_id: q.reason for q in items if isinstance(q, Quarantined)}
    assert "ARR__c (arr) should be a number" in bad[wrong_type]
    assert "Churn_Reason__c (churn_reason) holds 5000 characters" in bad[huge]
    assert bad[None] == "Account without an Id"
    assert "Name is missing or longer than 255" in bad[long_name]
    assert sum(isinstance(i, Account) for i in items) == 30
    quarantined = next(q for q in items if isinstance(q, Quarantined) and q.entity_id == huge)
    assert len(quarantined.payload["Churn_Reason__c"]) < 300


def test_when_hubspot_is_primary_only_identity_observations_are_emitted(
        sandbox: SfSandbox, sandbox_tls, monkeypatch: pytest.MonkeyPatch, store: Store, http: HttpLayer,
        clock: SandboxClock) -> None:
    config = make_config(sandbox, sandbox_tls, monkeypatch, primary="hubspot")
    items = pull(config, store, http, clock)
    assert items and all(isinstance(i, Observation) for i in items)
    first = items[0]
    assert isinstance(first, Observation)
    assert first.entity == "account" and first.keys.crm_id is None
    assert first.keys.external_id is not None and first.keys.domain is not None
    assert first.signals == {}


def test_full_pull_ignores_cursors(config: Config, store: Store, http: HttpLayer, clock: SandboxClock,
                                   sandbox: SfSandbox) -> None:
    pull(config, store, http, clock)
    assert sum(isinstance(i, Account) for i in pull(config, store, http, clock, full=True)) == 30


@pytest.mark.parametrize(("website", "domain"), [("https://www.Acme.com/about", "acme.com"),
                                                 ("acme.io:8443", "acme.io"), ("", None), (None, None)])
def test_domain_of_website(website: str | None, domain: str | None) -> None:
    assert domain_of(website) == domain


def test_the_first_pull_of_a_day_rebuilds_every_account(config: Config, store: Store, http: HttpLayer,
                                                        clock: SandboxClock, sandbox: SfSandbox) -> None:
    """The champion window moves with the calendar and a signal's age says when the CRM was last read:
    once a day every account is observed again (from the replica, not read again); later that day only
    changed ones, so an echo of the connector's own write the same day changes no signal's age."""
    first = pull(config, store, http, clock)
    everyone = {i.account_id for i in first if isinstance(i, Account)}
    ids = list(sandbox.backend.records["Account"])
    clock.advance(timedelta(hours=1))
    sandbox.backend.update("Account", {"Id": ids[2], "ARR__c": 12_345})
    assert {i.account_id for i in pull(config, store, http, clock) if isinstance(i, Account)} == {ids[2]}
    clock.advance(timedelta(days=1))
    again = pull(config, store, http, clock)
    assert {i.account_id for i in again if isinstance(i, Account)} == everyone
    stamps = {o.as_of for o in again if isinstance(o, Observation)}
    assert len(stamps) == 1 and min(stamps) >= max(o.as_of for o in first if isinstance(o, Observation)) \
        + timedelta(days=1)
