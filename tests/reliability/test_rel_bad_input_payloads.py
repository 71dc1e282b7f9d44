"""Bad Stripe, usage, technology-lookup and Zendesk payloads are quarantined with a reason; the sync goes on.

Like :mod:`test_rel_bad_input`, one Salesforce-primary cluster gets every bad record planted at once —
verbatim in the emulators' backends, so the connector reads them over the real HTTP path — one sync runs,
and each planted record is its own test case: quarantined under its id with a reason naming the field.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.runtime import open_store, run_sync
from connector.sources.enrichment import normalise_domain

from .rel_kit import NOW, Case, Rig, start_rig

ACCOUNTS = 40
T = int((NOW - timedelta(days=3)).timestamp())
FAR_FUTURE = int(datetime(2999, 1, 1, tzinfo=UTC).timestamp())
PAST = int((NOW - timedelta(hours=1)).timestamp())  # export position of planted Zendesk records


# -- Stripe ---------------------------------------------------------------------------------------------


def _customer(rig: Rig) -> str:
    return str(min(rig.cluster.emulators["stripe"].backend.customers))


def stripe_obj(kind: str, ident: str | None, **fields: Any) -> Callable[[Rig], None]:
    def plant(rig: Rig) -> None:
        obj: dict[str, Any] = {"object": kind, "created": T, "livemode": False, "metadata": {}}
        if ident is not None:
            obj["id"] = ident
        if kind in ("invoice", "subscription"):
            obj["customer"] = _customer(rig)
        if kind == "invoice":
            obj.update(status="open", paid=False, attempt_count=1, amount_due=5000, due_date=None)
        if kind == "subscription":
            obj.update(status="active", items={"object": "list", "data": [
                {"quantity": 3, "price": {"unit_amount": 1000, "recurring": {"interval": "month",
                                                                             "interval_count": 1}}}]})
        obj.update(fields)
        rig.cluster.emulators["stripe"].backend.put_raw(obj)
    return plant


def stripe_bad_card(rig: Rig) -> None:
    backend = rig.cluster.emulators["stripe"].backend
    backend.put_raw({"id": "pm_bad_expiry", "object": "payment_method", "type": "card", "created": T,
                     "customer": "cus_bad_card_owner", "card": {"brand": "visa", "exp_month": 13, "exp_year": 2027}})
    backend.put_raw({"id": "cus_bad_card_owner", "object": "customer", "created": T, "email": "x@card.example",
                     "metadata": {}, "invoice_settings": {"default_payment_method": "pm_bad_expiry"}})


def stripe(name: str, kind: str, ident: str | None, reason: str, **fields: Any) -> Case:
    return Case(name, "stripe", ident or "", reason, stripe_obj(kind, ident, **fields))


STRIPE = [
    stripe("stripe-invoice-no-customer", "invoice", "in_bad_nocustomer", "`customer`", customer=None),
    stripe("stripe-invoice-attempts-text", "invoice", "in_bad_attempts", "`attempt_count`", attempt_count="three"),
    stripe("stripe-invoice-unknown-status", "invoice", "in_bad_status", "`status`", status="overdue"),
    stripe("stripe-invoice-due-date-text", "invoice", "in_bad_due", "`due_date`", due_date="2026-12-01"),
    stripe("stripe-invoice-created-null", "invoice", "in_bad_created", "`created`", created=None),
    stripe("stripe-subscription-unknown-status", "subscription", "sub_bad_status", "`status`", status="zombie"),
    stripe("stripe-subscription-quantity-text", "subscription", "sub_bad_qty", r"`items\.data\.0\.quantity`",
           items={"data": [{"quantity": "10 seats", "price": {"unit_amount": 100}}]}),
    stripe("stripe-customer-no-id", "customer", None, r"no id.*`id`", email="noid@stripe.example"),
    stripe("stripe-customer-far-future", "customer", "cus_bad_future", "`created`.*future", created=FAR_FUTURE),
    stripe("stripe-customer-huge-email", "customer", "cus_bad_email", "`email`.*characters",
           email="a" * 1_000_000 + "@x.example"),
    Case("stripe-card-bad-expiry", "stripe", "pm_bad_expiry", r"`card\.exp_month`", stripe_bad_card),
]

# -- usage CSV ------------------------------------------------------------------------------------------


def usage_row(line: bytes) -> Callable[[Rig], None]:
    def plant(rig: Rig) -> None:
        with rig.cluster.usage_path.open("ab") as fh:
            fh.write(line + b"\n")
    return plant


NAIVE_KEY = "001Dn00000USE10IAA"
USAGE = [
    Case("usage-invalid-utf8-metric", "usage", "001Dn00000USE08IAA", "active_users.*not valid UTF-8",
         usage_row(b"001Dn00000USE08IAA,2026-11-02T09:00:00+00:00,\xff\xfe,7,1,1,1")),
    Case("usage-invalid-utf8-key", "usage", "001Dn\ufffd0000USE09IAA", "not valid UTF-8",
         usage_row(b"001Dn\xe90000USE09IAA,2026-11-02T09:00:00+00:00,4,7,1,1,1")),
]

# -- technology lookup ----------------------------------------------------------------------------------


def _looked_up_domain(rig: Rig) -> str:
    backend = rig.cluster.emulators["salesforce"].backend
    with backend.lock:
        sites = sorted(str(a.get("Website") or "") for a in backend.records["Account"].values())
    return next(d for s in sites if (d := normalise_domain(s)))


def tech(name: str, entry: dict[str, Any], reason: str) -> Case:
    def plant(rig: Rig) -> None:
        rig.cluster.emulators["techlookup"].backend.plant_raw(_looked_up_domain(rig), entry)
    return Case(name, "enrichment", "<domain>", reason, plant)


MS = int(NOW.timestamp() * 1000)
TECH = [
    tech("tech-date-text", {"Name": "Intercom", "Tag": "widgets", "FirstDetected": MS, "LastDetected": "last tuesday"},
         "`LastDetected`"),
    tech("tech-no-name", {"Tag": "widgets", "FirstDetected": MS, "LastDetected": MS}, "`Name`"),
    tech("tech-date-out-of-range", {"Name": "Drift", "FirstDetected": 10**20, "LastDetected": MS}, "`FirstDetected`"),
    tech("tech-date-far-future", {"Name": "Zendesk Chat", "FirstDetected": MS, "LastDetected": FAR_FUTURE * 1000},
         "2999-01-01 is in the future"),
]
SOQL_ACCOUNT = "001Dn00000SOQL1IAA"


def plant_soql_domain(rig: Rig) -> None:
    backend = rig.cluster.emulators["salesforce"].backend
    with backend.lock:
        account = copy.deepcopy(next(iter(backend.records["Account"].values())))
        account.update(Id=SOQL_ACCOUNT, Name="O'Reilly \\ Sons", Website="o'reilly\\sons.example")
        backend.records["Account"][SOQL_ACCOUNT] = account


TECH.append(Case("tech-domain-soql-metacharacters", "enrichment", SOQL_ACCOUNT, "not a host name", plant_soql_domain))

# -- Zendesk --------------------------------------------------------------------------------------------


def zd_ticket(ident: int, **changes: Any) -> Callable[[Rig], None]:
    def plant(rig: Rig) -> None:
        backend = rig.cluster.emulators["zendesk"].backend
        ticket = copy.deepcopy(next(iter(backend.tickets.values())))
        ticket.update(id=ident, **changes)
        backend.tickets[ident] = ticket
    return plant


def zd_org(ident: int, **changes: Any) -> Callable[[Rig], None]:
    def plant(rig: Rig) -> None:
        backend = rig.cluster.emulators["zendesk"].backend
        org = copy.deepcopy(next(iter(backend.orgs.values())))
        org.update(id=ident, name=f"planted {ident}", **changes)
        backend.orgs[ident] = org
    return plant


ZENDESK = [
    Case("zd-ticket-no-org-no-requester", "zendesk", "990000001", "no organization and no requester",
         zd_ticket(990000001, organization_id=None, requester_id=987654321)),
    Case("zd-ticket-huge-subject", "zendesk", "990000002", "'subject' has 2,000,000 characters",
         zd_ticket(990000002, subject="s" * 2_000_000)),
    Case("zd-ticket-unknown-status", "zendesk", "990000003", "unknown status 'escalating'",
         zd_ticket(990000003, status="escalating")),
    Case("zd-ticket-far-future", "zendesk", "990000004", "updated_at 2999.*future",
         zd_ticket(990000004, updated_at="2999-01-01T00:00:00Z", generated_timestamp=PAST)),
    Case("zd-ticket-naive-created", "zendesk", "990000005", "created_at '2026-10-01T10:00:00' is not",
         zd_ticket(990000005, created_at="2026-10-01T10:00:00")),
    Case("zd-org-far-future", "zendesk", "990000006", "updated_at 2999.*future",
         zd_org(990000006, updated_at="2999-01-01T00:00:00Z", generated_timestamp=PAST, external_id=None)),
]

CASES = [*STRIPE, *USAGE, *TECH, *ZENDESK]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    rig = start_rig(tmp_path_factory.mktemp("bad-payloads"), accounts=ACCOUNTS)
    try:
        for case in CASES:
            case.plant(rig)
        usage_row(f"{NAIVE_KEY},2026-11-01T09:00:00,4,7,1,1,1".encode())(rig)
        result = run_sync(rig.config, now=NOW).as_json()
        store = open_store(rig.config)
        try:
            quarantined = [(q.source, str(q.entity_id or ""), q.reason) for q in store.quarantined(limit=10_000)]
            naive = [o for o in store.observations() if o.source == "usage" and o.entity_id == NAIVE_KEY]
        finally:
            store.close()
        sf = rig.cluster.emulators["salesforce"].backend
        with sf.lock:
            accounts = {i: dict(a) for i, a in sf.records["Account"].items()}
        yield {"result": result, "quarantined": quarantined, "naive": naive, "accounts": accounts,
               "domain": _looked_up_domain(rig)}
    finally:
        rig.stop()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_payload_is_quarantined_with_reason(planted: dict[str, Any], case: Case) -> None:
    ident = planted["domain"] if case.entity_id == "<domain>" else case.entity_id
    reasons = [r for source, i, r in planted["quarantined"] if source == case.source and i == ident]
    assert reasons, f"{case.name}: not quarantined; quarantine holds {planted['quarantined'][:60]}"
    assert any(re.search(case.reason, r) for r in reasons), reasons


def test_sync_goes_on_past_bad_payloads(planted: dict[str, Any]) -> None:
    result = planted["result"]
    assert result["status"] == "ok", (result["source_errors"], result["sink_errors"])
    assert result["scored"] >= ACCOUNTS
    assert not [f for s in result["sinks"].values() for f in s["failures"]]
    for source in ("stripe", "usage", "enrichment", "zendesk"):
        assert result["pulled"][source].get("observations", 0) > 0, (source, result["pulled"])


def test_naive_usage_timestamp_is_read_as_utc(planted: dict[str, Any]) -> None:
    """Decision (docs/reliability.md): no time zone means UTC, counted in a warning, not quarantined."""
    stored = [o.as_of if o.as_of.tzinfo else o.as_of.replace(tzinfo=UTC) for o in planted["naive"]]  # SQLite: UTC
    assert stored == [datetime(2026, 11, 1, 9, tzinfo=UTC)]


def test_soql_metacharacter_name_is_scored_and_left_intact(planted: dict[str, Any]) -> None:
    account = planted["accounts"][SOQL_ACCOUNT]
    assert (account["Name"], account["Website"]) == ("O'Reilly \\ Sons", "o'reilly\\sons.example")
    assert account["CS_Success_Vector__c"] is not None
