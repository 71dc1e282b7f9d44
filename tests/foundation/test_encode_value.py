"""``encode_value``'s fast paths write exactly what ``json.dumps`` wrote: written values recorded by an
earlier version must still compare equal, or every field would look changed after an upgrade."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.store.store import encode_value


def _as_before(value: Any) -> str | None:
    """The encoding as it was written before the fast paths (one ``json.dumps`` for every non-text)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (datetime,)) or hasattr(value, "isoformat"):
        return str(value.isoformat())
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if not isinstance(value, str) else value


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                 st.text(), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(), st.floats(), max_size=3)))
def test_same_text_as_json_dumps(value: Any) -> None:
    assert encode_value(value) == _as_before(value)


def test_edges() -> None:
    for value in (0.1, -0.0, 1e16, 1e-7, 2.0**53, 1e300, float("nan"), float("-inf"), True, False, 10**30,
                  np.float64(2.5), np.float64(3.0), date(2026, 11, 30),
                  datetime(2026, 11, 30, 9, tzinfo=UTC), "", "1.0"):
        assert encode_value(value) == _as_before(value), value
