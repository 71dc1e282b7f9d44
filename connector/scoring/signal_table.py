"""The engine's signal columns, built by offering readings a batch at a time: one dense slot per name.

Why: the scoring stage used to gather every signal row of every account (27 per account: 27 million at
1M accounts) into flat arrays and sort them all at once to find each (account, name)'s winner.  Here each
batch's winners are written straight into per-name columns (the winning day, number and text code of every
account), so memory is the columns' (``accounts × names``), not the rows', and readings can come from
anywhere — the store's signal rows, an account's packed signals (:mod:`connector.scoring.signal_packs`),
the connector's own task ledger — in any mix.

The rule is the one the engine always had (:meth:`ScoringInputs.from_records`): for each (account, name) the
latest ``as_of`` wins, and a tie goes to the reading offered later.  A batch's own winner is found first
(sorted by name, account, day, position), then it replaces the slot's where its day is not earlier: a
batch's winner against all earlier batches' is the same as the winner over every reading at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from connector.scoring.conditions import Categorical
from connector.scoring.days import days_ago
from connector.store.columns import SignalColumns


@dataclass
class _Slot:
    """One name's winners: day (-inf = none yet), number (NaN where none or text), text code (-1: not text)."""

    when: np.ndarray
    number: np.ndarray
    text: np.ndarray | None = None


@dataclass
class SignalTable:
    """Each account's winning reading of each signal name so far, ``n`` accounts (rows ``0..n-1``)."""

    n: int
    slots: dict[str, _Slot] = field(default_factory=dict)
    #: Every text value offered, once each, with its code (first-seen order; categories are sorted at the end).
    texts: dict[str, int] = field(default_factory=dict)

    def _slot(self, name: str) -> _Slot:
        slot = self.slots.get(name)
        if slot is None:
            slot = self.slots[name] = _Slot(np.full(self.n, -np.inf), np.full(self.n, np.nan))
        return slot

    def text_codes(self, values: Sequence[str]) -> np.ndarray:
        """A code per text value, adding unseen ones (few distinct: plans, statuses)."""
        known = self.texts
        return np.fromiter((known.setdefault(v, len(known)) for v in values), np.int32, count=len(values))

    def offer(self, name: str, rows: np.ndarray, when: np.ndarray, number: np.ndarray,
              text: np.ndarray | None = None) -> None:
        """Readings of ``name`` for distinct ``rows``: each replaces the slot's unless its day is earlier.
        ``number`` is NaN and ``text`` a code (>= 0) where the reading is text; ``text`` None: all numbers."""
        slot = self._slot(name)
        take = when >= slot.when[rows]
        if not take.all():
            rows, when, number = rows[take], when[take], number[take]
            text = None if text is None else text[take]
        slot.when[rows] = when
        slot.number[rows] = number
        if text is not None and (text >= 0).any():
            if slot.text is None:
                slot.text = np.full(self.n, -1, np.int32)
            slot.text[rows] = text
        elif slot.text is not None:
            slot.text[rows] = -1

    def offer_rows(self, batch: SignalColumns, rows: np.ndarray) -> None:
        """A batch of signal rows (``rows``: each one's account row, -1 = not scored), in order: within the
        batch the latest day wins and a tie goes to the later row, as across batches."""
        keep = (rows >= 0) & batch.has_value
        if not keep.any():
            return
        row, when = rows[keep], batch.as_of[keep]
        names = batch.name[keep]
        name_codes: dict[str, int] = {}
        code = np.fromiter((name_codes.setdefault(v, len(name_codes)) for v in names), np.int32, count=names.shape[0])
        is_text = batch.has_text[keep]
        number = np.where(is_text, np.nan, batch.value_num[keep])
        text = np.full(row.shape[0], -1, np.int32)
        if is_text.any():
            text[is_text] = self.text_codes(batch.value_text[keep][is_text].tolist())
        order = np.lexsort((np.arange(row.shape[0]), when, row, code))
        last = np.ones(order.shape[0], bool)
        last[:-1] = (code[order][1:] != code[order][:-1]) | (row[order][1:] != row[order][:-1])
        won = order[last]  # each (name, row)'s winner within the batch, grouped by name
        bounds = np.searchsorted(code[won], np.arange(len(name_codes) + 1))
        for name, c in name_codes.items():
            part = won[bounds[c]:bounds[c + 1]]
            codes = text[part]
            self.offer(name, row[part], when[part], number[part], codes if (codes >= 0).any() else None)

    def names(self) -> list[str]:
        return sorted(self.slots)

    def finish(self, now_day: float
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Categorical]]:
        """Per name (sorted): ages (float32 days, NaN where no reading), the numeric column if any winner is
        a number, the text column if any winner is text (categories in value order, as
        :meth:`Categorical.from_values`).  The slots are let go as their columns are made."""
        numeric: dict[str, np.ndarray] = {}
        ages: dict[str, np.ndarray] = {}
        text: dict[str, Categorical] = {}
        by_code = list(self.texts)
        for name in self.names():
            slot = self.slots.pop(name)
            held = slot.when > -np.inf
            age = np.full(self.n, np.nan)
            age[held] = days_ago(now_day, slot.when[held])
            ages[name] = age.astype(np.float32)
            is_text = slot.text >= 0 if slot.text is not None else np.zeros(self.n, bool)
            if (held & ~is_text).any():
                numeric[name] = slot.number  # NaN where no reading and where the winner is text
            if slot.text is not None and is_text.any():
                used = np.unique(slot.text[is_text]).tolist()
                used.sort(key=lambda c: by_code[c])
                remap = np.full(len(by_code), -1, np.int32)
                remap[used] = np.arange(len(used), dtype=np.int32)
                codes = np.full(self.n, -1, np.int32)
                codes[is_text] = remap[slot.text[is_text]]
                text[name] = Categorical(codes, tuple(by_code[c] for c in used))
        return numeric, ages, text

