"""Stripe source: billing red flags per customer (status, failed payments, overdue days, expiring card, MRR)
and the recurring discounts it grants (a cost to serve: revenue the CRM's ARR counts but nobody pays).

Reading strategy (https://docs.stripe.com/api/events):

* **First run, or a cursor Stripe no longer honours** — a full read of customers (with their default
  payment method expanded inline, so cards cost no extra calls), subscriptions (``status=all``) and
  invoices, 100 per page, the three lists read side by side (:meth:`StripeClient.pages_of`: same calls,
  the longest list's time instead of the sum), each page written to the replica as it arrives.  The newest event is read
  *before* the full read and becomes the cursor, so nothing that happens during the read is missed.
* **Later runs** — ``/v1/events`` since the cursor (``created[gte]``; events come newest first, so pages
  are read until the cursor's event id appears) and the events' ``data.object`` snapshots are applied
  oldest first.  Events are kept for 30 days only: a cursor older than that, or one whose event is no
  longer listed, falls back to a full read (API_NOTES: "a cursor older than that needs a full read").

Signals are recomputed from the replica for the customers an event touched, and for everyone once per
day (the 90-day and 30-day windows move with the calendar).

Every object (and every event snapshot) is validated before it reaches the replica
(:mod:`connector.sources.stripe_checks`): one that cannot be used — no ``customer``, text in a number,
an unknown status, ``created`` in the far future — is quarantined with a reason naming the field, and
the read goes on with the rest.
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections import defaultdict
from collections.abc import Generator, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.clients.stripe import Params, StripeClient, build_client
from connector.config import Config, StripeConfig
from connector.records import IdentityKeys, Observation, Quarantined, SignalValue
from connector.sources import stripe_checks as checks
from connector.sources.base import SourceContext, SourceItem
from connector.sources.windows import day_start, days_between, window_start
from connector.store import Replica

NAME = "stripe"
CUSTOMERS, SUBSCRIPTIONS, INVOICES, CARDS = "customers", "subscriptions", "invoices", "payment_methods"
STREAMS = (CUSTOMERS, SUBSCRIPTIONS, INVOICES, CARDS)
EVENTS, DAY = "events", "signals_day"
EVENT_RETENTION = timedelta(days=30)
STREAM_OF = {"customer": CUSTOMERS, "subscription": SUBSCRIPTIONS, "invoice": INVOICES, "payment_method": CARDS}
OBJECT_OF = {stream: kind for kind, stream in STREAM_OF.items()}
EVENT_TYPES = ["customer.*", "customer.subscription.*", "invoice.*", "payment_method.*"]
#: Most relevant first: a customer with one unpaid and one active subscription is a billing risk.
STATUS_RANK = ("unpaid", "past_due", "incomplete", "active", "trialing", "paused", "canceled", "incomplete_expired")
MRR_STATUSES = frozenset({"active", "past_due"})
MONTHS_PER_INTERVAL = {"day": 12 / 365, "week": 12 / 52, "month": 1.0, "year": 12.0}


class StripeSource:
    """``pull`` syncs the replica (full or from events), then yields one Observation per changed customer."""

    name = NAME

    def __init__(self, config: Config, client: StripeClient | None = None):
        if config.stripe is None:
            raise ValueError("stripe source: the config has no [stripe] section")
        self.cfg: StripeConfig = config.stripe
        self.metadata_key = config.identity.stripe_metadata_key
        self._client = client

    def pull(self, ctx: SourceContext) -> Iterator[SourceItem]:
        client = self._client or build_client(self.cfg, ctx.http)
        cursor = None if ctx.full else _load_cursor(ctx.store.get_cursor(NAME, EVENTS))
        applied = False
        if cursor is not None and cursor["created"] >= (ctx.now - EVENT_RETENTION).timestamp():
            applied = yield from self._apply_events(ctx, client, cursor)
        if not applied:
            yield from self._full_read(ctx, client)
        yield from self._observations(ctx)

    # -- reading --------------------------------------------------------------------------------------

    def _full_read(self, ctx: SourceContext, client: StripeClient) -> Iterator[Quarantined]:
        latest = client.get("/v1/events", {"types[]": EVENT_TYPES, "limit": 1}).get("data") or []
        newest = latest[0] if latest else None
        expand = {"expand[]": ["data.invoice_settings.default_payment_method"]}
        lists: list[tuple[str, str, Params]] = [("/v1/customers", CUSTOMERS, expand),
                                                ("/v1/subscriptions", SUBSCRIPTIONS, {"status": "all"}),
                                                ("/v1/invoices", INVOICES, {})]
        for index, page in client.pages_of([(path, params) for path, _, params in lists]):
            stream = lists[index][1]
            objects = yield from _usable(page, OBJECT_OF[stream], ctx.now)
            if stream == CUSTOMERS:
                cards = [pm for c in objects if isinstance(pm := (c.get("invoice_settings") or {})
                                                           .get("default_payment_method"), dict)]
                cards = yield from _usable(cards, "payment_method", ctx.now)
                ctx.store.upsert_replica(NAME, CARDS, [_row(pm, ctx.now) for pm in cards])
            ctx.store.upsert_replica(NAME, stream, [_row(o, ctx.now) for o in objects])
        cursor = {"created": newest["created"], "id": newest["id"]} if newest else \
            {"created": int(ctx.now.timestamp()), "id": None}
        ctx.set_cursor(NAME, EVENTS, json.dumps(cursor))

    def _apply_events(self, ctx: SourceContext, client: StripeClient,
                      cursor: Mapping[str, Any]) -> Generator[Quarantined, None, bool]:
        """Apply events newer than ``cursor``; ``False`` when the cursor's event is gone (full read needed).
        Snapshots that fail validation are quarantined (yielded) and not applied."""
        events: list[dict[str, Any]] = []
        reached = False  # the cursor's own event seen: everything older was applied last run
        params = {"types[]": EVENT_TYPES, "created[gte]": cursor["created"]}
        for page in client.pages("/v1/events", params):
            for event in page:
                if event["id"] == cursor["id"]:
                    reached = True
                    break
                events.append(event)
            if reached:
                break
        if not reached and cursor["id"] is not None:
            return False
        if not events:
            return True
        by_stream: dict[str, list[Replica]] = defaultdict(list)
        for event in reversed(events):  # oldest first: a later snapshot replaces an earlier one
            stream_row = _event_row(event, ctx.now)
            if isinstance(stream_row, Quarantined):
                yield stream_row
            elif stream_row is not None:
                by_stream[stream_row[0]].append(stream_row[1])
        newest = json.dumps({"created": events[0]["created"], "id": events[0]["id"]})
        for stream in STREAMS:
            ctx.store.upsert_replica(NAME, stream, by_stream.get(stream, []))
        ctx.set_cursor(NAME, EVENTS, newest)
        return True

    # -- computing --------------------------------------------------------------------------------------

    def _observations(self, ctx: SourceContext) -> Iterator[Observation]:
        today = ctx.now.date().isoformat()
        everything = ctx.full or ctx.store.get_cursor(NAME, DAY) != today
        groups: set[str] | None = None
        if not everything:
            groups = set().union(*(ctx.store.dirty_groups(NAME, s) for s in STREAMS))
            if not groups:
                return
        # Every stream comes ordered by customer and they are merged, so one customer's objects are in
        # memory at a time (held whole, 100k customers' subscriptions and invoices grew with the account).
        ordered = [_by_customer(ctx, stream, groups) for stream in STREAMS]
        for customer_id, rows in itertools.groupby(heapq.merge(*ordered, key=lambda row: row[0]),
                                                   key=lambda row: row[0]):
            streams: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for _, stream, payload in rows:
                streams[stream].append(payload)
            customer = next(iter(streams.get(CUSTOMERS, [])), None)
            if customer is None or customer.get("deleted"):
                continue
            signals = billing_signals(customer, streams[SUBSCRIPTIONS], streams[INVOICES], streams[CARDS],
                                      ctx.now, self.cfg.failed_payment_window_days, self.cfg.card_expiry_window_days)
            yield Observation(NAME, "customer", customer_id, self._keys(customer), signals, ctx.now)
        for stream in STREAMS:
            ctx.clear_dirty(NAME, stream, groups)
        ctx.set_cursor(NAME, DAY, today)

    def _keys(self, customer: Mapping[str, Any]) -> IdentityKeys:
        crm_id = (customer.get("metadata") or {}).get(self.metadata_key)
        email = str(customer.get("email") or "")
        domain = email.rpartition("@")[2].strip().lower() if "@" in email else None
        return IdentityKeys(crm_id=str(crm_id) if crm_id else None, email_domain=domain or None)


def _by_customer(ctx: SourceContext, stream: str, groups: set[str] | None
                 ) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(customer id, stream, payload)`` of one replica stream, in customer order."""
    for r in ctx.store.replica(NAME, stream, groups, by_group=True):
        if r.group_key:
            yield r.group_key, stream, r.payload


def _usable(objects: Iterable[Any], kind: str, now: datetime) -> Generator[Quarantined, None, list[dict[str, Any]]]:
    """Yield a Quarantined record for every object that fails validation; return the usable ones."""
    usable: list[dict[str, Any]] = []
    for obj in objects:
        if reason := checks.problem(obj, kind, now):
            yield Quarantined(NAME, kind, checks.entity_id(obj), reason, checks.preview(obj))
        else:
            usable.append(obj)
    return usable


def _load_cursor(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        cursor = json.loads(value)
    except ValueError:
        return None
    return cursor if isinstance(cursor, dict) and isinstance(cursor.get("created"), int) else None


# -- record shaping (pure) ------------------------------------------------------------------------------


def _row(obj: Mapping[str, Any], seen: datetime) -> Replica:
    """The fields the signals need, grouped by customer id (a payment method's own customer)."""
    kind = obj["object"]
    payload: dict[str, Any]
    if kind == "customer":
        default = (obj.get("invoice_settings") or {}).get("default_payment_method")
        payload = {"id": obj["id"], "email": obj.get("email"), "metadata": dict(obj.get("metadata") or {}),
                   "default_payment_method": default.get("id") if isinstance(default, dict) else default,
                   "deleted": bool(obj.get("deleted")), "discount": _coupon(obj)}
        group = obj["id"]
    elif kind == "subscription":
        items = [{"unit_amount": (i.get("price") or {}).get("unit_amount") or 0,
                  "quantity": i.get("quantity") or 0,
                  "interval": ((i.get("price") or {}).get("recurring") or {}).get("interval", "month"),
                  "interval_count": ((i.get("price") or {}).get("recurring") or {}).get("interval_count", 1)}
                 for i in (obj.get("items") or {}).get("data") or []]
        payload = {"id": obj["id"], "status": obj.get("status"), "items": items, "start_date": obj.get("start_date"),
                   "discount": _coupon(obj)}
        group = obj["customer"]
    elif kind == "invoice":
        payload = {k: obj.get(k) for k in ("id", "status", "paid", "attempt_count", "created", "due_date",
                                           "amount_due")}
        group = obj["customer"]
    else:
        card = obj.get("card") or {}
        payload = {"id": obj["id"], "customer": obj.get("customer"), "exp_month": card.get("exp_month"),
                   "exp_year": card.get("exp_year"), "brand": card.get("brand")}
        group = obj.get("customer") or ""
    return Replica(obj["id"], group or None, payload, seen)


def _event_row(event: Mapping[str, Any], now: datetime) -> tuple[str, Replica] | Quarantined | None:
    """The replica row an event's snapshot stands for (deletions and detachments included), or the
    quarantined snapshot."""
    data = event.get("data") or {}
    obj = dict(data.get("object") or {})
    stream = STREAM_OF.get(str(obj.get("object")))
    if stream is None:
        return None
    if problem := checks.problem(obj, OBJECT_OF[stream], now):
        return Quarantined(NAME, OBJECT_OF[stream], checks.entity_id(obj),
                           f"event {str(event.get('id'))[:64]}: {problem}", checks.preview(obj))
    if event.get("type") == "customer.deleted":
        obj["deleted"] = True
    if stream == CARDS and not obj.get("customer"):
        obj["customer"] = (data.get("previous_attributes") or {}).get("customer")
        obj["card"] = {}  # detached: no longer a card this customer can be charged on
    when = datetime.fromtimestamp(int(event["created"]), UTC)
    return stream, _row(obj, when)


def billing_signals(customer: Mapping[str, Any], subscriptions: Iterable[Mapping[str, Any]],
                    invoices: Iterable[Mapping[str, Any]], cards: Iterable[Mapping[str, Any]], now: datetime,
                    failed_window_days: int, expiry_window_days: int) -> dict[str, SignalValue]:
    """The Stripe signals of one customer (see ``connector.records.SIGNALS``) from replica payloads."""
    subs, invs = list(subscriptions), list(invoices)
    statuses = [s["status"] for s in subs if s.get("status") in STATUS_RANK]
    since = window_start(now, failed_window_days).timestamp()  # whole days: see connector.sources.windows
    failed = sum(max(0, int(i.get("attempt_count") or 0) - (1 if i.get("paid") else 0))
                 for i in invs if int(i.get("created") or 0) >= since and i.get("status") != "draft")
    live = [s for s in subs if s.get("status") in MRR_STATUSES]
    mrr = sum(_monthly(item) for s in live for item in s.get("items") or [])
    discount = sum(annual_discount(s, customer.get("discount"), now) for s in live)
    card = next((c for c in cards if c["id"] == customer.get("default_payment_method")), None)
    starts = [int(s["start_date"]) for s in subs if isinstance(s.get("start_date"), int)]
    return {
        "subscription_started": float(min(starts) // 86_400) if starts else None,
        "subscription_status": min(statuses, key=STATUS_RANK.index) if statuses else None,
        "payments_failed_90d": float(failed),
        "days_overdue": float(days_overdue(invs, now)),
        "card_expiring_30d": _expiring(card, now, expiry_window_days),
        "mrr": round(mrr, 2),
        "discount_annual": round(discount, 2),
    }


def _coupon(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The part of a subscription's or customer's ``discount`` the cost to serve needs (validated upstream)."""
    discount = obj.get("discount")
    if not isinstance(discount, Mapping) or not isinstance(discount.get("coupon"), Mapping):
        return None
    coupon = discount["coupon"]
    return {"percent_off": coupon.get("percent_off"), "amount_off": coupon.get("amount_off"),
            "duration": coupon.get("duration") or "forever", "end": discount.get("end")}


def annual_discount(sub: Mapping[str, Any], customer_discount: Mapping[str, Any] | None, now: datetime) -> float:
    """What one live subscription's coupon takes off a year of its invoices, in currency units.

    Stripe applies the subscription's own discount, else the customer's.  A ``once`` coupon was spent on
    one invoice and recurs no more; a ``repeating`` one stops at its ``end``.  ``amount_off`` comes off every
    invoice, so it counts once per billing interval; never more than the invoices themselves.
    """
    coupon = sub.get("discount") or customer_discount
    if not coupon or coupon.get("duration") == "once":
        return 0.0
    end = coupon.get("end")
    if isinstance(end, int) and end <= now.timestamp():
        return 0.0
    items = sub.get("items") or []
    gross = 12.0 * sum(_monthly(item) for item in items)
    if coupon.get("percent_off"):
        return gross * float(coupon["percent_off"]) / 100.0
    if coupon.get("amount_off") and items:
        first = items[0]
        months = MONTHS_PER_INTERVAL.get(str(first.get("interval")), 1.0) * float(first.get("interval_count") or 1)
        return min(gross, float(coupon["amount_off"]) / 100.0 * 12.0 / months)
    return 0.0


def days_overdue(invoices: Iterable[Mapping[str, Any]], now: datetime) -> int:
    """Whole days past due of the oldest open invoice: its ``due_date`` or, for automatic collection, its
    creation once a charge attempt has failed (an untried automatic invoice is not late yet)."""
    worst = 0
    for inv in invoices:
        if inv.get("status") != "open":
            continue
        due = inv.get("due_date") or (inv.get("created") if int(inv.get("attempt_count") or 0) > 0 else None)
        if due is not None:
            worst = max(worst, days_between(datetime.fromtimestamp(int(due), UTC), now))
    return worst


def _expiring(card: Mapping[str, Any] | None, now: datetime, window_days: int) -> SignalValue:
    """1 when the default card stops working (after the last day of ``exp_month``) within the window."""
    if card is None or not card.get("exp_year") or not card.get("exp_month"):
        return None
    year, month = int(card["exp_year"]), int(card["exp_month"])
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return 1.0 if end <= day_start(now) + timedelta(days=window_days) else 0.0  # ends are midnights


def _monthly(item: Mapping[str, Any]) -> float:
    per_interval = float(item.get("unit_amount") or 0) * float(item.get("quantity") or 0) / 100
    months = MONTHS_PER_INTERVAL.get(str(item.get("interval")), 1.0) * float(item.get("interval_count") or 1)
    return per_interval / months
