"""Billing discounts, a cost to serve: the coupon Stripe shows on a subscription (or its customer), per year."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.sandbox.core import SandboxClock
from connector.sources.stripe import annual_discount, billing_signals

from .stripe_kit import StartStripe, customer, make_world

NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _sub(percent: float | None = None, amount: int | None = None, duration: str = "forever",
         end: int | None = None) -> dict[str, object]:
    coupon = None if percent is None and amount is None else {
        "percent_off": percent, "amount_off": amount, "duration": duration, "end": end}
    return {"id": "sub_1", "status": "active", "discount": coupon,
            "items": [{"unit_amount": 5_000, "quantity": 10, "interval": "month", "interval_count": 1}]}


def test_percent_and_amount_off_count_per_year_and_spent_coupons_count_nothing() -> None:
    gross = 12 * 500.0  # 10 seats × $50 a month
    assert annual_discount(_sub(25), None, NOW) == gross * 0.25
    assert annual_discount(_sub(amount=10_000), None, NOW) == 12 * 100.0  # $100 off every monthly invoice
    assert annual_discount(_sub(amount=10_000_000), None, NOW) == gross  # never more than the invoices
    assert annual_discount(_sub(50, duration="once"), None, NOW) == 0.0
    past = int((NOW - timedelta(days=1)).timestamp())
    assert annual_discount(_sub(50, duration="repeating", end=past), None, NOW) == 0.0
    # No coupon of its own: the customer's applies; its own beats the customer's.
    customer_coupon = {"percent_off": 10.0, "amount_off": None, "duration": "forever", "end": None}
    assert annual_discount(_sub(), customer_coupon, NOW) == gross * 0.10
    assert annual_discount(_sub(20), customer_coupon, NOW) == gross * 0.20


def test_canceled_subscriptions_grant_no_discount() -> None:
    canceled = {**_sub(50), "status": "canceled"}
    signals = billing_signals({"id": "cus_1"}, [canceled, _sub(10)], [], [], NOW, 90, 30)
    assert signals["discount_annual"] == 600.0


def test_the_emulators_coupon_reaches_the_signal_in_the_real_wire_shape(start_stripe: StartStripe,
                                                                        clock: SandboxClock) -> None:
    now = clock.now()
    discounted, plain = customer(1, now, crm_id="001A"), customer(2, now, crm_id="001B")
    discounted.subscriptions[0].percent_off = 40.0
    sb = start_stripe(make_world(now, [discounted, plain]))
    wire = sb.backend.subscriptions["sub_test1"]
    assert wire["discount"]["object"] == "discount" and wire["discount"]["coupon"]["percent_off"] == 40.0
    assert wire["discounts"] == [wire["discount"]["id"]]
    obs = sb.pull()
    # 10 seats × $50 × 12 months, 40 % off.
    assert obs["cus_test1"].signals["discount_annual"] == 2_400.0
    assert obs["cus_test2"].signals["discount_annual"] == 0.0
