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


def per_distinct_row(keys: np.ndarray, make: Callable[[int], Any]) -> list[Any]:
    """``make(i)`` for each row ``i`` of the 2-D array ``keys``, called for the first row of each distinct
    key row and shared by the rows that equal it: for scalar code that reads several columns of a row,
    where ``keys`` holds everything that code reads from it (no NaN: equal keys must read as equal)."""
    if keys.shape[0] == 0:
        return []
    _, first, where = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    made = [make(i) for i in first.tolist()]
    return [made[k] for k in where.reshape(-1).tolist()]
