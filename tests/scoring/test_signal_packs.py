"""Signal packs: the columns read from packs equal those read from the rows, a pack never outlives the rows
it was made from (every writer clears it; a pack made from replaced rows is not saved), and a pack that
cannot be read is replaced by its rows (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scoring_helpers import make_account
from sqlalchemy import select, update

import connector.scoring.signal_packs as packs_module
from connector.records import Signal
from connector.scoring.conditions import Categorical
from connector.scoring.days import day_number
from connector.scoring.inputs import RowFinder, ScoringInputs, signal_batch
from connector.scoring.signal_packs import SignalLayout, offer_packs, pack_block, read_signals
from connector.scoring.signal_table import SignalTable
from connector.store import Store
from connector.store.schema import SignalPackRow

NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
NAMES = ("active_users", "nps", "plan", "status", "mixed", "tickets_open")
TEXTS = ("active", "past_due", "trialing", "Gold", "gold", "ünïcode ✓", "", "a,b\"c")


def _signals(rng: np.random.Generator, ids: Sequence[str]) -> list[Signal]:
    """Random readings, at most one per (account, name) as the store holds them: numbers (ints, floats, a
    NaN), texts (empty, unicode, quotes), a name that is text for some accounts and a number for others,
    days with a time of day, names some accounts lack, and accounts with no signal at all."""
    out: list[Signal] = []
    for a in ids:
        if rng.random() < 0.1:
            continue
        for name in NAMES:
            if rng.random() < 0.25:
                continue
            when = NOW - timedelta(days=int(rng.integers(0, 40)), seconds=int(rng.integers(0, 86_400)),
                                   microseconds=int(rng.integers(0, 10**6)))
            if name in ("plan", "status") or (name == "mixed" and rng.random() < 0.5):
                value: str | float = str(rng.choice(TEXTS))
            elif rng.random() < 0.3:
                value = int(rng.integers(-5, 500))
            else:
                value = float(rng.normal(50, 30))
            out.append(Signal(a, name, value, when, "src"))
    return out


def _finish(table: SignalTable) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Categorical]]:
    return table.finish(day_number(NOW))


def assert_same_columns(got: SignalTable, want: SignalTable) -> None:
    (gn, ga, gt), (wn, wa, wt) = _finish(got), _finish(want)
    assert list(gn) == list(wn) and list(ga) == list(wa) and list(gt) == list(wt)
    for name in wn:
        assert gn[name].dtype == wn[name].dtype and np.array_equal(gn[name], wn[name], equal_nan=True), name
    for name in wa:
        assert ga[name].dtype == np.float32 and np.array_equal(ga[name], wa[name], equal_nan=True), name
    for name in wt:
        assert gt[name].categories == wt[name].categories, name
        assert gt[name].codes.dtype == np.int32 and np.array_equal(gt[name].codes, wt[name].codes), name


def _table(ids: Sequence[str], signals: list[Signal]) -> SignalTable:
    table = SignalTable(len(ids))
    batch = signal_batch(signals)
    table.offer_rows(batch, RowFinder(np.array(ids, dtype=object))(batch.account_id))
    return table


@pytest.mark.parametrize("seed", range(6))
def test_packs_give_the_columns_their_rows_gave(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = [f"acct-{i:03d}" for i in range(int(rng.integers(1, 60)))]
    table = _table(ids, _signals(rng, ids))
    extra = ("zz_absent_everywhere",) if seed % 2 else ()
    layout = SignalLayout(tuple(sorted((*table.names(), *extra))))
    rows = np.arange(len(ids))
    block = pack_block(table, layout, rows, ids, [None] * len(ids))
    records = list(block.records())
    assert [r[0] for r in records] == ids and all(len(r[2]) == layout.dtype.itemsize for r in records)
    again = SignalTable(len(ids))
    order = rng.permutation(len(ids))  # packs come back in any order
    read = offer_packs(again, layout, order, [records[i][2] for i in order], [records[i][3] for i in order])
    assert read.all()
    assert_same_columns(again, table)


def test_the_table_keeps_the_engines_winner_rule() -> None:
    """Latest day wins; a tie goes to the reading offered later (within a batch and across batches); a
    text replaced by a number leaves no text behind, and the other way round."""
    ids = ["A", "B"]
    t = NOW - timedelta(days=2)
    table = SignalTable(2)
    find = RowFinder(np.array(ids, dtype=object))
    first = signal_batch([Signal("A", "x", 1.0, t, "s"), Signal("A", "x", 2.0, t, "s"),
                          Signal("B", "x", "word", t, "s")])
    table.offer_rows(first, find(first.account_id))
    second = signal_batch([Signal("A", "x", 3.0, t - timedelta(seconds=1), "s"), Signal("B", "x", 5.0, t, "s")])
    table.offer_rows(second, find(second.account_id))
    numeric, _, text = _finish(table)
    assert numeric["x"].tolist() == [2.0, 5.0] and "x" not in text


def _accounts(store: Store, ids: Sequence[str]) -> None:
    store.upsert_accounts([make_account(a) for a in ids])


def _load(store: Store, ids: Sequence[str], only: Sequence[str] | None = None,
          save: bool = True) -> packs_module.SignalRead:
    account_ids = np.array(sorted(only if only is not None else ids), dtype=object)
    read = read_signals(store, account_ids, RowFinder(account_ids), None if only is None else sorted(only))
    if save:
        store.save_signal_packs(read.fresh_blocks(account_ids))
    return read


def _from_rows(ids: Sequence[str], store: Store) -> SignalTable:
    return _table(sorted(ids), list(store.signals()))


def _packed(store: Store) -> dict[str, bool]:
    with store.engine.connect() as conn:
        return {a: p is not None for a, p in conn.execute(select(SignalPackRow.account_id, SignalPackRow.packed))}


def test_a_second_load_reads_packs_and_gives_the_same_columns(any_store: Store,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packs_module, "PACK_BLOCK", 7)  # several blocks, the last one short
    rng = np.random.default_rng(11)
    ids = sorted(f"a{i:02d}" for i in range(40))
    _accounts(any_store, ids)
    any_store.replace_signals(_signals(rng, ids))
    first = _load(any_store, ids)
    assert first.from_rows.tolist() == list(range(len(ids)))  # nothing packed yet: every account's rows
    assert all(_packed(any_store).values()) and len(_packed(any_store)) == len(ids)
    assert_same_columns(first.table, _from_rows(ids, any_store))
    second = _load(any_store, ids)
    assert second.from_rows.size == 0
    assert_same_columns(second.table, _from_rows(ids, any_store))
    some = ids[3:9]
    part = _load(any_store, ids, some)
    assert part.from_rows.size == 0
    assert_same_columns(part.table, _from_rows(some, any_store))


def test_every_write_to_signals_makes_the_accounts_packs_stale(any_store: Store) -> None:
    rng = np.random.default_rng(5)
    ids = sorted(f"a{i:02d}" for i in range(12))
    _accounts(any_store, ids)
    any_store.replace_signals(_signals(rng, ids))
    any_store.replace_signals([Signal(a, "other", 1.0, NOW, "second") for a in ids[:6]])
    _load(any_store, ids)
    any_store.replace_signals([Signal("a01", "nps", 99.0, NOW, "src")])
    any_store.delete_signals("src", ["a02"])
    any_store.delete_signals("second")  # every account with a "second" signal: a00..a05
    stale = {a for a, p in _packed(any_store).items() if not p}
    assert stale == set(ids[:6])
    read = _load(any_store, ids)
    assert sorted(str(ids[r]) for r in read.from_rows) == ids[:6]
    assert_same_columns(read.table, _from_rows(ids, any_store))
    assert all(_packed(any_store).values())
    assert _load(any_store, ids).from_rows.size == 0


def test_a_pack_made_from_rows_a_writer_replaced_is_not_saved(any_store: Store) -> None:
    """The rows are read, a writer changes them (and, for a00, makes its first pack row), then the packs
    are saved: the two accounts' packs are not, and the next load reads their new rows."""
    ids = ["a00", "a01", "a02"]
    _accounts(any_store, ids)
    any_store.replace_signals([Signal(a, "nps", 1.0, NOW - timedelta(days=1), "src") for a in ids[1:]])
    account_ids = np.array(ids, dtype=object)
    _load(any_store, ids)  # a01, a02 packed; a00 has no signal, its empty pack is saved too
    any_store.replace_signals([Signal("a01", "nps", 1.0, NOW, "src")])  # stale, rev bumped
    any_store.delete_signals("nowhere")  # a no-op for every pack
    read = read_signals(any_store, account_ids, RowFinder(account_ids), None)
    assert read.from_rows.tolist() == [1]
    any_store.replace_signals([Signal("a01", "nps", 7.0, NOW, "src")])  # after the rows were read
    any_store.save_signal_packs(read.fresh_blocks(account_ids))
    assert _packed(any_store)["a01"] is False
    again = _load(any_store, ids)
    assert again.from_rows.tolist() == [1]
    numeric, _, _ = again.table.finish(day_number(NOW))
    assert numeric["nps"].tolist()[1] == 7.0


def test_a_pack_for_an_account_without_a_pack_row_is_not_saved_over_a_writers_row(any_store: Store) -> None:
    ids = ["a00"]
    _accounts(any_store, ids)
    account_ids = np.array(ids, dtype=object)
    read = read_signals(any_store, account_ids, RowFinder(account_ids), None)  # no pack row, no signal
    any_store.replace_signals([Signal("a00", "nps", 3.0, NOW, "src")])  # makes the pack row, stale
    any_store.save_signal_packs(read.fresh_blocks(account_ids))
    assert _packed(any_store) == {"a00": False}
    numeric, _, _ = _load(any_store, ids).table.finish(day_number(NOW))
    assert numeric["nps"].tolist() == [3.0]


@pytest.mark.parametrize("damage", ["bytes", "texts", "layout", "version"])
def test_a_pack_that_cannot_be_read_is_replaced_by_its_rows(any_store: Store, damage: str) -> None:
    rng = np.random.default_rng(3)
    ids = sorted(f"a{i:02d}" for i in range(10))
    _accounts(any_store, ids)
    any_store.replace_signals([replace(s, value="active") if s.name == "status" else s
                               for s in _signals(rng, ids)] + [Signal(a, "status", "x", NOW, "src") for a in ids[:1]])
    _load(any_store, ids)
    t = SignalPackRow
    with any_store.engine.begin() as conn:
        if damage == "bytes":
            conn.execute(update(t).where(t.account_id == "a00").values(packed=b"\x00" * 5))
        elif damage == "texts":
            conn.execute(update(t).where(t.account_id == "a00").values(texts='["one", "two", "three"]'))
        elif damage == "layout":
            conn.execute(update(t).where(t.account_id == "a00").values(layout="0000000000000000"))
    if damage == "version":
        for key in any_store.signal_layouts():
            any_store.set_meta(f"scoring.signal_layout.{key}", '{"version": 999, "names": []}')
    read = _load(any_store, ids, save=False)
    expected = ["a00"] if damage != "version" else ids
    assert [str(ids[r]) for r in read.from_rows] == expected
    assert_same_columns(read.table, _from_rows(ids, any_store))


def test_scoring_inputs_from_packs_equal_those_from_records(store: Store) -> None:
    rng = np.random.default_rng(8)
    ids = sorted(f"a{i:02d}" for i in range(30))
    accounts = [make_account(a) for a in ids]
    store.upsert_accounts(accounts)
    signals = _signals(rng, ids)
    store.replace_signals(signals)
    _load(store, ids)
    account_ids = np.array(ids, dtype=object)
    read = _load(store, ids)
    assert read.from_rows.size == 0
    got = ScoringInputs.from_columns(store.account_columns(), read.table, [], {}, NOW)
    want = ScoringInputs.from_records(accounts, list(store.signals()), {}, {}, NOW)
    assert set(got.numeric) == set(want.numeric) and set(got.text) == set(want.text)
    for name in want.numeric:
        assert np.array_equal(got.numeric[name], want.numeric[name], equal_nan=True), name
    for name in want.ages:
        assert np.array_equal(got.ages[name], want.ages[name], equal_nan=True), name
    for name in want.text:
        assert got.text[name].categories == want.text[name].categories
        assert np.array_equal(got.text[name].codes, want.text[name].codes)
    assert list(got.account_ids) == list(account_ids)
