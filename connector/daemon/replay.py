"""Replay protection: signatures and event ids seen within the signature tolerance window.

A signature older than the tolerance is refused by its timestamp anyway, so remembering each verified
signature for twice the tolerance (clock skew both ways) closes the replay window completely; memory stays
bounded by the legitimate traffic of that window, because only *verified* requests are remembered — a
forger cannot fill the cache.  Event ids are remembered for the same window so a vendor's redelivery of
an event already accepted is acknowledged without being processed twice.

The cache is per process.  Behind a load balancer a redelivery may reach another instance; that costs one
extra targeted re-score, which is idempotent (writes are diffed against the last written values and tasks
are deduplicated by the task ledger), never a duplicate write.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class ReplayGuard:
    def __init__(self, window_seconds: float, clock: Callable[[], float] = time.monotonic, max_entries: int = 200_000):
        self.window, self._clock, self._max = window_seconds, clock, max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        """Remember ``key``; ``True`` if it was not seen within the window (atomic check-and-set)."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True

    def _expire(self, now: float) -> None:
        while self._seen:
            at = next(iter(self._seen.values()))
            if now - at <= self.window and len(self._seen) < self._max:
                return
            self._seen.popitem(last=False)
