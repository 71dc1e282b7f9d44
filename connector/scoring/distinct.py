"""A scalar function over a column, called once per distinct value.

Why: a block of accounts takes few distinct values in many columns (a run's days, stages, bands, flag
sets), and the exact Python form of each (a date, a label, a day through an ISO round trip) is made by
scalar code the block paths must agree with; calling it once per distinct value keeps that code the only
definition at a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def per_distinct(keys: np.ndarray, make: Callable[[Any], Any]) -> list[Any]:
    """``make(key)`` for each element of the 1-D array ``keys``, called once per distinct key (NaNs are one
    key), as a list in ``keys``' order."""
    if keys.size == 0:
        return []
    distinct, where = np.unique(keys, return_inverse=True)
    made = [make(k) for k in distinct.tolist()]
    return [made[i] for i in where.reshape(-1).tolist()]
