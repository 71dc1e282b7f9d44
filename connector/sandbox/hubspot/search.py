"""The CRM search rules: filter groups, operators, sorting, paging and the 10,000-result ceiling.

Real limits (https://developers.hubspot.com/docs/guides/api/crm/search): up to 5 ``filterGroups`` (ORed)
of up to 6 filters each (ANDed), 18 filters in all; ``limit`` ≤ 200; one sort; and no paging past the
10,000th result — a request whose ``after`` reaches the cap is answered 400.  Comparisons follow the
property's type: numbers numerically, dates and datetimes as instants (ISO text or epoch milliseconds).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from connector.sandbox.hubspot.errors import HubSpotError, validation
from connector.sandbox.hubspot.schema import PropertyDef, parse_instant

MAX_FILTER_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
MAX_LIMIT = 200
OPERATORS = {"EQ", "NEQ", "GT", "GTE", "LT", "LTE", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "BETWEEN"}

Record = dict[str, str]


def check_request(body: dict[str, Any], cap: int) -> tuple[int, int]:
    """Validate the request's shape and paging; return ``(offset, limit)``."""
    groups = body.get("filterGroups") or []
    if len(groups) > MAX_FILTER_GROUPS or any(len(g.get("filters") or []) > MAX_FILTERS_PER_GROUP for g in groups) \
            or sum(len(g.get("filters") or []) for g in groups) > MAX_FILTERS:
        raise validation(f"Too many filters: at most {MAX_FILTER_GROUPS} filterGroups of "
                         f"{MAX_FILTERS_PER_GROUP} filters, {MAX_FILTERS} filters in total.")
    limit = int(body.get("limit") or 10)
    if not 1 <= limit <= MAX_LIMIT:
        raise validation(f"limit must be between 1 and {MAX_LIMIT} (got {limit}).")
    try:
        offset = int(body.get("after") or 0)
    except ValueError:
        raise validation(f"after must be a number (got {body.get('after')!r}).") from None
    if offset >= cap:
        # The real API refuses to page to or past the 10,000th result.
        raise validation(f"Search results are limited to {cap} records; narrow the search "
                         "(for example by a date range) instead of paging further.")
    return offset, limit


def matcher(groups: list[dict[str, Any]], props: dict[str, PropertyDef]) -> Callable[[Record], bool]:
    """A predicate for the ORed filter groups (no groups → everything matches)."""
    compiled = [[_compile(f, props) for f in g.get("filters") or []] for g in groups]
    if not compiled:
        return lambda _: True
    return lambda rec: any(all(test(rec) for test in group) for group in compiled)


def _compile(flt: dict[str, Any], props: dict[str, PropertyDef]) -> Callable[[Record], bool]:
    name, op = flt.get("propertyName"), str(flt.get("operator") or "")
    if op not in OPERATORS:
        raise validation(f"Unsupported operator {op!r}; one of {sorted(OPERATORS)}.")
    if not name or name not in props:
        raise HubSpotError(400, "VALIDATION_ERROR", f"Property {name!r} used in a filter does not exist.",
                           {"propertyName": [str(name)]})
    key = _key_function(props[name])
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        present = op == "HAS_PROPERTY"
        return lambda rec: (rec.get(name) not in (None, "")) == present
    if op in ("IN", "NOT_IN"):
        wanted = {key(str(v)) for v in flt.get("values") or []}
        inside = op == "IN"
        return lambda rec: rec.get(name) is not None and (key(rec[name]) in wanted) == inside
    if op == "BETWEEN":
        low, high = key(str(flt.get("value"))), key(str(flt.get("highValue")))
        return lambda rec: rec.get(name) is not None and low <= key(rec[name]) <= high
    target = key(str(flt.get("value")))
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "EQ": lambda a, b: a == b, "NEQ": lambda a, b: a != b, "GT": lambda a, b: a > b,
        "GTE": lambda a, b: a >= b, "LT": lambda a, b: a < b, "LTE": lambda a, b: a <= b}
    test = compare[op]
    if op == "NEQ":
        return lambda rec: rec.get(name) is None or test(key(rec[name]), target)
    return lambda rec: rec.get(name) is not None and test(key(rec[name]), target)


def _key_function(prop: PropertyDef) -> Callable[[str], Any]:
    if prop.type == "number":
        return lambda v: float(v)
    if prop.type in ("date", "datetime"):
        return lambda v: parse_instant(v if not (len(v) == 10 and v[4] == "-") else v + "T00:00:00Z")
    return lambda v: v.lower()


def sort_records(records: Iterable[tuple[str, Record]], sorts: list[Any],
                 props: dict[str, PropertyDef]) -> list[tuple[str, Record]]:
    """Sort by the one sort given (``"prop"``, ``"-prop"`` or ``{propertyName, direction}``), ties by id."""
    items = sorted(records, key=lambda item: int(item[0]))
    if not sorts:
        return items
    spec = sorts[0]
    if isinstance(spec, str):
        name, descending = spec.lstrip("-"), spec.startswith("-")
    else:
        name, descending = spec.get("propertyName", ""), spec.get("direction", "ASCENDING") == "DESCENDING"
    if name not in props:
        raise validation(f"Cannot sort by unknown property {name!r}.")
    key = _key_function(props[name])
    present = [i for i in items if i[1].get(name) not in (None, "")]
    missing = [i for i in items if i[1].get(name) in (None, "")]
    present.sort(key=lambda item: key(item[1][name]), reverse=descending)
    return present + missing
