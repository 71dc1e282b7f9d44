"""What the connector prints or emits is safe for the terminal and for strict JSON parsers.

Account names, subjects, error messages and config keys come from systems and files we do not control.
Two ways they used to break output:

* Rich reads ``[...]`` as markup: a company called ``Acme [/] Ltd`` made ``connector explain`` fail with
  ``MarkupError``, and ``[link=…]`` could dress up a line.  Terminal escape sequences (``ESC [ … m``, OSC 8
  hyperlinks, a ``\\r`` that rewrites the line) were printed raw, so a name could rewrite what the admin
  sees.  :func:`for_terminal` strips control characters and escape sequences, then escapes markup.
* ``json.dumps`` writes ``NaN`` and ``Infinity`` by default, which strict parsers (``jq``, JavaScript,
  PostgreSQL ``json``) reject.  :func:`dumps` writes a non-finite number as ``null`` and refuses to emit
  one at all (``allow_nan=False``) should anything slip past.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from rich.markup import escape

#: CSI (``ESC [ … final``), OSC (``ESC ] … BEL`` or ``ESC \\``) and two-byte ``ESC x`` sequences, then any
#: remaining C0/C1 control character except newline and tab (which tables and messages use as layout).
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Bidirectional overrides and isolates: they reorder what follows on the line (the "Trojan Source" trick).
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def plain(text: str) -> str:
    """``text`` without terminal escape sequences, control characters or bidi overrides."""
    return _BIDI.sub("", _CONTROLS.sub("", _ESCAPES.sub("", text)))


def for_terminal(text: Any) -> str:
    """An external value as Rich markup that shows exactly its printable characters."""
    return escape(plain(str(text)))


def terminal_safe(value: Any, *, markup: bool = True) -> Any:
    """``value`` (dicts, lists, strings) with every string made :func:`for_terminal` — or only :func:`plain`
    with ``markup=False``, for renderers that print with ``markup=False`` or escape cells themselves."""
    if isinstance(value, str):
        return for_terminal(value) if markup else plain(value)
    if isinstance(value, Mapping):
        return {k: terminal_safe(v, markup=markup) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [terminal_safe(v, markup=markup) for v in value]
    return value


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±Infinity) replaced by ``None``, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """Strict JSON: non-finite numbers become ``null``; ``allow_nan=False`` guards what ``default`` returns."""
    return json.dumps(finite(value), allow_nan=False, **kwargs)


_PLAIN = (str, int, float, bool, type(None))
#: What :func:`json_ready` returns unchanged, whatever the value.
_SAME = frozenset({str, int, bool, type(None)})


def json_ready_column(values: list[Any]) -> list[Any]:
    """:func:`json_ready` of each value of a column, made once per distinct date or time and skipped for
    values that are already what it returns (text, whole numbers, finite floats, None)."""
    kinds = set(map(type, values))
    if kinds <= _SAME:
        return values
    if kinds <= _SAME | {float}:
        return [None if type(x) is float and not math.isfinite(x) else x for x in values]
    if kinds <= _SAME | {date, datetime}:
        made: dict[Any, Any] = {}
        return [x if type(x) in _SAME else made[x] if x in made else made.setdefault(x, json_ready(x))
                for x in values]
    return [json_ready(x) for x in values]


def json_ready(value: Any) -> Any:
    """What ``json.loads(dumps(value, default=str))`` returns, without making the text in between for what
    a row of outputs holds: plain scalars (non-finite floats become ``None``), dates and times (their
    ``str``), and dicts with text keys and lists of those.  Anything else takes the round trip itself, so
    the result is the same either way; the score history writes one such row per account per cycle."""
    kind = type(value)
    if kind in _PLAIN:
        return None if kind is float and not math.isfinite(value) else value
    if kind is date or kind is datetime:
        return str(value)
    if kind is dict and all(type(k) is str for k in value):
        return {k: json_ready(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [json_ready(v) for v in value]
    return json.loads(dumps(value, default=str))

