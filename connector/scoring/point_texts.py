"""A block of accounts' score-history point texts, made a field at a time: what ``json.dumps`` of each
account's ``{**outputs, "book": book}`` writes, character for character.

Why: the daily full pass writes a point for every account, its outputs as JSON (~740 bytes).  Made per
account, the point was a dict of ~20 entries built and then walked by ``json.dumps`` — about 25 µs an
account, 25 s of a million-account pass.  Here each field's values are encoded once for the block (a text
by the C encoder ``json.dumps`` itself uses, a number by its ``repr``, as ``json.dumps`` does), and each
account's text is one ``%`` of a template holding the keys: a few µs an account.

The text must be exactly ``json.dumps``'s: the point's digest (:mod:`~connector.scoring.point_prints`) is
of its text, and an equal digest is what lets a re-score skip a point.  Any value of a kind not handled
here is encoded by ``json.dumps`` itself, so the text is the same whatever the column holds
(``tests/scoring/test_point_texts.py`` compares both on every kind of value and on every account of a
scored world).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

#: The key the book's snapshot is nested under in a point (see :mod:`~connector.scoring.book`).
BOOK = "book"
#: The JSON text of the constants, as ``json.dumps`` writes them.
_CONSTANTS: dict[Any, str] = {None: "null", True: "true", False: "false"}
#: How ``json.dumps`` writes a value of each exact type it has a rule for (floats: finite ones).
_ENCODERS: dict[type, Any] = {str: encode_basestring_ascii, float: float.__repr__, int: int.__repr__,
                              bool: _CONSTANTS.__getitem__}


def point_texts(outputs: Mapping[str, Sequence[Any]], book: Mapping[str, Sequence[Any]]) -> list[str]:
    """``json.dumps({**outputs_i, "book": book_i})`` for every row ``i`` of the columns (each of one length;
    ``outputs`` must not have a ``"book"`` key, as the dict would let the book replace it)."""
    if BOOK in outputs:
        raise ValueError(f"an output named {BOOK!r} would be replaced by the book in the point")
    inner = ", ".join(f"{_key(k)}: %s" for k in book)
    template = "{" + ", ".join([*(f"{_key(k)}: %s" for k in outputs), f"{_key(BOOK)}: {{{inner}}}"]) + "}"
    columns = [encoded_column(c) for c in (*outputs.values(), *book.values())]
    return [template % row for row in zip(*columns, strict=True)]


def _key(name: str) -> str:
    """A key as the template holds it: JSON text, ``%`` doubled for the ``%`` formatting."""
    return str(encode_basestring_ascii(name)).replace("%", "%%")


def encoded_column(values: Sequence[Any]) -> list[str]:
    """Each value as ``json.dumps`` writes it inside a dict: a column of one kind, with or without nulls
    (nearly every output column), at once; any other column value by value."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if len(kinds) == 1:
        kind = kinds.pop()
        encode = _ENCODERS.get(kind)
        if encode is not None and (kind is not float or all(map(math.isfinite, filter(None, values)))):
            if None not in values:
                return list(map(encode, values))
            return ["null" if v is None else encode(v) for v in values]
    return [encoded_value(v) for v in values]


def encoded_value(value: Any) -> str:
    """One value as ``json.dumps`` writes it (the exact kinds it has a rule for first; anything else by
    ``json.dumps`` itself)."""
    if value is None:
        return "null"
    kind = type(value)
    encode = _ENCODERS.get(kind)
    if encode is not None and (kind is not float or math.isfinite(value)):
        return str(encode(value))
    return json.dumps(value)
