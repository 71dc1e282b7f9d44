"""Stripe's state and rules for the sandbox: customers, subscriptions, invoices, cards and the event log.

No HTTP here (moto's split): :mod:`connector.sandbox.stripe.app` turns requests into calls on
:class:`StripeBackend` and its answers into Stripe's wire format.  Objects are kept in the exact JSON
shape Stripe returns (``object``, ``id``, ``created`` in epoch seconds, ``livemode: false``,
``metadata``), so the routes only filter, page and copy.

Mutations (:meth:`StripeBackend.fail_payment`, :meth:`pay_invoice`, :meth:`change_card`,
:meth:`cancel_subscription`) change the world the way Stripe would and append the events Stripe emits
for them, each carrying a ``data.object`` snapshot and ``previous_attributes``, stamped with the
sandbox clock.  Events older than 30 days are not listable and cannot be retrieved
(https://docs.stripe.com/api/events: "we only guarantee access to events through the Retrieve Event API
for 30 days").
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from connector.sandbox.core import SandboxClock
from connector.sandbox.world import StripeCard, StripeCustomer, StripeInvoice, StripeSubscription, World

EVENT_RETENTION = timedelta(days=30)
API_VERSION = "2024-06-20"
SUBSCRIPTION_STATUSES = frozenset(
    {"incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused"}
)
INVOICE_STATUSES = frozenset({"draft", "open", "paid", "uncollectible", "void"})
#: Smart Retries give up after this many attempts (the subscription then turns ``unpaid``).
MAX_ATTEMPTS = 4
RETRY_AFTER_FAILURE = timedelta(days=3)
DOC = "https://stripe.com/docs/error-codes"

Obj = dict[str, Any]


class StripeError(Exception):
    """A Stripe error object: ``{"error": {type, code, message, param, doc_url}}`` with its HTTP status."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 type_: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.type = status, message, code, param, type_

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOC}/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        return {"error": error}


def missing(kind: str, ident: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{ident}'", code="resource_missing", param=param)


def _epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def created(obj: Obj) -> int:
    """``created`` for ordering and filters; 0 for a planted object without a usable one."""
    value = obj.get("created")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _stripe_id(prefix: str, seq: int) -> str:
    """Random-looking but deterministic ids (``evt_1Nq…``), unique per sequence number."""
    return f"{prefix}_{hashlib.sha256(f'{prefix}{seq}'.encode()).hexdigest()[:24]}"


class StripeBackend:
    """In-memory Stripe account: objects by id, plus an ordered event log."""

    def __init__(self, clock: SandboxClock):
        self.clock = clock
        self.customers: dict[str, Obj] = {}
        self.subscriptions: dict[str, Obj] = {}
        self.invoices: dict[str, Obj] = {}
        self.payment_methods: dict[str, Obj] = {}
        self.events: dict[str, Obj] = {}
        self._order: dict[str, int] = {}
        self._seq = itertools.count(1)
        self._version = 0
        self._sorted: dict[int, tuple[tuple[int, int], list[Obj], dict[str, int]]] = {}

    def now(self) -> int:
        return int(self.clock.now().timestamp())

    # -- loading ---------------------------------------------------------------------------------------

    def load_world(self, world: World) -> None:
        """Load ``world.stripe_customers``; the first card of a customer becomes its default."""
        for customer in world.stripe_customers:
            self.add_customer(customer)

    def add_customer(self, c: StripeCustomer) -> None:
        default = c.cards[0].id if c.cards else None
        self._put(self.customers, {
            "id": c.id, "object": "customer", "created": _epoch(c.created), "email": c.email, "name": c.name,
            "metadata": dict(c.metadata), "livemode": False, "currency": "usd", "balance": 0,
            "delinquent": any(i.status == "open" and i.attempt_count > 0 for i in c.invoices),
            "default_source": None, "description": None,
            "invoice_settings": {"default_payment_method": default, "custom_fields": None, "footer": None},
        })
        for card in c.cards:
            self._put(self.payment_methods, self._card(card, c.id, _epoch(c.created) or 0))
        for sub in c.subscriptions:
            self._put(self.subscriptions, self._subscription(sub, c.id))
        for inv in c.invoices:
            self._put(self.invoices, self._invoice(inv, c.id))

    def _put(self, table: dict[str, Obj], obj: Obj) -> Obj:
        table[obj["id"]] = obj
        self._version += 1
        self._order.setdefault(obj["id"], next(self._seq))
        return obj

    def put_raw(self, obj: Obj) -> str:
        """Store ``obj`` verbatim (no rules, no events) in the table its ``object`` names, and return the
        key it is stored under.  For tests that plant malformed records the real API could hand out
        (nulls, wrong types, unknown enum values, a missing id) to see how a client copes."""
        tables = {"customer": self.customers, "subscription": self.subscriptions, "invoice": self.invoices,
                  "payment_method": self.payment_methods}
        ident = obj.get("id")
        key = ident if isinstance(ident, str) and ident else _stripe_id("raw", next(self._seq))
        tables[str(obj.get("object"))][key] = obj
        self._order.setdefault(key, next(self._seq))
        self._version += 1
        return key

    @staticmethod
    def _card(card: StripeCard, customer: str, created: int) -> Obj:
        return {"id": card.id, "object": "payment_method", "type": "card", "created": created,
                "customer": customer, "livemode": False, "metadata": {},
                "billing_details": {"address": None, "email": None, "name": None, "phone": None},
                "card": {"brand": card.brand, "last4": card.last4, "exp_month": card.exp_month,
                         "exp_year": card.exp_year, "funding": "credit", "country": "US"}}

    def _subscription(self, s: StripeSubscription, customer: str) -> Obj:
        ended = _epoch(s.current_period_end) if s.status == "canceled" else None
        return {"id": s.id, "object": "subscription", "customer": customer, "status": s.status,
                "created": _epoch(s.created), "start_date": _epoch(s.created),
                "current_period_start": _epoch(s.current_period_end - timedelta(days=30)),
                "current_period_end": _epoch(s.current_period_end), "cancel_at_period_end": False,
                "canceled_at": ended, "ended_at": ended, "trial_end": None, "default_payment_method": None,
                "collection_method": "charge_automatically", "currency": "usd", "livemode": False,
                "metadata": {}, "quantity": s.quantity, **self._discount(s, customer),
                "items": {"object": "list", "has_more": False, "url": f"/v1/subscription_items?subscription={s.id}",
                          "data": [{"id": "si_" + s.id.removeprefix("sub_"), "object": "subscription_item",
                                    "quantity": s.quantity,
                                    "price": {"id": "price_seat", "object": "price", "currency": "usd",
                                              "unit_amount": s.unit_amount, "recurring":
                                                  {"interval": "month", "interval_count": 1}}}]}}

    @staticmethod
    def _discount(s: StripeSubscription, customer: str) -> Obj:
        """``discount`` / ``discounts`` as API version 2024-06-20 shows a subscription's coupon."""
        if not s.percent_off:
            return {"discount": None, "discounts": []}
        ident = "di_" + s.id.removeprefix("sub_")
        coupon: Obj = {"id": f"off{s.percent_off:g}", "object": "coupon", "amount_off": None, "currency": None,
                  "duration": "forever", "duration_in_months": None, "livemode": False, "metadata": {},
                  "name": f"{s.percent_off:g}% off", "percent_off": s.percent_off, "valid": True}
        return {"discount": {"id": ident, "object": "discount", "coupon": coupon, "customer": customer,
                             "end": None, "start": _epoch(s.created), "subscription": s.id, "invoice": None,
                             "invoice_item": None, "promotion_code": None, "checkout_session": None},
                "discounts": [ident]}

    def _invoice(self, i: StripeInvoice, customer: str) -> Obj:
        auto = i.due_date is None
        retrying = i.status == "open" and auto and 0 < i.attempt_count < MAX_ATTEMPTS
        return {"id": i.id, "object": "invoice", "customer": customer, "subscription": i.subscription_id,
                "status": i.status, "paid": i.paid, "amount_due": i.amount_due,
                "amount_paid": i.amount_due if i.paid else 0,
                "amount_remaining": 0 if i.paid else i.amount_due, "attempt_count": i.attempt_count,
                "attempted": i.attempt_count > 0, "created": _epoch(i.created), "due_date": _epoch(i.due_date),
                "next_payment_attempt": self.now() + int(RETRY_AFTER_FAILURE.total_seconds()) if retrying else None,
                "collection_method": "charge_automatically" if auto else "send_invoice",
                "currency": "usd", "livemode": False, "metadata": {}}

    # -- reading ---------------------------------------------------------------------------------------

    def ordered(self, objects: Iterable[Obj]) -> list[Obj]:
        """Newest first, as every Stripe list is; ties by creation order."""
        return sorted(objects, key=lambda o: (created(o), self._order.get(str(o.get("id")), 0)), reverse=True)

    def ordered_table(self, table: dict[str, Obj]) -> tuple[list[Obj], dict[str, int]]:
        """A whole table newest first, and each key's position in that order — sorted once per change.

        List endpoints page through it with a cursor: sorting the table on every page made a full read of
        100k customers quadratic (1,000 pages × a 100k sort) and the emulator, not the client, the
        bottleneck.  Objects are changed in place and ``created`` never changes, so only an added object
        (a new version or table size) invalidates the order.
        """
        stamp = (self._version, len(table))
        cached = self._sorted.get(id(table))
        if cached is None or cached[0] != stamp:
            keys = sorted(table, key=lambda k: (created(table[k]), self._order.get(str(table[k].get("id")), 0)),
                          reverse=True)
            cached = (stamp, [table[k] for k in keys], {k: i for i, k in enumerate(keys)})
            self._sorted[id(table)] = cached
        return cached[1], cached[2]

    def customer(self, ident: str) -> Obj:
        if ident not in self.customers:
            raise missing("customer", ident)
        return self.customers[ident]

    def retention_start(self) -> int:
        """Events created before this (epoch seconds) are gone, as after Stripe's 30 days."""
        return self.now() - int(EVENT_RETENTION.total_seconds())

    def event(self, ident: str) -> Obj:
        event = self.events.get(ident)
        if event is None or event["created"] < self.now() - int(EVENT_RETENTION.total_seconds()):
            raise missing("event", ident)
        return event

    # -- mutations (each emits the events Stripe would) -------------------------------------------------

    def emit(self, type_: str, obj: Obj, previous: Obj | None = None) -> Obj:
        data: Obj = {"object": copy.deepcopy(obj)}
        if previous:
            data["previous_attributes"] = previous
        event = {"id": _stripe_id("evt", next(self._seq)), "object": "event", "api_version": API_VERSION,
                 "created": self.now(), "data": data, "livemode": False, "pending_webhooks": 0,
                 "request": {"id": None, "idempotency_key": None}, "type": type_}
        return self._put(self.events, event)

    def _change(self, obj: Obj, event: str, **changes: Any) -> None:
        previous = {k: obj.get(k) for k in changes if obj.get(k) != changes[k]}
        if previous:
            obj.update(changes)
            self.emit(event, obj, previous)

    def fail_payment(self, customer_id: str) -> Obj:
        """A charge on the customer's oldest open invoice (or a new one) fails; the subscription lapses."""
        customer = self.customer(customer_id)
        sub = next((s for s in self.ordered(self.subscriptions.values())
                    if s["customer"] == customer_id and s["status"] != "canceled"), None)
        if sub is None:
            raise StripeError(400, f"Customer {customer_id} has no live subscription to charge")
        invoice = next((i for i in reversed(self.ordered(self.invoices.values()))
                        if i["customer"] == customer_id and i["status"] == "open"), None)
        if invoice is None:
            invoice = self._new_invoice(sub)
        return self._fail(invoice, sub, customer)

    def fail_invoice(self, invoice_id: str) -> Obj:
        """One automatic charge attempt on this open invoice fails (Smart Retries work per invoice)."""
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise missing("invoice", invoice_id)
        if invoice["status"] != "open":
            raise StripeError(400, f"Invoice is already {invoice['status']}", code="invoice_not_open")
        sub = self.subscriptions.get(invoice.get("subscription") or "")
        return self._fail(invoice, sub, self.customer(invoice["customer"]))

    def _fail(self, invoice: Obj, sub: Obj | None, customer: Obj) -> Obj:
        attempts = invoice["attempt_count"] + 1
        self._change(invoice, "invoice.payment_failed", attempt_count=attempts, attempted=True,
                     next_payment_attempt=(self.now() + int(RETRY_AFTER_FAILURE.total_seconds())
                                           if attempts < MAX_ATTEMPTS else None))
        if sub is not None and sub["status"] != "canceled":
            self._change(sub, "customer.subscription.updated",
                         status="unpaid" if attempts >= MAX_ATTEMPTS else "past_due")
        self._change(customer, "customer.updated", delinquent=True)
        return invoice

    def open_invoice(self, subscription_id: str, invoice_id: str | None = None) -> Obj:
        """A new billing period's invoice is finalised (``invoice.created`` + ``invoice.finalized``), not yet
        charged.  ``invoice_id`` lets the sandbox keep the synthetic world's id for the same invoice."""
        sub = self.subscriptions.get(subscription_id)
        if sub is None:
            raise missing("subscription", subscription_id)
        return self._new_invoice(sub, invoice_id)

    def _new_invoice(self, sub: Obj, invoice_id: str | None = None) -> Obj:
        item = sub["items"]["data"][0]
        amount = int(item["price"]["unit_amount"]) * int(item["quantity"])
        coupon = (sub.get("discount") or {}).get("coupon") or {}
        if coupon.get("percent_off"):
            amount = round(amount * (1.0 - float(coupon["percent_off"]) / 100.0))
        invoice = self._put(self.invoices, {
            "id": invoice_id or _stripe_id("in", next(self._seq)), "object": "invoice", "customer": sub["customer"],
            "subscription": sub["id"], "status": "open", "paid": False, "amount_due": amount, "amount_paid": 0,
            "amount_remaining": amount, "attempt_count": 0, "attempted": False, "created": self.now(),
            "due_date": None, "next_payment_attempt": self.now(), "collection_method": "charge_automatically",
            "currency": "usd", "livemode": False, "metadata": {}})
        self.emit("invoice.created", invoice)
        self.emit("invoice.finalized", invoice)
        return invoice

    def pay_invoice(self, invoice_id: str) -> Obj:
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise missing("invoice", invoice_id)
        if invoice["status"] != "open":
            raise StripeError(400, f"Invoice is already {invoice['status']}", code="invoice_not_open")
        self._change(invoice, "invoice.paid", status="paid", paid=True, amount_paid=invoice["amount_due"],
                     amount_remaining=0, attempt_count=invoice["attempt_count"] + 1, attempted=True,
                     next_payment_attempt=None)
        customer = invoice["customer"]
        if not any(i["customer"] == customer and i["status"] == "open" for i in self.invoices.values()):
            sub = self.subscriptions.get(invoice.get("subscription") or "")
            if sub is not None and sub["status"] in ("past_due", "unpaid"):
                self._change(sub, "customer.subscription.updated", status="active")
            self._change(self.customers[customer], "customer.updated", delinquent=False)
        return invoice

    def change_card(self, customer_id: str, exp_month: int, exp_year: int, *, brand: str = "visa",
                    last4: str = "4242") -> Obj:
        """Attach a new card and make it the default for invoices (what a customer portal update does)."""
        customer = self.customer(customer_id)
        card = StripeCard(_stripe_id("pm", next(self._seq)), brand, last4, exp_month, exp_year)
        pm = self._put(self.payment_methods, self._card(card, customer_id, self.now()))
        self.emit("payment_method.attached", pm)
        settings = dict(customer["invoice_settings"], default_payment_method=pm["id"])
        self._change(customer, "customer.updated", invoice_settings=settings)
        return pm

    def change_quantity(self, sub_id: str, quantity: int) -> Obj:
        """Seats added or removed (``customer.subscription.updated``, the item's quantity in the snapshot)."""
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            raise missing("subscription", sub_id)
        items = copy.deepcopy(sub["items"])
        for item in items["data"]:
            item["quantity"] = quantity
        self._change(sub, "customer.subscription.updated", quantity=quantity, items=items)
        return sub

    def cancel_subscription(self, sub_id: str) -> Obj:
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            raise missing("subscription", sub_id)
        previous = {"status": sub["status"]}
        sub.update(status="canceled", canceled_at=self.now(), ended_at=self.now())
        self.emit("customer.subscription.deleted", sub, previous)
        return sub


def matches_type(patterns: list[str]) -> Callable[[Obj], bool]:
    """Stripe's event ``type``/``types[]`` filter, including the ``invoice.*`` wildcard form."""
    exact = {p for p in patterns if not p.endswith(".*")}
    prefixes = tuple(p[:-1] for p in patterns if p.endswith(".*"))
    return lambda e: not patterns or e["type"] in exact or (bool(prefixes) and e["type"].startswith(prefixes))
