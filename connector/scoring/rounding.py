"""Python's ``round(x, digits)`` over a whole array, value for value.

Why: the engine state keeps its trend sums and contributions rounded (about 60 numbers an account), and
``round`` on each of them, one Python call per number, was most of what saving a million states cost.
``np.round`` is not a drop-in: it rounds ``x * 10**digits`` (already rounded once), so near a half it
can pick the other neighbour, and a state would then differ in its last digit from the one ``round``
wrote before.  Here numpy rounds, and the few values close enough to a half (or too large) for that to
matter are rounded again by Python's ``round`` itself.
"""

from __future__ import annotations

import numpy as np

#: ``x * 10**digits`` is off by at most half an ulp (|y| · 2⁻⁵³) from the exact product; any value whose
#: product lies this close to a half is handed to Python (a margin of 8×).
_DOUBT = 2.0 ** -50
#: Beyond this, products are whole numbers or lose digits; Python rounds those too (none in practice).
_LARGE = 2.0 ** 50


def round_like_python(values: np.ndarray, digits: int) -> np.ndarray:
    """A float64 array equal, element for element and bit for bit, to ``round(float(x), digits)``.

    The division ``k / 10**digits`` is correctly rounded by IEEE 754, and Python's ``round`` returns
    the double nearest to the same decimal ``k·10⁻ᵈ``; so the results agree wherever both pick the same
    ``k``, which is everywhere but the doubtful values re-done below.  NaN and ±inf pass through, as in
    ``round``.
    """
    x = np.asarray(values, dtype=np.float64)
    scale = 10.0 ** digits
    with np.errstate(invalid="ignore", over="ignore"):
        y = x * scale
        out = np.rint(y) / scale
        half_off = np.abs(y - np.floor(y) - 0.5)
        doubtful = np.isfinite(x) & ((half_off <= np.abs(y) * _DOUBT) | ~(np.abs(y) < _LARGE))
    if doubtful.any():
        flat, where = out.reshape(-1), np.flatnonzero(doubtful)
        flat[where] = [round(v, digits) for v in x.reshape(-1)[where].tolist()]
    return out


def round_or_none(values: np.ndarray, digits: int) -> list[float | None]:
    """``None if isnan(x) else round(x, digits)`` for each value of a 1-D array, as Python values."""
    x = np.asarray(values, dtype=np.float64)
    return [None if gone else v for v, gone in
            zip(round_like_python(x, digits).tolist(), np.isnan(x).tolist(), strict=True)]
