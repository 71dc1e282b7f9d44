"""A small but real SOQL parser and evaluator, so queries are checked the way Salesforce checks them.

Why real: the connector's SOQL is built from admin config and customer data (names, domains), and the
tests must catch a quoting bug or a wrong literal type the way the org would — with ``MALFORMED_QUERY``
or ``INVALID_FIELD`` — instead of an emulator that ignores the WHERE clause.

Supported: ``SELECT f1, f2 FROM Obj [WHERE …] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], …] [LIMIT n]``
with ``= != <> > >= < <=``, ``IN (…)``, ``NOT IN (…)``, ``LIKE``, ``AND``/``OR``/``NOT``, parentheses,
quoted strings with backslash escapes, numbers, ``TRUE``/``FALSE``/``NULL``, date and datetime literals.
Field names are case-insensitive, as in Salesforce.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from connector.sandbox.salesforce.schema import FieldDef

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
             "NULLS", "FIRST", "LAST", "LIMIT", "NULL", "TRUE", "FALSE"}


class SoqlError(Exception):
    """A query Salesforce would refuse; ``code`` is its errorCode (MALFORMED_QUERY, INVALID_FIELD…)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Literal:
    kind: str  # string | number | date | datetime | null | boolean
    value: Any


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    value: Any = None


@dataclass
class Query:
    obj: str
    fields: list[str]
    where: Callable[[Mapping[str, Any]], bool] | None
    order: list[tuple[str, bool, bool]]  # field, descending, nulls_last
    limit: int | None


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token at position {pos}: {text[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        raw = m.group()
        if kind == "ws":
            continue
        if kind == "string":
            tokens.append(Token("literal", raw, Literal("string", _unescape(raw[1:-1]))))
        elif kind == "number":
            tokens.append(Token("literal", raw, Literal("number", float(raw))))
        elif kind == "date":
            tokens.append(Token("literal", raw, Literal("date", _parse_date(raw))))
        elif kind == "datetime":
            tokens.append(Token("literal", raw, Literal("datetime", parse_datetime(raw))))
        elif kind == "ident" and raw.upper() in _KEYWORDS:
            tokens.append(Token("kw", raw.upper()))
        else:
            tokens.append(Token(kind, raw))
    return tokens


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt in ("_", "%"):  # only meaningful inside LIKE; kept escaped for the pattern compiler
                out.append("\\" + nxt)
            elif nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            else:
                raise SoqlError("MALFORMED_QUERY", f"invalid escape sequence \\{nxt} in string literal")
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SoqlError("MALFORMED_QUERY", f"invalid date literal {text}") from None


def parse_datetime(text: str) -> datetime:
    """Salesforce datetimes (``…T09:00:00.000+0000`` or ``…Z``) as aware datetimes."""
    fixed = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", fixed):
        fixed = fixed[:-2] + ":" + fixed[-2:]
    try:
        parsed = datetime.fromisoformat(fixed)
    except ValueError:
        raise SoqlError("MALFORMED_QUERY", f"invalid datetime literal {text}") from None
    if parsed.tzinfo is None:
        raise SoqlError("MALFORMED_QUERY", f"datetime literal needs a time zone: {text}")
    return parsed


class _Parser:
    def __init__(self, text: str, schema: Mapping[str, Mapping[str, FieldDef]]):
        self.tokens, self.pos, self.schema = tokenize(text), 0, schema
        self.fields: dict[str, FieldDef] = {}
        self.obj = ""

    def peek(self, offset: int = 0) -> Token | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        self.pos += 1
        return tok

    def is_kw(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "kw" and tok.text in words

    def expect_kw(self, word: str) -> None:
        tok = self.next()
        if tok.kind != "kw" or tok.text != word:
            raise SoqlError("MALFORMED_QUERY", f"expecting {word}, found {tok.text!r}")

    def expect(self, kind: str, text: str | None = None) -> Token:
        tok = self.next()
        if tok.kind != kind or (text is not None and tok.text != text):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: {tok.text!r}")
        return tok

    def field(self, name: str) -> FieldDef:
        fd = self.fields.get(name.lower())
        if fd is None:
            raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{self.obj}'. If you are "
                            "attempting to use a custom field, be sure to append the '__c' after the custom "
                            "field name.")
        return fd

    def parse(self) -> Query:
        self.expect_kw("SELECT")
        names = [self.expect("ident").text]
        while self.peek() is not None and self.peek().kind == "punct" and self.peek().text == ",":  # type: ignore[union-attr]
            self.next()
            names.append(self.expect("ident").text)
        self.expect_kw("FROM")
        obj = self.expect("ident").text
        canonical = next((o for o in self.schema if o.lower() == obj.lower()), None)
        if canonical is None:
            raise SoqlError("INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        self.obj = canonical
        self.fields = {k.lower(): v for k, v in self.schema[canonical].items()}
        fields = [self.field(n).name for n in names]
        where = None
        if self.is_kw("WHERE"):
            self.next()
            where = self.or_expr()
        order = self.order_by() if self.is_kw("ORDER") else []
        limit = None
        if self.is_kw("LIMIT"):
            self.next()
            tok = self.expect("literal")
            if tok.value.kind != "number" or tok.value.value < 0:
                raise SoqlError("MALFORMED_QUERY", "LIMIT must be a non-negative integer")
            limit = int(tok.value.value)
        if self.peek() is not None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: {self.peek().text!r}")  # type: ignore[union-attr]
        return Query(canonical, fields, where, order, limit)

    def order_by(self) -> list[tuple[str, bool, bool]]:
        self.expect_kw("ORDER")
        self.expect_kw("BY")
        items = []
        while True:
            name = self.field(self.expect("ident").text).name
            desc = False
            if self.is_kw("ASC", "DESC"):
                desc = self.next().text == "DESC"
            nulls_last = desc
            if self.is_kw("NULLS"):
                self.next()
                nulls_last = self.next().text == "LAST"
            items.append((name, desc, nulls_last))
            tok = self.peek()
            if tok is None or tok.kind != "punct" or tok.text != ",":
                return items
            self.next()

    def or_expr(self) -> Callable[[Mapping[str, Any]], bool]:
        parts = [self.and_expr()]
        while self.is_kw("OR"):
            self.next()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def and_expr(self) -> Callable[[Mapping[str, Any]], bool]:
        parts = [self.not_expr()]
        while self.is_kw("AND"):
            self.next()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def not_expr(self) -> Callable[[Mapping[str, Any]], bool]:
        if self.is_kw("NOT"):
            self.next()
            inner = self.not_expr()
            return lambda r: not inner(r)
        tok = self.peek()
        if tok is not None and tok.kind == "punct" and tok.text == "(":
            self.next()
            inner = self.or_expr()
            self.expect("punct", ")")
            return inner
        return self.comparison()

    def comparison(self) -> Callable[[Mapping[str, Any]], bool]:
        fd = self.field(self.expect("ident").text)
        negate = False
        if self.is_kw("NOT"):
            self.next()
            negate = True
            if not self.is_kw("IN"):
                raise SoqlError("MALFORMED_QUERY", "NOT must be followed by IN here")
        if self.is_kw("IN"):
            self.next()
            return _in_fn(fd, self.value_list(fd), negate)
        if self.is_kw("LIKE"):
            self.next()
            lit = self.literal(fd)
            if lit.kind != "string":
                raise SoqlError("INVALID_FIELD", f"LIKE needs a string on field {fd.name}")
            pattern = like_regex(lit.value)
            return lambda r: isinstance(r.get(fd.name), str) and bool(pattern.match(r[fd.name]))
        op = self.expect("op").text
        lit = self.literal(fd)
        return _compare_fn(fd, op, lit)

    def value_list(self, fd: FieldDef) -> list[Literal]:
        self.expect("punct", "(")
        values = [self.literal(fd)]
        while True:
            tok = self.next()
            if tok.kind == "punct" and tok.text == ")":
                return values
            if tok.kind != "punct" or tok.text != ",":
                raise SoqlError("MALFORMED_QUERY", f"unexpected token in IN list: {tok.text!r}")
            values.append(self.literal(fd))

    def literal(self, fd: FieldDef) -> Literal:
        tok = self.next()
        if tok.kind == "kw" and tok.text == "NULL":
            return Literal("null", None)
        if tok.kind == "kw" and tok.text in ("TRUE", "FALSE"):
            return Literal("boolean", tok.text == "TRUE")
        if tok.kind != "literal":
            raise SoqlError("MALFORMED_QUERY", f"expected a value, found {tok.text!r}")
        lit: Literal = tok.value
        if fd.type in ("date", "datetime") and lit.kind == "string":
            raise SoqlError("INVALID_FIELD", f"value of filter criterion for field '{fd.name}' must be of type "
                            f"{fd.type} and should not be enclosed in quotes")
        if fd.type == "datetime" and lit.kind == "date":
            raise SoqlError("INVALID_FIELD", f"value of filter criterion for field '{fd.name}' must be of type "
                            "dateTime")
        return lit


def like_regex(pattern: str) -> re.Pattern[str]:
    """SOQL LIKE → regex: ``%`` any run, ``_`` one char, ``\\%``/``\\_`` literal; case-insensitive."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)


def sort_key(fd: FieldDef, value: Any) -> Any:
    """A comparable form of a stored value for field ``fd``."""
    if value is None:
        return None
    if fd.type == "datetime":
        return parse_datetime(value)
    if fd.type == "date":
        return date.fromisoformat(value)
    if isinstance(value, str) and fd.type not in ("id", "reference"):
        return value.lower()
    return value


def _literal_key(fd: FieldDef, lit: Literal) -> Any:
    if lit.kind == "string":
        return lit.value if fd.type in ("id", "reference") else lit.value.lower()
    return lit.value


def _equal(fd: FieldDef, stored: Any, lit: Literal) -> bool:
    if lit.kind == "null":
        return stored is None
    return stored is not None and sort_key(fd, stored) == _literal_key(fd, lit)


def _in_fn(fd: FieldDef, values: list[Literal], negate: bool) -> Callable[[Mapping[str, Any]], bool]:
    """``IN (…)`` as one set lookup per record: the connector reads back 300 ids per query, and testing
    each record against every literal made one query over 100k records cost seconds in the emulator."""
    keys = {_literal_key(fd, v) for v in values if v.kind != "null"}
    with_null = any(v.kind == "null" for v in values)

    def fn(r: Mapping[str, Any]) -> bool:
        stored = r.get(fd.name)
        found = with_null if stored is None else sort_key(fd, stored) in keys
        return found != negate

    return fn


def _compare_fn(fd: FieldDef, op: str, lit: Literal) -> Callable[[Mapping[str, Any]], bool]:
    if op in ("=", "!=", "<>"):
        want = op == "="
        return lambda r: _equal(fd, r.get(fd.name), lit) == want
    if lit.kind == "null":
        raise SoqlError("MALFORMED_QUERY", f"NULL can only be compared with = or != on {fd.name}")
    target = _literal_key(fd, lit)
    checks = {"<": lambda a: a < target, "<=": lambda a: a <= target,
              ">": lambda a: a > target, ">=": lambda a: a >= target}
    check = checks[op]

    def fn(r: Mapping[str, Any]) -> bool:
        stored = r.get(fd.name)
        if stored is None:
            return False
        try:
            return bool(check(sort_key(fd, stored)))
        except TypeError:
            return False

    return fn


def parse(text: str, schema: Mapping[str, Mapping[str, FieldDef]]) -> Query:
    """Parse ``text`` against ``schema`` (object → field name → definition); raise :class:`SoqlError`."""
    return _Parser(text, schema).parse()
