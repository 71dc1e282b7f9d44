"""Each account's signals packed in one row: what the scoring stage reads instead of the signal rows.

Why: a daily full pass scores every account, and reading its signals was reading 27 rows per account (27
million at 1M accounts, about 70 s of a 90 s load) — a tuple and a few strings per row, then a sort to
find each (account, name)'s winner.  Those rows change for few accounts a day (a source's new readings),
so the stage keeps, per account, the winners it read last time as one row of numbers (``signal_packs``)
and reads the rows again only for the accounts whose signals were written since.

A **pack** is a record under a named layout (the signal names, sorted; saved once in ``store_meta``): per
name the number (float64), the ``as_of`` day number (float64, exactly what the rows gave) and a kind byte
(0 none, 1 number, 2 text).  A text value's number is its index in the row's ``texts``, a JSON list kept
beside the bytes.  Reading a batch joins its rows' bytes into one structured array and offers each name's
column to the :class:`~connector.scoring.signal_table.SignalTable` at once: no object per signal.

Staleness is the store's job (:meth:`Store.save_signal_packs`): every write to an account's signal rows
clears its pack and bumps a revision in the same transaction, and a pack is saved only against the
revision read before its rows, so a pack never outlives the rows it was made from.  A pack that cannot be
read (another layout version, a wrong length, a text list that does not fit) counts as stale: the rows
are read.  ``tests/scoring/test_signal_packs.py`` checks that the columns from packs equal those from rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from connector.scoring.named_layout import UnderLayout, layout_json, layout_key, layout_parts
from connector.scoring.signal_table import SignalTable

if TYPE_CHECKING:
    from connector.store import Store

#: Bumped when the meaning of a pack changes: packs of another version are not read (their rows are).
LAYOUT_VERSION = 1
#: Accounts per saved block (one transaction each).
PACK_BLOCK = 2048
#: Above this share of accounts without a pack, a full pass reads every signal row (one sequential scan)
#: rather than looking the accounts up by id.
SCAN_SHARE = 0.25
_NUMBER, _TEXT = 1, 2


@dataclass(frozen=True)
class SignalLayout:
    """The signal names behind a pack's columns, sorted."""

    names: tuple[str, ...]

    def to_json(self) -> str:
        return layout_json(LAYOUT_VERSION, {"names": self.names})

    @classmethod
    def from_json(cls, raw: str | None) -> SignalLayout | None:
        """The saved layout, or None when absent, unreadable or of another version (its packs are stale)."""
        parts = layout_parts(raw, LAYOUT_VERSION, ("names",))
        return None if parts is None else cls(*parts)

    @cached_property
    def key(self) -> str:
        return layout_key(self.to_json())

    @cached_property
    def dtype(self) -> np.dtype:
        """One pack: numbers, days, kinds — little-endian whatever the machine, so a store moves between them."""
        k = len(self.names)
        return np.dtype([("number", "<f8", (k,)), ("when", "<f8", (k,)), ("kind", "u1", (k,))])


@dataclass(frozen=True)
class PackBlock(UnderLayout):
    """Packs of some accounts under one layout, as :meth:`Store.save_signal_packs` saves them."""

    layout: SignalLayout
    account_ids: Sequence[str]
    revs: Sequence[int | None]
    packs: np.ndarray  # structured, layout.dtype
    texts: Sequence[str | None]

    def records(self) -> Iterable[tuple[str, int | None, bytes, str | None]]:
        data, size = self.packs.tobytes(), self.layout.dtype.itemsize
        for i, account_id in enumerate(self.account_ids):
            yield account_id, self.revs[i], data[i * size:(i + 1) * size], self.texts[i]


def pack_block(table: SignalTable, layout: SignalLayout, rows: np.ndarray, account_ids: Sequence[str],
               revs: Sequence[int | None]) -> PackBlock:
    """The packs of ``rows`` of ``table`` (their winners so far) under ``layout`` (names the table lacks
    are "none")."""
    m, k = rows.shape[0], len(layout.names)
    packs = np.zeros(m, layout.dtype)
    number, when, kind = packs["number"], packs["when"], packs["kind"]
    text_code = np.full((m, k), -1, np.int32)
    for j, name in enumerate(layout.names):
        slot = table.slots.get(name)
        if slot is None:
            when[:, j] = np.nan
            continue
        w = slot.when[rows]
        held = w > -np.inf
        when[:, j] = np.where(held, w, np.nan)
        number[:, j] = slot.number[rows]
        kind[:, j] = np.where(held, _NUMBER, 0)
        if slot.text is not None:
            codes = slot.text[rows]
            text_code[:, j] = codes
            kind[codes >= 0, j] = _TEXT
    is_text = kind == _TEXT
    # A text value's number is its index among the row's text values, in name order.
    number[is_text] = (np.cumsum(is_text, axis=1) - 1)[is_text]
    by_code = list(table.texts)
    texts: list[str | None] = [None] * m
    made: dict[bytes, str] = {}
    for i in np.flatnonzero(is_text.any(axis=1)).tolist():
        codes = text_code[i][is_text[i]]
        key = codes.tobytes()
        if (found := made.get(key)) is None:
            found = made[key] = json.dumps([by_code[c] for c in codes.tolist()], ensure_ascii=False,
                                           separators=(",", ":"))
        texts[i] = found
    return PackBlock(layout, account_ids, revs, packs, texts)


def offer_packs(table: SignalTable, layout: SignalLayout, rows: np.ndarray, blobs: Sequence[bytes],
                texts: Sequence[str | None]) -> np.ndarray:
    """Offer the packs of ``rows`` (all of ``layout``) to ``table``; returns which rows were read (a pack
    of the wrong length or whose text values do not fit is not: its rows must be read instead)."""
    size = layout.dtype.itemsize
    ok = np.fromiter(map(len, blobs), np.intp, count=len(blobs)) == size
    good = np.flatnonzero(ok)
    if not good.size or not size:  # no pack fits, or packs of no signal at all (nothing to offer)
        return ok
    packs = np.frombuffer(b"".join([blobs[i] for i in good.tolist()]), layout.dtype)
    kind = packs["kind"]
    is_text = kind == _TEXT
    wanted = is_text.sum(axis=1)
    # Text lists repeat (a status, a plan): each distinct one is parsed and coded once.
    distinct: dict[str | None, int] = {}
    which = np.fromiter((distinct.setdefault(texts[i], len(distinct)) for i in good.tolist()), np.intp,
                        count=good.shape[0])
    parsed = [_text_list(raw) for raw in distinct]
    length = np.array([-1 if values is None else len(values) for values in parsed], np.intp)
    fits = length[which] == wanted
    ok[good[~fits]] = False
    codes = table.text_codes([v for values in parsed if values is not None for v in values])
    offset = np.concatenate(([0], np.cumsum(np.maximum(length, 0))[:-1])).astype(np.intp)
    at = rows[good]
    for j, name in enumerate(layout.names):
        present = (kind[:, j] > 0) & fits
        if not present.any():
            continue
        number = packs["number"][present, j]  # a copy: the joined bytes are read-only
        text = None
        here = is_text[present, j]
        if here.any():
            index = number[here].astype(np.intp)
            text = np.full(number.shape[0], -1, np.int32)
            text[here] = codes[offset[which[present][here]] + index]
            number[here] = np.nan
        table.offer(name, at[present], packs["when"][present, j], number, text)
    return ok


def _text_list(raw: str | None) -> list[str] | None:
    """A pack's text values, or None when they are not a JSON list of texts."""
    try:
        values = json.loads(raw) if raw is not None else []
    except ValueError:
        return None
    return values if isinstance(values, list) and all(isinstance(v, str) for v in values) else None


@dataclass
class SignalRead:
    """Where each account's signals came from in one load: its pack, or its rows (with the ``rev`` read
    before them, None where it had no pack row) — those are the packs to save."""

    table: SignalTable
    from_rows: np.ndarray  # rows whose signals were read from the signal rows
    revs: list[int | None]

    def fresh_blocks(self, account_ids: np.ndarray, block: int = PACK_BLOCK) -> Iterator[PackBlock]:
        """The packs of the accounts read from rows, a block at a time (made as they are saved)."""
        layout = SignalLayout(tuple(self.table.names()))
        for start in range(0, self.from_rows.shape[0], block):
            rows = self.from_rows[start:start + block]
            yield pack_block(self.table, layout, rows, account_ids[rows].tolist(), self.revs[start:start + block])


def read_signals(store: Store, account_ids: np.ndarray, find: Callable[[np.ndarray], np.ndarray],
                 only: Sequence[str] | None
                 ) -> SignalRead:
    """Every scored account's signals: from its pack where it has a current one, else from its rows.

    ``account_ids`` are the scored accounts (row order), ``find`` maps ids to rows (-1: not scored),
    ``only`` the ids the load was asked for (None: every account).  Packs are read first — their ``rev``
    must be read before the rows a fresh pack is made from."""
    n = account_ids.shape[0]
    table = SignalTable(n)
    layouts = {k: SignalLayout.from_json(v) for k, v in store.signal_layouts().items()}
    packed = np.zeros(n, bool)
    rev = np.full(n, -1, np.int64)  # the pack row's rev, read before any row; -1: no pack row
    for batch in store.signal_pack_rows(only):
        ids, revs, keys, blobs, texts = zip(*batch, strict=True)
        rows = find(np.array(ids, dtype=object))
        hit = rows >= 0
        rev[rows[hit]] = np.array(revs, np.int64)[hit]
        usable = hit & np.fromiter((b is not None for b in blobs), bool, count=len(blobs))
        for key in set(keys):
            layout = layouts.get(key) if key is not None else None
            if layout is None:
                continue
            picked = np.flatnonzero(usable & np.fromiter((k == key for k in keys), bool, count=len(keys)))
            if not picked.size:
                continue
            at = rows[picked]
            read = offer_packs(table, layout, at, [blobs[i] for i in picked.tolist()],
                               [texts[i] for i in picked.tolist()])
            packed[at[read]] = True
    from_rows = np.flatnonzero(~packed)
    if from_rows.shape[0]:
        scan = only is None and from_rows.shape[0] > SCAN_SHARE * n
        for columns in store.signal_columns(None if scan else account_ids[from_rows].tolist()):
            rows = find(columns.account_id)
            hit = rows >= 0
            hit[hit] = ~packed[rows[hit]]  # an account read from its pack: its rows are not offered again
            table.offer_rows(columns, np.where(hit, rows, -1))
    return SignalRead(table, from_rows, [None if r < 0 else r for r in rev[from_rows].tolist()])

