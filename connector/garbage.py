"""Keep Python's cyclic garbage collector from re-reading what a sync keeps for its whole life.

A full scoring pass makes millions of short-lived containers (row tuples from the store, state and output
dicts).  With CPython's default thresholds (700, 10, 10) every 700 of them start a young collection, and
every hundredth a full one that walks *every* tracked object, the hundreds of thousands that importing
numpy, SQLAlchemy, pydantic and the rest left behind included.  Measured on the stage benchmark's full pass at 100k
accounts: 37.3 s of CPU, 27.1 s with the collector off, and 27.8 s with the two settings below.

- :func:`freeze_startup_objects`: ``gc.freeze()`` once, after a collection, moves every object alive at
  the first run's start (modules, config, model) out of the collector's sight: they live as long as the
  process.  This is the use the Python documentation gives it; frozen objects are still freed by
  reference counting.
- :func:`wide_young_generation`: 50,000 allocations between young collections instead of 700, only while
  the scoring stage runs.  Reference cycles still get collected, later.  Not for the whole sync: the pull
  and the write make HTTP objects with cycles, and left to wait for rarer full collections they added
  ~13 MB to a 100k first sync's peak (505 MB against a 500 MB target); the scoring stage makes few cycles.
Reference counting, which frees almost everything a sync makes, is untouched.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

#: Allocations (net of frees) between young collections while scoring; CPython's default is 700.
YOUNG_GENERATION = 50_000


@cache
def freeze_startup_objects() -> int:
    """Collect, then freeze what is alive; once per process.  Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@contextmanager
def wide_young_generation() -> Iterator[None]:
    """Young collections every :data:`YOUNG_GENERATION` allocations inside the block; the thresholds as
    they were after it (also on an exception)."""
    before = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
