"""A small, safe condition language over signals and derived facts, evaluated column-wise with numpy.

Why not ``eval()``: the success model is edited by admins and shipped around as a file; a condition must
never be able to run code, and it must be checkable at load time (unknown signal, wrong operator, a text
value compared with ``>=``).  So a condition is plain data — a leaf ``{signal, op, value}`` or an
``all``/``any`` list of conditions — parsed here into frozen dataclasses and evaluated over whole columns
at once (one numpy operation per leaf for every account), which is what keeps a million accounts fast.

Missing values never satisfy a comparison: a NaN (numeric) or code -1 (text) is only matched by
``op = "missing"``.  ``!=`` and ``not_in`` therefore mean "present and different", so a rule can't fire
on absent data by accident.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Op = Literal[">=", ">", "<=", "<", "==", "!=", "in", "not_in", "present", "missing"]
OPS: tuple[str, ...] = (">=", ">", "<=", "<", "==", "!=", "in", "not_in", "present", "missing")
_ORDERING = frozenset({">=", ">", "<=", "<"})
_LISTS = frozenset({"in", "not_in"})
_UNARY = frozenset({"present", "missing"})


@dataclass(frozen=True, slots=True)
class Categorical:
    """A text column as integer codes into ``categories`` (-1 = missing): compares a million rows fast."""

    codes: np.ndarray
    categories: tuple[str, ...]

    @classmethod
    def from_values(cls, values: Sequence[str | None] | np.ndarray) -> Categorical:
        cats = sorted({v for v in values if isinstance(v, str)})
        index = {c: i for i, c in enumerate(cats)}
        codes = np.fromiter((index.get(v, -1) if isinstance(v, str) else -1 for v in values), np.int32,
                            count=len(values))
        return cls(codes, tuple(cats))

    def code_of(self, value: str) -> int:
        """Code of ``value`` (case-insensitive), or -2 — a code no row carries — when it never occurs."""
        folded = value.casefold()
        for i, c in enumerate(self.categories):
            if c.casefold() == folded:
                return i
        return -2

    def value_at(self, row: int) -> str | None:
        code = int(self.codes[row])
        return self.categories[code] if code >= 0 else None

    def values(self, start: int, stop: int) -> list[str | None]:
        """:meth:`value_at` of rows ``start:stop``."""
        named = [*self.categories, None]  # code −1 (missing) reads the last entry
        return [named[c] for c in self.codes[start:stop].tolist()]


Column = np.ndarray | Categorical


@dataclass(frozen=True, slots=True)
class Leaf:
    signal: str
    op: str
    value: float | str | tuple[float | str, ...] | None = None


@dataclass(frozen=True, slots=True)
class AllOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Condition, ...]


Condition = Leaf | AllOf | AnyOf


def parse_condition(raw: Any, where: str = "when") -> Condition:
    """Parse the TOML form into a :data:`Condition`; ``ValueError`` names the exact sub-key and the fix."""
    if isinstance(raw, Leaf | AllOf | AnyOf):
        return raw
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a table like {{signal = \"nps\", op = \">=\", value = 8}}, "
                         f"or {{all = [...]}} / {{any = [...]}}")
    if set(raw) & {"all", "any"}:
        if len(raw) != 1:
            raise ValueError(f"{where}: `all`/`any` must be the only key of its table (got {sorted(raw)})")
        kind, items = next(iter(raw.items()))
        if not isinstance(items, list) or not items:
            raise ValueError(f"{where}.{kind}: expected a non-empty list of conditions")
        parsed = tuple(parse_condition(item, f"{where}.{kind}[{i}]") for i, item in enumerate(items))
        return AllOf(parsed) if kind == "all" else AnyOf(parsed)
    unknown = set(raw) - {"signal", "op", "value"}
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; a condition has signal, op, value "
                         f"(or is {{all = [...]}} / {{any = [...]}})")
    signal, op, value = raw.get("signal"), raw.get("op"), raw.get("value")
    if not isinstance(signal, str) or not signal:
        raise ValueError(f"{where}.signal: required; name the signal, e.g. signal = \"seat_utilisation\"")
    if op not in OPS:
        raise ValueError(f"{where}.op: {op!r} is not an operator; use one of {', '.join(OPS)}")
    return Leaf(signal, op, _check_value(op, value, where))


def _check_value(op: str, value: Any, where: str) -> float | str | tuple[float | str, ...] | None:
    if op in _UNARY:
        if value is not None:
            raise ValueError(f"{where}.value: op \"{op}\" takes no value; remove it")
        return None
    if op in _LISTS:
        if not isinstance(value, list) or not value:
            raise ValueError(f"{where}.value: op \"{op}\" needs a list, e.g. value = [\"past_due\", \"unpaid\"]")
        return tuple(_scalar(v, where) for v in value)
    if value is None:
        raise ValueError(f"{where}.value: op \"{op}\" needs a value")
    scalar = _scalar(value, where)
    if op in _ORDERING and isinstance(scalar, str):
        raise ValueError(f"{where}.value: op \"{op}\" compares numbers; use == or in for text")
    return scalar


def _scalar(value: Any, where: str) -> float | str:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return value
    raise ValueError(f"{where}.value: expected a number or text, got {value!r:.40}")


def leaves(cond: Condition) -> Iterator[Leaf]:
    """Every leaf, for load-time checks (unknown names, text vs number)."""
    if isinstance(cond, Leaf):
        yield cond
    else:
        for item in cond.items:
            yield from leaves(item)


def evaluate(cond: Condition, column: Callable[[str], Column], n: int) -> np.ndarray:
    """Boolean array of length ``n``: where ``cond`` holds.  ``column(name)`` supplies each input column."""
    if isinstance(cond, AllOf):
        out = np.ones(n, dtype=bool)
        for item in cond.items:
            out &= evaluate(item, column, n)
        return out
    if isinstance(cond, AnyOf):
        out = np.zeros(n, dtype=bool)
        for item in cond.items:
            out |= evaluate(item, column, n)
        return out
    col = column(cond.signal)
    if isinstance(col, Categorical):
        return _eval_text(cond, col)
    return _eval_number(cond, col)


def _eval_number(leaf: Leaf, col: np.ndarray) -> np.ndarray:
    present = ~np.isnan(col)
    if leaf.op == "present":
        return present
    if leaf.op == "missing":
        return ~present
    if leaf.op in _LISTS:
        nums = [v for v in leaf.value or () if isinstance(v, float)]  # type: ignore[union-attr]
        hit = np.isin(col, nums)
        return hit if leaf.op == "in" else present & ~hit
    value = leaf.value
    if not isinstance(value, float):
        return np.zeros(col.shape[0], dtype=bool)
    with np.errstate(invalid="ignore"):
        match leaf.op:
            case ">=":
                return col >= value
            case ">":
                return col > value
            case "<=":
                return col <= value
            case "<":
                return col < value
            case "==":
                return col == value
            case _:
                return present & (col != value)


def _eval_text(leaf: Leaf, col: Categorical) -> np.ndarray:
    present = col.codes >= 0
    if leaf.op == "present":
        return present
    if leaf.op == "missing":
        return ~present
    values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
    codes = [col.code_of(v) for v in values if isinstance(v, str)]
    hit = np.isin(col.codes, codes)
    if leaf.op in ("==", "in"):
        return hit
    return present & ~hit


def describe(cond: Condition) -> str:
    """Human form for docs and ``explain``: ``seat_utilisation >= 0.6 and feature_breadth >= 0.5``."""
    if isinstance(cond, Leaf):
        if cond.op in _UNARY:
            return f"{cond.signal} {cond.op}"
        value = cond.value
        shown = "[" + ", ".join(_fmt(v) for v in value) + "]" if isinstance(value, tuple) else _fmt(value)
        return f"{cond.signal} {cond.op.replace('_', ' ')} {shown}"
    joiner = " and " if isinstance(cond, AllOf) else " or "
    parts = [describe(c) if isinstance(c, Leaf) else f"({describe(c)})" for c in cond.items]
    return joiner.join(parts)


def _fmt(value: float | str | None) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


class Columns:
    """Name → column lookup for :func:`evaluate`: signals first, then facts the engine derived.

    A signal nobody sent is an all-missing column of the right kind (NaN or code −1), so a model that
    mentions usage signals still runs for a customer without a usage source — its conditions are false.
    """

    def __init__(self, n: int, kinds: dict[str, str]):
        self.n = n
        self.kinds = kinds
        self.numeric: dict[str, np.ndarray] = {}
        self.text: dict[str, Categorical] = {}

    def __call__(self, name: str) -> Column:
        if name in self.numeric:
            return self.numeric[name]
        if name in self.text:
            return self.text[name]
        if self.kinds.get(name) == "text":
            self.text[name] = Categorical(np.full(self.n, -1, np.int32), ())
            return self.text[name]
        self.numeric[name] = np.full(self.n, np.nan)
        return self.numeric[name]

    def number(self, name: str) -> np.ndarray:
        """A numeric column (NaN where missing); a text column here is a programming error."""
        col = self(name)
        if isinstance(col, Categorical):
            raise TypeError(f"{name} is a text column")
        return col

    def where(self, cond: Condition) -> np.ndarray:
        return evaluate(cond, self, self.n)
