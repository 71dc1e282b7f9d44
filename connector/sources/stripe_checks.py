"""Validation of the Stripe objects the billing signals are computed from.

A Stripe list page is accepted object by object: one invoice without a ``customer`` or with text in
``attempt_count`` must not fail the whole Stripe source, and must not reach the signal arithmetic either
(where it would raise, or quietly count as zero).  :func:`problem` says what is wrong with one object,
naming the field, so the source can quarantine it and go on.

The models are strict (JSON ``"3"`` is not ``3``, ``true`` is not ``1``) and check only the fields the
connector reads; Stripe adds fields with every API version, so everything else is allowed through.
Shapes and enums from https://docs.stripe.com/api/customers/object, /subscriptions/object,
/invoices/object and /payment_methods/object.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: ``created`` later than this past the run's ``now`` is a broken record, not a clock skew.
FUTURE_TOLERANCE = timedelta(days=1)
#: Longest text we keep from a billing object (Stripe's own metadata values stop at 500 characters).
MAX_TEXT = 5_000

NonEmpty = Field(min_length=1, max_length=255)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class _Stamped(_Strict):
    id: str = NonEmpty
    created: int = Field(ge=0)


class _Coupon(_Strict):
    percent_off: float | None = Field(default=None, ge=0, le=100)
    amount_off: int | None = Field(default=None, ge=0)
    duration: Literal["forever", "once", "repeating"] = "forever"


class _Discount(_Strict):
    coupon: _Coupon
    end: int | None = Field(default=None, ge=0)


class Customer(_Stamped):
    object: Literal["customer"]
    email: str | None = Field(default=None, max_length=512)
    metadata: dict[str, Any] | None = None
    deleted: bool | None = None
    discount: _Discount | None = None


class _Recurring(_Strict):
    interval: Literal["day", "week", "month", "year"] = "month"
    interval_count: int = Field(default=1, ge=1)


class _Price(_Strict):
    unit_amount: int | None = Field(default=None, ge=0)
    recurring: _Recurring | None = None


class _Item(_Strict):
    quantity: int | None = Field(default=None, ge=0)
    price: _Price | None = None


class _Items(_Strict):
    data: list[_Item] = []


class Subscription(_Stamped):
    object: Literal["subscription"]
    customer: str = NonEmpty
    status: Literal["incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid",
                    "paused"]
    items: _Items | None = None
    discount: _Discount | None = None


class Invoice(_Stamped):
    object: Literal["invoice"]
    customer: str = NonEmpty
    status: Literal["draft", "open", "paid", "uncollectible", "void"] | None = None
    paid: bool | None = None
    attempt_count: int = Field(default=0, ge=0)
    due_date: int | None = Field(default=None, ge=0)
    amount_due: int | None = None


class _Card(_Strict):
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=1970, le=9999)
    brand: str | None = None


class PaymentMethod(_Stamped):
    object: Literal["payment_method"]
    customer: str | None = None
    card: _Card | None = None


MODELS: dict[str, type[_Stamped]] = {"customer": Customer, "subscription": Subscription, "invoice": Invoice,
                                     "payment_method": PaymentMethod}


def problem(obj: Any, kind: str, now: datetime) -> str | None:
    """Why ``obj`` (expected to be a Stripe ``kind``) cannot be used, naming the field; ``None`` if usable."""
    if not isinstance(obj, Mapping):
        return f"{kind} is not a JSON object ({type(obj).__name__})"
    label = f"{kind} {_ident(obj) or '(no id)'}"
    if long := next((k for k, v in obj.items() if isinstance(v, str) and len(v) > MAX_TEXT), None):
        return f"{label}: field `{long}` has {len(obj[long]):,} characters (limit {MAX_TEXT:,})"
    try:
        model = MODELS[kind].model_validate(dict(obj))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "(object)"
        return f"{label}: field `{where}` {first['msg'].lower()} (got {_short(first.get('input'))})"
    if model.created > (now + FUTURE_TOLERANCE).timestamp():
        return f"{label}: field `created` is {model.created}, more than a day in the future"
    return None


def entity_id(obj: Any) -> str | None:
    return _ident(obj) if isinstance(obj, Mapping) else None


def preview(obj: Any) -> dict[str, Any]:
    """Enough of the object for an admin to find it in the Stripe dashboard, without megabytes of text."""
    if not isinstance(obj, Mapping):
        return {}
    keep = ("id", "object", "customer", "status", "created", "attempt_count", "email")
    return {k: (v[:200] if isinstance(v, str) else v) for k, v in obj.items() if k in keep}


def _ident(obj: Mapping[str, Any]) -> str | None:
    value = obj.get("id")
    return value[:64] if isinstance(value, str) and value else None


def _short(value: Any) -> str:
    return f"{value!r:.40}"
