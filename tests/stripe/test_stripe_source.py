"""The Stripe source end to end: full read, events since the cursor, the 30-day fallback, the signals."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from connector.sandbox.core import SandboxClock
from connector.sources.stripe import billing_signals, days_overdue

from .stripe_kit import StartStripe, StripeSandbox, customer, invoice, make_world


def _world_sandbox(start_stripe: StartStripe, now: datetime, extra: int = 0) -> StripeSandbox:
    customers = [
        customer(1, now, crm_id="001A", invoices=[invoice(1, 0, now, age_days=40),
                                                  invoice(1, 1, now, age_days=10, attempts=3)]),
        customer(2, now, status="past_due", card=(now.month, now.year), email="ap@Beta.example",
                 invoices=[invoice(2, 0, now, status="open", attempts=2, age_days=12)]),
        customer(3, now, status="canceled", card=None),
        *(customer(10 + n, now) for n in range(extra)),
    ]
    return start_stripe(make_world(now, customers))


def test_first_run_reads_everything_in_pages_of_100(start_stripe: StartStripe, clock: SandboxClock) -> None:
    now = clock.now()
    sb = _world_sandbox(start_stripe, now, extra=150)
    obs = sb.pull()
    assert len(obs) == 153
    assert len(sb.calls("/v1/customers")) == 2 and len(sb.calls("/v1/subscriptions")) == 2
    assert len(sb.calls("/v1/invoices")) == 1 and len(sb.calls("/v1/events")) == 1
    assert sb.calls("/v1/payment_methods") == []  # default cards come expanded with the customers
    one, two, three = obs["cus_test1"], obs["cus_test2"], obs["cus_test3"]
    assert one.keys.crm_id == "001A" and one.keys.email_domain == "customer1.example"
    assert two.keys.crm_id is None and two.keys.email_domain == "beta.example"
    signals = dict(one.signals)
    started = signals.pop("subscription_started")  # the subscription's start_date, as a day number
    assert isinstance(started, float) and started <= now.timestamp() // 86_400
    assert signals == {"subscription_status": "active", "payments_failed_90d": 2.0,
                       "days_overdue": 0.0, "card_expiring_30d": 0.0, "mrr": 500.0, "discount_annual": 0.0}
    assert two.signals["subscription_status"] == "past_due" and two.signals["payments_failed_90d"] == 2.0
    assert two.signals["days_overdue"] == 12.0 and two.signals["card_expiring_30d"] == 1.0
    assert two.signals["mrr"] == 500.0
    assert three.signals["subscription_status"] == "canceled" and three.signals["mrr"] == 0.0
    assert three.signals["card_expiring_30d"] is None


def test_next_runs_read_events_only_and_see_a_payment_failure(start_stripe: StartStripe,
                                                              clock: SandboxClock) -> None:
    now = clock.now()
    sb = _world_sandbox(start_stripe, now)
    sb.pull()
    sb.reset_ledger()
    assert sb.pull() == {}  # nothing changed: one events probe, no observations
    assert [e.endpoint for e in sb.calls()] == ["/v1/events"]

    clock.advance(timedelta(hours=1))
    sb.backend.fail_payment("cus_test1")
    sb.reset_ledger()
    obs = sb.pull()
    assert [e.endpoint for e in sb.calls()] == ["/v1/events"]
    assert set(obs) == {"cus_test1"}
    assert obs["cus_test1"].signals["subscription_status"] == "past_due"
    assert obs["cus_test1"].signals["payments_failed_90d"] == 3.0  # 2 earlier + this one
    assert obs["cus_test1"].signals["days_overdue"] == 0.0  # the new invoice was created today

    clock.advance(timedelta(hours=1))
    sb.backend.change_card("cus_test2", 12, 2031)
    invoice_id = next(i for i in sb.backend.invoices.values() if i["customer"] == "cus_test2")["id"]
    sb.backend.pay_invoice(invoice_id)
    obs = sb.pull()
    assert set(obs) == {"cus_test2"}
    assert obs["cus_test2"].signals["card_expiring_30d"] == 0.0
    assert obs["cus_test2"].signals["subscription_status"] == "active"
    assert obs["cus_test2"].signals["days_overdue"] == 0.0


def test_events_sharing_a_second_with_the_cursor_are_not_lost(start_stripe: StartStripe,
                                                               clock: SandboxClock) -> None:
    now = clock.now()
    sb = _world_sandbox(start_stripe, now)
    sb.backend.fail_payment("cus_test1")  # events before the first run: the newest becomes the cursor
    sb.pull()
    sb.backend.cancel_subscription("sub_test1")  # same simulated second as the cursor event
    obs = sb.pull()
    assert obs["cus_test1"].signals["subscription_status"] == "canceled"


def test_cursor_older_than_30_days_falls_back_to_a_full_read(start_stripe: StartStripe,
                                                             clock: SandboxClock) -> None:
    now = clock.now()
    sb = _world_sandbox(start_stripe, now)
    sb.backend.fail_payment("cus_test2")
    sb.pull()
    clock.advance(timedelta(days=31))
    sb.backend.cancel_subscription("sub_test1")
    sb.reset_ledger()
    obs = sb.pull()
    assert len(sb.calls("/v1/customers")) == 1 and len(sb.calls("/v1/invoices")) == 1
    assert obs["cus_test1"].signals["subscription_status"] == "canceled"
    sb.reset_ledger()
    sb.pull()
    assert [e.endpoint for e in sb.calls()] == ["/v1/events"]  # back to incremental


def test_cursor_event_gone_from_the_api_falls_back_to_a_full_read(start_stripe: StartStripe,
                                                                  clock: SandboxClock) -> None:
    now = clock.now()
    sb = _world_sandbox(start_stripe, now)
    sb.backend.fail_payment("cus_test2")
    sb.pull()
    sb.backend.events.clear()  # Stripe no longer lists the cursor's event
    clock.advance(timedelta(minutes=5))
    sb.backend.cancel_subscription("sub_test1")
    sb.reset_ledger()
    obs = sb.pull()
    assert len(sb.calls("/v1/customers")) == 1
    assert obs["cus_test1"].signals["subscription_status"] == "canceled"


def test_full_flag_forces_a_full_read(start_stripe: StartStripe, clock: SandboxClock) -> None:
    sb = _world_sandbox(start_stripe, clock.now())
    sb.pull()
    sb.reset_ledger()
    assert len(sb.pull(full=True)) == 3
    assert len(sb.calls("/v1/customers")) == 1


def test_full_read_survives_rate_limiting(start_stripe: StartStripe, clock: SandboxClock) -> None:
    now = clock.now()
    world = make_world(now, [customer(n, now) for n in range(40)])
    sb = start_stripe(world, limits={"requests_per_second": 1, "rate_window_seconds": 0.2},
                      max_retries=8)
    sb.backend.fail_payment("cus_test0")
    obs = sb.pull()
    assert len(obs) == 40 and obs["cus_test0"].signals["payments_failed_90d"] == 1.0
    assert any(e.status == 429 for e in sb.calls())


# -- pure signal rules ------------------------------------------------------------------------------------

NOW = datetime.fromisoformat("2026-11-02T09:00:00+00:00")


def _ts(days_ago: float) -> int:
    return int((NOW - timedelta(days=days_ago)).timestamp())


@pytest.mark.parametrize(("invoices", "expected"), [
    ([], 0),
    ([{"status": "open", "due_date": _ts(5), "created": _ts(35), "attempt_count": 0}], 5),
    ([{"status": "open", "due_date": None, "created": _ts(9), "attempt_count": 0}], 0),  # not tried yet
    ([{"status": "open", "due_date": None, "created": _ts(9), "attempt_count": 1},
      {"status": "open", "due_date": None, "created": _ts(39), "attempt_count": 3}], 39),
    ([{"status": "paid", "due_date": _ts(50), "created": _ts(80), "attempt_count": 1}], 0),
    ([{"status": "open", "due_date": _ts(-3), "created": _ts(1), "attempt_count": 0}], 0),  # due later
])
def test_days_overdue(invoices: list[dict[str, object]], expected: int) -> None:
    assert days_overdue(invoices, NOW) == expected


def test_signal_rules_status_priority_window_and_yearly_mrr() -> None:
    subs = [{"status": "active", "items": [{"unit_amount": 120_000, "quantity": 1, "interval": "year",
                                            "interval_count": 1}]},
            {"status": "unpaid", "items": [{"unit_amount": 1_000, "quantity": 3, "interval": "month",
                                            "interval_count": 1}]},
            {"status": "trialing", "items": [{"unit_amount": 9_999, "quantity": 1, "interval": "month",
                                              "interval_count": 1}]}]
    invoices = [{"status": "paid", "paid": True, "attempt_count": 3, "created": _ts(100)},  # outside 90 days
                {"status": "open", "paid": False, "attempt_count": 2, "created": _ts(30), "due_date": None}]
    cards = [{"id": "pm_1", "exp_month": 11, "exp_year": 2026}]
    signals = billing_signals({"default_payment_method": "pm_1"}, subs, invoices, cards, NOW, 90, 30)
    assert signals == {"subscription_status": "unpaid", "payments_failed_90d": 2.0, "days_overdue": 30.0,
                       "card_expiring_30d": 1.0, "mrr": 100.0, "subscription_started": None, "discount_annual": 0.0}
    subs[1]["start_date"], subs[2]["start_date"] = 1_700_000_000, 1_600_000_000  # the earliest start counts
    started = billing_signals({}, subs, [], [], NOW, 90, 30)["subscription_started"]
    assert started == 1_600_000_000 // 86_400
    later_card = [{"id": "pm_1", "exp_month": 12, "exp_year": 2026}]  # works until 31 Dec: outside 30 days
    assert billing_signals({"default_payment_method": "pm_1"}, [], [], later_card, NOW, 90, 30)[
        "card_expiring_30d"] == 0.0


def test_generated_world_reads_and_links_by_metadata_or_email_domain(start_stripe: StartStripe,
                                                                     clock: SandboxClock) -> None:
    from connector.sandbox.dataset import generate_world

    world = generate_world(120, seed=3, now=clock.now())
    sb = start_stripe(world)
    obs = sb.pull()
    assert len(obs) == len(world.stripe_customers)
    linked = {c.id: c.metadata.get("crm_account_id") for c in world.stripe_customers}
    assert all(obs[cid].keys.crm_id == (crm or None) for cid, crm in linked.items())
    statuses = {o.signals["subscription_status"] for o in obs.values()}
    assert "active" in statuses and statuses <= {"active", "trialing", "past_due", "unpaid", "canceled",
                                                 "incomplete", "paused"}
    assert all(o.keys.crm_id or o.keys.email_domain for o in obs.values())
