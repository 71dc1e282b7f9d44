"""``round_like_python`` is Python's ``round``, bit for bit, on whole arrays (the engine state's numbers)."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.scoring.rounding import round_like_python


def _bits(values: list[float]) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=50), st.integers(0, 8))
def test_equals_round_on_any_float(values: list[float], digits: int) -> None:
    got = round_like_python(np.array(values), digits).tolist()
    assert _bits(got) == _bits([round(v, digits) for v in values])


def test_halves_where_numpy_round_picks_the_other_neighbour() -> None:
    """Values whose scaled product lands on (or next to) a half: ``np.round`` disagrees with ``round`` on
    some of them, which is the case this function exists for."""
    rng = np.random.default_rng(3)
    for digits in (3, 4, 5, 6):
        k = rng.integers(-10**7, 10**7, 20000)
        near = (k + 0.5) / 10.0 ** digits  # the double nearest a half, just above or below it
        values = np.concatenate([near, np.nextafter(near, np.inf), np.nextafter(near, -np.inf)])
        expected = [round(v, digits) for v in values.tolist()]
        assert _bits(round_like_python(values, digits).tolist()) == _bits(expected)
        assert _bits(np.round(values, digits).tolist()) != _bits(expected)  # the trap is real


def test_keeps_shape_and_signed_zero() -> None:
    values = np.array([[-0.0001, 2.675], [1e300, -1e-300]])
    out = round_like_python(values, 3)
    assert out.shape == (2, 2)
    assert _bits(out.reshape(-1).tolist()) == _bits([round(v, 3) for v in values.reshape(-1).tolist()])
    assert str(out[0, 0]) == "-0.0"
