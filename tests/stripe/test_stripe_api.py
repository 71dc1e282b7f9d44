"""The Stripe emulator's wire format, driven through the connector's Stripe client over TLS."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from connector.clients.stripe import StripeApiError
from connector.sandbox.core import SandboxClock
from connector.sandbox.stripe import SANDBOX_KEY

from .stripe_kit import StartStripe, customer, invoice, make_world


def test_lists_page_newest_first_with_starting_after(start_stripe: StartStripe, clock: SandboxClock) -> None:
    now = clock.now()
    sb = start_stripe(make_world(now, [customer(n, now) for n in range(250)]))
    pages = list(sb.client().pages("/v1/customers"))
    assert [len(p) for p in pages] == [100, 100, 50]
    ids = [c["id"] for p in pages for c in p]
    assert len(set(ids)) == 250
    created = [c["created"] for p in pages for c in p]
    assert created == sorted(created, reverse=True)
    first = pages[0][0]
    assert first["object"] == "customer" and first["livemode"] is False and "metadata" in first
    assert [e.endpoint for e in sb.calls()] == ["/v1/customers"] * 3


def test_ending_before_returns_the_newer_page(start_stripe: StartStripe, clock: SandboxClock) -> None:
    now = clock.now()
    sb = start_stripe(make_world(now, [customer(n, now) for n in range(5)]))
    everything = sb.client().get("/v1/customers", {"limit": 5})["data"]
    newer = sb.client().get("/v1/customers", {"limit": 2, "ending_before": everything[3]["id"]})
    assert [c["id"] for c in newer["data"]] == [everything[1]["id"], everything[2]["id"]]
    assert newer["has_more"] is True and newer["object"] == "list" and newer["url"] == "/v1/customers"


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_limit_outside_1_to_100_is_refused_naming_the_param(start_stripe: StartStripe, limit: str) -> None:
    sb = start_stripe()
    with pytest.raises(StripeApiError) as err:
        sb.client().get("/v1/invoices", {"limit": limit})
    assert err.value.status == 400 and err.value.code == "parameter_invalid_integer" and err.value.param == "limit"
    assert "param limit" in str(err.value) and "/v1/invoices" in str(err.value)


def test_wrong_key_is_401_and_no_key_appears_anywhere(start_stripe: StartStripe,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    sb = start_stripe()
    wrong = "sk_test_51WrongKeyDoNotLeakMe0000000009876"
    raw = requests.get(f"{sb.server.url}/v1/customers", headers={"Authorization": f"Bearer {wrong}"},
                       verify=sb.ca)
    assert raw.status_code == 401
    assert raw.json()["error"] == {"type": "invalid_request_error",
                                   "message": "Invalid API Key provided: sk_test_****9876"}
    monkeypatch.setenv("STRIPE_TEST_KEY", wrong)
    with pytest.raises(StripeApiError) as err:
        sb.client().get("/v1/customers")
    text = str(err.value)
    assert err.value.status == 401 and "api_key_env" in text
    assert wrong not in text and SANDBOX_KEY not in text and "DoNotLeak" not in text


def test_basic_auth_with_the_key_as_user_is_accepted(start_stripe: StartStripe) -> None:
    sb = start_stripe()
    ok = requests.get(f"{sb.server.url}/v1/customers", auth=(SANDBOX_KEY, ""),
                      verify=sb.ca)
    assert ok.status_code == 200 and ok.json()["data"] == []


def test_subscription_status_filter_hides_canceled_unless_all(start_stripe: StartStripe,
                                                             clock: SandboxClock) -> None:
    now = clock.now()
    sb = start_stripe(make_world(now, [customer(1, now), customer(2, now, status="canceled"),
                                       customer(3, now, status="past_due")]))
    client = sb.client()
    assert {s["id"] for s in client.list_all("/v1/subscriptions")} == {"sub_test1", "sub_test3"}
    assert len(list(client.list_all("/v1/subscriptions", {"status": "all"}))) == 3
    assert [s["id"] for s in client.list_all("/v1/subscriptions", {"status": "past_due"})] == ["sub_test3"]
    with pytest.raises(StripeApiError) as err:
        client.get("/v1/subscriptions", {"status": "late"})
    assert err.value.param == "status"


def test_invoices_and_payment_methods_filters(start_stripe: StartStripe, clock: SandboxClock) -> None:
    now = clock.now()
    sb = start_stripe(make_world(now, [
        customer(1, now, invoices=[invoice(1, 0, now), invoice(1, 1, now, status="open", attempts=2)]),
        customer(2, now, invoices=[invoice(2, 0, now)], card=(3, 2027))]))
    client = sb.client()
    open_1 = list(client.list_all("/v1/invoices", {"customer": "cus_test1", "status": "open"}))
    assert [(i["id"], i["attempt_count"], i["paid"]) for i in open_1] == [("in_test1x1", 2, False)]
    assert open_1[0]["next_payment_attempt"] is not None
    cards = list(client.list_all("/v1/payment_methods", {"customer": "cus_test2", "type": "card"}))
    assert [(c["card"]["exp_month"], c["card"]["exp_year"]) for c in cards] == [(3, 2027)]
    assert list(client.list_all("/v1/customers/cus_test2/payment_methods")) == cards
    with pytest.raises(StripeApiError) as err:
        client.get("/v1/payment_methods", {"type": "card"})
    assert err.value.code == "parameter_missing" and err.value.param == "customer"
    expanded = client.get("/v1/customers", {"expand[]": ["data.invoice_settings.default_payment_method"]})
    defaults = {c["id"]: c["invoice_settings"]["default_payment_method"]["id"] for c in expanded["data"]}
    assert defaults == {"cus_test1": "card_test1", "cus_test2": "card_test2"}


def test_events_are_emitted_filtered_and_kept_30_days(start_stripe: StartStripe, clock: SandboxClock) -> None:
    now = clock.now()
    sb = start_stripe(make_world(now, [customer(1, now)]))
    sb.backend.fail_payment("cus_test1")
    old = sb.client().get("/v1/events", {"limit": 100})["data"]
    assert [e["type"] for e in old][:3] == ["customer.updated", "customer.subscription.updated",
                                            "invoice.payment_failed"]
    failed = old[2]
    assert failed["data"]["object"]["attempt_count"] == 1
    assert int(now.timestamp()) <= failed["created"] <= clock.now().timestamp()  # the sandbox clock runs on
    assert old[1]["data"]["previous_attributes"] == {"status": "active"}
    only = sb.client().get("/v1/events", {"types[]": ["invoice.payment_failed"]})["data"]
    assert [e["id"] for e in only] == [failed["id"]]
    clock.advance(timedelta(days=31))
    sb.backend.change_card("cus_test1", 1, 2031)
    recent = sb.client().get("/v1/events", {"created[gte]": 0})["data"]
    assert {e["type"] for e in recent} == {"payment_method.attached", "customer.updated"}
    with pytest.raises(StripeApiError) as err:
        sb.client().get(f"/v1/events/{failed['id']}")
    assert err.value.status == 404 and err.value.resource_missing


def test_rate_limit_answers_stripe_429_and_the_layer_retries(start_stripe: StartStripe,
                                                            clock: SandboxClock) -> None:
    now = clock.now()
    sb = start_stripe(make_world(now, [customer(n, now) for n in range(30)]),
                      limits={"requests_per_second": 2, "rate_window_seconds": 0.3}, max_retries=8)
    with requests.Session() as plain:  # no retries: the raw 429 as Stripe sends it
        raw = [plain.get(f"{sb.server.url}/v1/customers", auth=(SANDBOX_KEY, ""),
                         verify=sb.ca) for _ in range(6)]
    refused = [r for r in raw if r.status_code == 429]
    assert refused and refused[0].json()["error"]["code"] == "rate_limit"
    assert refused[0].json()["error"]["type"] == "invalid_request_error"
    ids = [c["id"] for page in sb.client().pages("/v1/customers", limit=5) for c in page]
    assert len(ids) == 30
    assert any(c.status == 429 for c in sb.http.ledger.calls)
    assert sb.http.ledger.summary()["stripe"]["retries"] >= 1


def _stripe_python_query(params: dict[str, object]) -> list[tuple[str, object]]:
    """The query stripe-python builds (``stripe/_encode.py`` ``_api_encode``): lists always by index,
    ``expand[0]=…``; it is not a dependency here, so its encoding is reproduced for a plain requests call."""
    pairs: list[tuple[str, object]] = []
    for key, value in params.items():
        if isinstance(value, list | tuple):
            pairs.extend((f"{key}[{i}]", item) for i, item in enumerate(value))
        else:
            pairs.append((key, value))
    return pairs


def test_indexed_list_parameters_as_stripe_python_sends_them(start_stripe: StartStripe, clock: SandboxClock) -> None:
    now = clock.now()
    sb = start_stripe(make_world(now, [customer(1, now), customer(2, now)]))
    sb.backend.fail_payment("cus_test1")

    def get(path: str, **params: object) -> dict:
        answer = requests.get(f"{sb.server.url}{path}", params=_stripe_python_query(params),
                              auth=(SANDBOX_KEY, ""), verify=sb.ca, timeout=10)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    customers = get("/v1/customers", expand=["data.invoice_settings.default_payment_method"])["data"]
    assert {c["invoice_settings"]["default_payment_method"]["object"] for c in customers} == {"payment_method"}
    one = get("/v1/customers/cus_test2", expand=["invoice_settings.default_payment_method"])
    assert one["invoice_settings"]["default_payment_method"]["id"] == "card_test2"
    failed = get("/v1/events", types=["invoice.payment_failed"])["data"]
    assert [e["type"] for e in failed] == ["invoice.payment_failed"]
    both = get("/v1/events", types=["invoice.payment_failed", "customer.subscription.updated"])["data"]
    assert {e["type"] for e in both} == {"invoice.payment_failed", "customer.subscription.updated"}
