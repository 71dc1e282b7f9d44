"""Numbers from external systems, parsed strictly.

Python's ``float()`` accepts much more than a number field should hold: ``"1_000"``, ``"١٢٣"`` (any
Unicode digit), ``" inf "``, ``"nan"``, ``"1e400"`` (infinity), and JSON parsers turn ``1e400`` into
``inf`` too.  A non-finite value then poisons every ratio and sum it enters (the probe's ``1e300`` users
over ``1e-300`` seats made seat utilisation infinite, and ``explain --json`` emitted ``Infinity``), so
sources parse numbers here and quarantine what is refused, with the reason.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

#: A plain decimal in ASCII: optional sign, digits with an optional point, optional short exponent.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?", re.ASCII)
#: Larger than any count, amount or ratio a customer record holds; keeps sums and products finite.
LIMIT = 1e15


def parse_number(value: Any) -> float:
    """``value`` as a finite float within ±:data:`LIMIT`; :class:`ValueError` saying why otherwise."""
    if isinstance(value, bool):
        raise ValueError("is a boolean, not a number")
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 64 or _DECIMAL.fullmatch(text) is None:
            raise ValueError("is not a number")  # e.g. "1_000", "١٢٣", "inf", "0x1A"
        number = float(text)
    elif isinstance(value, int | float | Decimal):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError("is too large to be a number here") from None
    else:
        raise ValueError("is not a number")
    if not math.isfinite(number):
        raise ValueError("is not a finite number")
    if abs(number) > LIMIT:
        raise ValueError(f"is {number:.3g}, beyond the plausible ±{LIMIT:.0e}")
    return number


def is_plain_number(value: Any) -> bool:
    """An int or float from a JSON API (not a bool, not text) that :func:`parse_number` accepts."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        parse_number(value)
    except ValueError:
        return False
    return True
