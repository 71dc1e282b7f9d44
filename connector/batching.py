"""Cut a stream into lists of at most ``size`` items: the one way every layer batches.

Sinks fill API batches from filtered streams (a batch fills across windows, so a sparse sync still
sends full batches), the store writes and reads in chunks bounded by a driver's parameter budget, and
the scoring inputs read engine state a chunk at a time.  ``itertools.batched`` arrives with Python 3.12
(and yields tuples); this is it for 3.11, yielding lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last may be shorter), pulled lazily from ``items``."""
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch
