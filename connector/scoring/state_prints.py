"""Which accounts' engine states a run leaves as they were, so their rows are not written again.

Why: a full pass saved every account's packed state, about 1.3 KB each, although a re-score the same day
with nothing new (``sync --full``, a cycle after a configuration change) makes the very same rows: at a
million accounts 1.3 GB written, and checkpointed, for nothing.  A cycle should cost what changed.

A *print* is Python's ``hash`` of what a stored row reads back as: its layout key, its bytes except the
``trend_day`` column, and its plan text.  ``trend_day`` is the run's timestamp; every reader takes only
its day (:func:`connector.scoring.trend.carry` floors it, the others ask whether it is NaN), and that day
is also the row's ``scored_date``, which the print covers.  So equal prints mean the stored row reads
back exactly as the new one would.  Prints are taken as the rows are read (:meth:`StatePrints.tap`) and
again as the new rows are made (:meth:`StatePrints.changed`), in the same process: ``hash`` is salted
per process and a print is never stored.  An account without a readable stored row is always written.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

import numpy as np

from connector.scoring.inputs import RowFinder
from connector.scoring.packed_state import HEAD_COLUMNS, PackedBlock

#: Byte offsets of the ``trend_day`` and ``scored_date`` columns in a stored row (little-endian float64).
_SKIP = slice(HEAD_COLUMNS.index("trend_day") * 8, HEAD_COLUMNS.index("trend_day") * 8 + 8)
_SCORED = slice(HEAD_COLUMNS.index("scored_date") * 8, HEAD_COLUMNS.index("scored_date") * 8 + 8)
_DAY = struct.Struct("<d")


def state_print(layout_key: str, data: bytes, plan: str | None) -> int:
    """The print of one stored row (see the module docstring)."""
    return hash((layout_key, data[:_SKIP.start], data[_SKIP.stop:], plan))


class StatePrints:
    """The prints of the stored rows of the accounts a run scores (rows as its :class:`RowFinder` numbers
    them): made empty, started by the load that reads the rows.  Only rows saved the run's own day are
    printed: a row of an earlier day changes anyway (the trend takes the day's point, ``scored_date``
    moves), so the day's first pass hashes nothing."""

    def __init__(self) -> None:
        self._find: RowFinder | None = None
        self._today = 0.0
        self._prints = np.zeros(0, np.int64)
        self._known = np.zeros(0, bool)

    def start(self, find: RowFinder, n: int, today: float) -> None:
        """Number the accounts as ``find`` does (``n`` of them); ``today``: the run's day number."""
        self._find = find
        self._today = float(np.floor(today))
        self._prints = np.zeros(n, np.int64)
        self._known = np.zeros(n, bool)

    def tap(self, batches: Iterable[Sequence[tuple[str, str, bytes, str | None]]]
            ) -> Iterator[Sequence[tuple[str, str, bytes, str | None]]]:
        """Pass :meth:`Store.packed_state_rows` batches through, keeping the print of each row saved today."""
        if self._find is None:
            raise RuntimeError("StatePrints.tap before start")
        for batch in batches:
            today = [row for row in batch if len(row[2]) >= _SCORED.stop
                     and _DAY.unpack_from(row[2], _SCORED.start)[0] == self._today]
            if today:
                rows = self._find(np.array([account for account, _, _, _ in today], object))
                prints = np.fromiter((state_print(key, data, plan) for _, key, data, plan in today), np.int64,
                                     count=len(today))
                ours = rows >= 0
                self._prints[rows[ours]] = prints[ours]
                self._known[rows[ours]] = True
            yield batch

    def changed(self, blocks: Iterable[PackedBlock]) -> Iterator[PackedBlock]:
        """Each block of a result's states (in row order from row 0, as
        :meth:`ScoringResult.packed_states` makes them) without the rows whose print is the stored one's."""
        start = 0
        for block in blocks:
            stop = start + len(block.account_ids)
            known = self._known[start:stop] if stop <= self._known.shape[0] else np.zeros(stop - start, bool)
            if not known.any():  # nothing stored today (or rows the load never numbered): all written
                start = stop
                yield block
                continue
            keep = ~known
            records = list(block.records())
            at = np.flatnonzero(known)
            prints = np.fromiter((state_print(block.layout_key, records[i][1], records[i][2]) for i in at.tolist()),
                                 np.int64, count=at.shape[0])
            keep[at] = prints != self._prints[start + at]
            start = stop
            if keep.all():
                yield block
            elif keep.any():
                at = np.flatnonzero(keep)
                yield replace(block, account_ids=[block.account_ids[i] for i in at.tolist()], rows=block.rows[at],
                              plans=[block.plans[i] for i in at.tolist()])
