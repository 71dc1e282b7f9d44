"""Starlette routes speaking Stripe's REST wire format over :class:`StripeBackend`.

What is exact here, because clients depend on it:

* auth with the secret key as ``Authorization: Bearer sk_…`` or basic auth (key as user, empty
  password); a wrong key answers 401 with the key masked to its prefix and last four characters, never
  echoed (https://docs.stripe.com/api/authentication);
* list envelopes ``{"object": "list", "data": [...], "has_more", "url"}``, newest first, ``limit`` 1–100
  (default 10) and ``starting_after``/``ending_before`` cursors (https://docs.stripe.com/api/pagination);
* ``created[gte|gt|lte|lt]`` filters, event ``type``/``types[]``, ``expand[]`` of
  ``data.invoice_settings.default_payment_method`` and ``data.default_payment_method``; list parameters
  in both encodings Stripe accepts: ``types[]=a&types[]=b`` and the indexed ``types[0]=a&types[1]=b``
  that stripe-python always sends (``stripe/_encode.py``);
* ``expand`` of a customer's ``sources``, ``subscriptions`` and ``tax_ids`` lists (what tap-stripe asks
  for) and ``GET /v1/accounts/{id}`` (the connected account a tap checks before reading);
* error objects ``{"error": {type, code, message, param, doc_url}}`` with Stripe's status codes
  (https://docs.stripe.com/api/errors).
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Awaitable, Callable
from itertools import islice

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connector.sandbox.stripe.backend import (
    INVOICE_STATUSES,
    SUBSCRIPTION_STATUSES,
    Obj,
    StripeBackend,
    StripeError,
    created,
    matches_type,
    missing,
)

Handler = Callable[[Request], Awaitable[Response]]
MAX_LIMIT = 100  # https://docs.stripe.com/api/pagination: "limit … between 1 and 100, default 10"
RANGE_OPS = {"gte": int.__ge__, "gt": int.__gt__, "lte": int.__le__, "lt": int.__lt__}
AUTH_HELP = ("You did not provide an API key. You need to provide your API key in the Authorization header, "
             "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "
             "See https://stripe.com/docs/api#authentication for details.")


def error_response(err: StripeError, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(err.body(), status_code=err.status, headers=headers)


def rate_limited_response() -> Response:
    """Stripe's 429: ``rate_limit`` code, no Retry-After (clients back off exponentially)."""
    return error_response(StripeError(429, "Request rate limit exceeded. You can learn more about rate limits "
                                           "here https://stripe.com/docs/rate-limits.", code="rate_limit"),
                          {"Stripe-Should-Retry": "true"})


def mask_key(key: str) -> str:
    """``sk_test_****1234``: enough for an admin to tell keys apart, never the key."""
    prefix = key[: key.find("_", 3) + 1] if key.startswith(("sk_", "rk_")) else ""
    return f"{prefix}****{key[-4:]}" if len(key) > 8 else "****"


def presented_key(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value).decode().partition(":")[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def check_auth(request: Request, secret_key: str) -> None:
    key = presented_key(request)
    if key is None:
        raise StripeError(401, AUTH_HELP)
    if key != secret_key:
        raise StripeError(401, f"Invalid API Key provided: {mask_key(key)}")


def _int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise StripeError(400, f"Invalid integer: {raw[:40]}", code="parameter_invalid_integer",
                          param=name) from None


def _limit(request: Request) -> int:
    limit = _int(request, "limit")
    if limit is None:
        return 10
    if not 1 <= limit <= MAX_LIMIT:
        raise StripeError(400, f"Invalid integer: {limit}. This value must be between 1 and {MAX_LIMIT}.",
                          code="parameter_invalid_integer", param="limit")
    return limit


def _bound_test(compare: Callable[[int, int], bool], bound: int) -> Callable[[Obj], bool]:
    return lambda r: bool(compare(created(r), bound))


def _created_test(request: Request) -> Callable[[Obj], bool]:
    """The ``created`` / ``created[gte]`` … filters of a list request, as one predicate."""
    tests: list[Callable[[Obj], bool]] = []
    exact = _int(request, "created")
    if exact is not None:
        tests.append(lambda r: created(r) == exact)
    for op, compare in RANGE_OPS.items():
        bound = _int(request, f"created[{op}]")
        if bound is not None:
            tests.append(_bound_test(compare, bound))
    return lambda r: all(t(r) for t in tests)


def _page(request: Request, kind: str, rows: list[Obj]) -> Response:
    """Slice ``rows`` (already newest first and filtered) by limit and cursor into a list envelope."""
    return _scan_page(request, kind, rows, {str(r.get("id")): i for i, r in enumerate(rows)}, lambda r: True)


def _scan_page(request: Request, kind: str, ordered: list[Obj], position: dict[str, int],
               keep: Callable[[Obj], bool], decorate: Callable[[Obj], Obj] = lambda o: o) -> Response:
    """One page of the objects of ``ordered`` (newest first) that ``keep`` accepts, by limit and cursor.

    Scans from the cursor's position and stops after ``limit + 1`` matches, so a page costs its own size
    on an unfiltered list, not the table's.
    """
    limit = _limit(request)
    after, before = request.query_params.get("starting_after"), request.query_params.get("ending_before")
    if after and before:
        raise StripeError(400, "You may only specify one of these parameters: ending_before, starting_after.",
                          param="starting_after")
    anchor = after or before
    if anchor:
        at = position.get(anchor)
        if at is None or not keep(ordered[at]):
            raise missing(kind, anchor, "starting_after" if after else "ending_before")
        span = range(at + 1, len(ordered)) if after else range(at - 1, -1, -1)
    else:
        span = range(len(ordered))
    found = list(islice((ordered[i] for i in span if keep(ordered[i])), limit + 1))
    has_more = len(found) > limit
    data = found[:limit] if not before else found[:limit][::-1]
    request.state.records = len(data)
    return JSONResponse({"object": "list", "data": [_expand(request, copy.deepcopy(decorate(o))) for o in data],
                         "has_more": has_more, "url": request.url.path})


class StripeRoutes:
    """The ``/v1`` endpoints the connector reads, plus single-object retrieval."""

    def __init__(self, backend: StripeBackend, secret_key: str):
        self.backend, self.secret_key = backend, secret_key

    def routes(self) -> list[BaseRoute]:
        b = self.backend
        return [
            Route("/v1/customers", self._wrap(self.customers)),
            Route("/v1/customers/{id}",
                  self._wrap(lambda r: self._one(r, _with_default_pm(b.customer(r.path_params["id"]), b)))),
            Route("/v1/customers/{id}/payment_methods", self._wrap(self.customer_payment_methods)),
            Route("/v1/subscriptions", self._wrap(self.subscriptions)),
            Route("/v1/invoices", self._wrap(self.invoices)),
            Route("/v1/payment_methods", self._wrap(self.payment_methods)),
            Route("/v1/events", self._wrap(self.events)),
            Route("/v1/events/{id}", self._wrap(lambda r: self._one(r, b.event(r.path_params["id"])))),
            Route("/v1/accounts/{id}", self._wrap(self.account)),
        ]

    def account(self, request: Request) -> Response:
        account_id = request.path_params["id"]
        return JSONResponse({"id": account_id, "object": "account", "type": "standard", "country": "US",
                             "default_currency": "usd", "charges_enabled": True,
                             "settings": {"dashboard": {"display_name": "Sandbox", "timezone": "Etc/UTC"}}})

    def _wrap(self, handler: Callable[[Request], Response]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                check_auth(request, self.secret_key)
                return handler(request)
            except StripeError as err:
                return error_response(err)

        return endpoint

    def _one(self, request: Request, obj: Obj) -> Response:
        request.state.records = 1
        return JSONResponse(_expand(request, copy.deepcopy(obj), prefix=""))

    def customers(self, request: Request) -> Response:
        email, in_range = request.query_params.get("email"), _created_test(request)
        ordered, position = self.backend.ordered_table(self.backend.customers)
        subs: dict[str, list[Obj]] = {}
        if "data.subscriptions" in _array(request, "expand"):  # one pass per page, not per customer
            for sub in self.backend.ordered_table(self.backend.subscriptions)[0]:
                if sub.get("status") != "canceled":
                    subs.setdefault(str(sub.get("customer")), []).append(sub)
        return _scan_page(request, "customer", ordered, position,
                          lambda c: (not email or c.get("email") == email) and in_range(c),
                          lambda c: {**_with_default_pm(c, self.backend), "_subs": subs.get(str(c.get("id")), [])})

    def subscriptions(self, request: Request) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in SUBSCRIPTION_STATUSES | {"all", "ended"}:
            raise StripeError(400, f"Invalid status: must be one of {', '.join(sorted(SUBSCRIPTION_STATUSES))}, "
                                   "all or ended", code="parameter_invalid_string", param="status")
        of_customer, in_range = self._customer_test(request), _created_test(request)
        if status == "ended":
            wanted: Callable[[Obj], bool] = lambda s: s["status"] in ("canceled", "incomplete_expired")  # noqa: E731
        elif status not in (None, "all"):
            wanted = lambda s: s["status"] == status  # noqa: E731
        elif status is None:  # Stripe's default hides canceled subscriptions
            wanted = lambda s: s["status"] != "canceled"  # noqa: E731
        else:
            wanted = lambda s: True  # noqa: E731
        ordered, position = self.backend.ordered_table(self.backend.subscriptions)
        return _scan_page(request, "subscription", ordered, position,
                          lambda s: of_customer(s) and wanted(s) and in_range(s),
                          lambda s: _with_default_pm(s, self.backend))

    def invoices(self, request: Request) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in INVOICE_STATUSES:
            raise StripeError(400, f"Invalid status: must be one of {', '.join(sorted(INVOICE_STATUSES))}",
                              code="parameter_invalid_string", param="status")
        of_customer, in_range = self._customer_test(request), _created_test(request)
        sub = request.query_params.get("subscription")
        ordered, position = self.backend.ordered_table(self.backend.invoices)
        return _scan_page(request, "invoice", ordered, position,
                          lambda i: (of_customer(i) and (not status or i["status"] == status)
                                     and (not sub or i.get("subscription") == sub) and in_range(i)))

    def payment_methods(self, request: Request) -> Response:
        if not request.query_params.get("customer"):
            raise StripeError(400, "Missing required param: customer.", code="parameter_missing", param="customer")
        return self._cards_of(request, request.query_params["customer"])

    def customer_payment_methods(self, request: Request) -> Response:
        return self._cards_of(request, request.path_params["id"])

    def _cards_of(self, request: Request, customer: str) -> Response:
        self.backend.customer(customer)
        kind = request.query_params.get("type", "card")
        rows = [p for p in self.backend.payment_methods.values()
                if p.get("customer") == customer and p.get("type") == kind]
        return _page(request, "payment_method", self.backend.ordered(rows))

    def events(self, request: Request) -> Response:
        types = _array(request, "types")
        if len(types) > 20:
            raise StripeError(400, "You may pass at most 20 types.", param="types")
        if single := request.query_params.get("type"):
            types = [single]
        oldest, of_type, in_range = self.backend.retention_start(), matches_type(types), _created_test(request)
        ordered, position = self.backend.ordered_table(self.backend.events)
        return _scan_page(request, "event", ordered, position,
                          lambda e: e["created"] >= oldest and of_type(e) and in_range(e))

    def _customer_test(self, request: Request) -> Callable[[Obj], bool]:
        """The ``customer`` filter as a predicate; an unknown customer is refused as Stripe does."""
        customer = request.query_params.get("customer")
        if customer:
            self.backend.customer(customer)
        return lambda r: not customer or r.get("customer") == customer


def _array(request: Request, name: str) -> list[str]:
    """A list parameter as ``name[]=…`` repeated or as ``name[0]=…&name[1]=…`` (by index)."""
    indexed: list[tuple[int, str]] = []
    for key, value in request.query_params.multi_items():
        index = key.removeprefix(f"{name}[").removesuffix("]")
        if key.startswith(f"{name}[") and key.endswith("]") and index.isascii() and index.isdigit():
            indexed.append((int(index), value))
    return request.query_params.getlist(f"{name}[]") + [value for _, value in sorted(indexed)]


def _with_default_pm(obj: Obj, backend: StripeBackend) -> Obj:
    """Attach the expandable object behind an id field so :func:`_expand` can inline it on request."""
    settings = obj.get("invoice_settings") or {}
    pm_id = settings.get("default_payment_method") if obj["object"] == "customer" else obj.get("default_payment_method")
    return {**obj, "_pm": backend.payment_methods.get(pm_id) if pm_id else None}


EXPANDABLE = {"invoice_settings.default_payment_method", "default_payment_method", "sources", "subscriptions",
              "tax_ids", "plan.tiers"}


def _expand(request: Request, obj: Obj, prefix: str = "data.") -> Obj:
    """Apply ``expand`` (the payment-method paths the connector uses, the customer lists a tap asks for;
    ``plan.tiers`` is accepted and empty: the sandbox has no tiered plans) and drop helper keys."""
    pm, subs = obj.pop("_pm", None), obj.pop("_subs", [])
    for path in _array(request, "expand"):
        field = path.removeprefix(prefix)
        if field not in EXPANDABLE:
            raise StripeError(400, f"This property cannot be expanded ({path}).", param="expand")
        if field == "invoice_settings.default_payment_method" and obj.get("invoice_settings") and pm:
            obj["invoice_settings"]["default_payment_method"] = copy.deepcopy(pm)
        elif field == "default_payment_method" and pm:
            obj["default_payment_method"] = copy.deepcopy(pm)
        elif field in ("sources", "subscriptions", "tax_ids") and obj.get("object") == "customer":
            data = copy.deepcopy(subs) if field == "subscriptions" else []
            obj[field] = {"object": "list", "data": data, "has_more": False, "total_count": len(data),
                          "url": f"/v1/customers/{obj.get('id')}/{field}"}
    return obj
