"""Which accounts' score-history point today already holds, so a re-score does not append it again.

Why: every scored account got a point per run, its outputs as JSON (about 740 bytes), although a re-score
the same day with nothing new (``sync --full``, a cycle after a configuration change) makes the very
point the day's first pass wrote: 0.7 GB appended at a million accounts, to be read back by every later
load's history window, for nothing.  Readers lose nothing without it: the trend reads each day's last
point (the earlier one is equal), a backtest reads the changes between consecutive points (there is
none), and the latest point still says what the account's outputs are.

A point's *digest* (``score_history.digest``, migration 0010) is the BLAKE2b of its outputs' JSON text
with the run's stamp (``vector_updated_at``) blanked: the other point columns (magnitude, velocity,
direction, confidence, quadrant) are outputs too.  The load reads each account's last point of each day
(:meth:`Store.history_columns`); :meth:`PointPrints.tap` keeps the digest of today's, and
:meth:`PointPrints.already` says which new points equal it.  A point without a digest (written before
migration 0010) is never equal: the first re-score after the upgrade writes its points once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np

from connector.scoring.inputs import RowFinder
from connector.store.columns import HistoryColumns

#: A digest as kept in memory: its 32 hex characters as bytes (b"" where an account has none today).
_DIGEST = np.dtype("S32")
#: The output whose value is the run's stamp: blanked before a point is digested.
STAMP = "vector_updated_at"


def point_text(outputs: dict[str, Any]) -> str:
    """The JSON text a point's outputs are stored as (what the JSON column's own serializer writes)."""
    return json.dumps(outputs)


def point_digest(text: str, stamp: datetime | str | None) -> str:
    """The digest of a point's stored text (see the module docstring); ``stamp``: its ``STAMP`` value."""
    blanked = text.replace(*_stamp_entries(stamp.isoformat() if isinstance(stamp, datetime) else stamp), 1)
    return hashlib.blake2b(blanked.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@lru_cache(maxsize=16)
def _stamp_entries(value: str | None) -> tuple[str, str]:
    """The stamp's entry in a point's text, and the blank it is replaced with (a run has one stamp)."""
    return json.dumps({STAMP: value})[1:-1], json.dumps({STAMP: None})[1:-1]


class PointPrints:
    """The digests of today's last points of the accounts a run scores (rows as its :class:`RowFinder`
    numbers them): made empty, started by the load that reads the history."""

    def __init__(self) -> None:
        self._find: RowFinder | None = None
        self._today = 0.0
        self._digests = np.zeros(0, _DIGEST)

    def start(self, find: RowFinder, n: int, today: float) -> None:
        """Number the accounts as ``find`` does (``n`` of them); ``today``: the run's day number."""
        self._find = find
        self._today = float(np.floor(today))
        self._digests = np.zeros(n, _DIGEST)  # 32 bytes an account, not a Python string

    def tap(self, batches: Iterable[HistoryColumns]) -> Iterator[HistoryColumns]:
        """Pass :meth:`Store.history_columns` batches through, keeping the digest of each account's last
        point of today."""
        for batch in batches:
            if self._find is not None and batch.digest is not None:
                today = np.flatnonzero(np.floor(batch.scored_at) == self._today)
                today = today[batch.digest[today] != None]  # noqa: E711  (points from before migration 0010)
                if today.size:
                    rows = self._find(batch.account_id[today])
                    ours = rows >= 0
                    self._digests[rows[ours]] = np.array(batch.digest[today[ours]].tolist(), _DIGEST)
            yield batch

    def already(self, row: int, digest: str) -> bool:
        """Whether today's last point of account ``row`` has this digest (its new point adds nothing)."""
        return row < self._digests.shape[0] and self._digests[row] == digest.encode()
