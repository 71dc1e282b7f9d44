"""Packed engine states through the store (SQLite and PostgreSQL): saved in one transaction with their
layouts, read back as they were made, mixed with an upgraded store's JSON states, and unreadable rows left
out rather than misread."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
from state_worlds import assert_same_previous, from_packed, world

import connector.scoring.result as result_module
from connector.scoring.inputs import _previous_columns
from connector.scoring.named_layout import UnderLayout
from connector.scoring.packed_state import STEP, WTY, WY, PackedBlock, StateLayout, packed_parts
from connector.scoring.previous import PreviousState, previous_from_json
from connector.store import Store
from connector.store.store import STATE_LAYOUT_META


def _read(store: Store, n_ids: list[str], today: object, ids: list[str] | None = None) -> PreviousState:
    row = {a: i for i, a in enumerate(n_ids)}
    return _previous_columns(row, len(n_ids), store.states_stream(ids), today,  # type: ignore[arg-type]
                             packed_parts(store.packed_state_rows(ids), store.state_layouts(), today))  # type: ignore[arg-type]


def test_saved_packed_states_read_back_as_made(any_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(result_module, "_PACK_BLOCK", 5)  # several blocks, the last one short
    result = world(6, 5)
    ids = [str(a) for a in result.inputs.account_ids]
    assert any_store.save_packed_states(result.packed_states(), {"scoring.day_facts": "{}"}) == len(ids)
    assert any_store.meta("scoring.day_facts") == "{}"
    assert list(any_store.state_layouts()) == [result.state_layout.key]
    for today in (result.now.date(), result.now.date() + timedelta(days=1)):
        assert_same_previous(_read(any_store, ids, today), from_packed(result, today))
    some = ids[::4]
    part = _read(any_store, some, result.now.date(), some)
    assert_same_previous(part, from_packed(result, result.now.date()).take(np.arange(0, len(ids), 4)))


def test_an_upgraded_store_reads_json_states_until_packed_ones_replace_them(
        any_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(result_module, "_PACK_BLOCK", 4)
    result = world(5, 6)
    ids = [str(a) for a in result.inputs.account_ids]
    saved = json.loads(json.dumps([result.state_at(row) for row in range(result.inputs.n)]))
    any_store.save_states(zip(ids, saved, strict=True))  # what an earlier version left
    odd = [b for i, b in enumerate(result.packed_states()) if i % 2]
    packed_ids = {a for b in odd for a in b.account_ids}
    assert any_store.save_packed_states(iter(odd)) == len(packed_ids) > 0
    assert set(any_store.load_states()) == set(ids) - packed_ids  # each packed account's JSON row is gone
    for today in (result.now.date(), result.now.date() + timedelta(days=1)):
        assert_same_previous(_read(any_store, ids, today), previous_from_json(saved, today))


class _Cut(UnderLayout):
    """The first two accounts of ``block`` with their stored bytes cut short by one number."""

    def __init__(self, block: PackedBlock):
        self.block, self.layout = block, block.layout

    def records(self) -> Iterator[tuple[str, bytes, str | None]]:
        for account, data, plan in list(self.block.records())[:2]:
            yield account, data[:-8], plan


def test_rows_of_an_unknown_layout_or_the_wrong_size_are_left_out(any_store: Store) -> None:
    result = world(3, 7)
    ids = [str(a) for a in result.inputs.account_ids]
    blocks = list(result.packed_states())
    good = blocks[0]
    with pytest.raises(ValueError, match="do not fit"):
        list(PackedBlock(good.account_ids[:2], good.layout, good.rows[:2, :-1], good.plans[:2]).records())
    any_store.save_packed_states(blocks)
    any_store.save_packed_states([_Cut(good)])  # two accounts' rows cut short: unreadable, not misread
    got = _read(any_store, ids, result.now.date())
    assert np.isnan(got.magnitude[:2]).all() and (got.plays.step[:, :2] == -1).all()
    assert not np.isnan(got.magnitude[2:]).all()
    any_store.set_meta(f"{STATE_LAYOUT_META}{good.layout.key}", '{"version": 99}')  # a future layout
    assert np.isnan(_read(any_store, ids, result.now.date()).magnitude).all()


def test_a_failed_save_leaves_the_earlier_states(any_store: Store) -> None:
    result = world(2, 8)
    ids = [str(a) for a in result.inputs.account_ids]
    any_store.save_packed_states(result.packed_states())
    before = list(any_store.packed_state_rows())
    later = world(3, 8)

    def failing() -> Iterator[PackedBlock]:
        yield from later.packed_states()
        raise RuntimeError("crash mid-save")

    with pytest.raises(RuntimeError):
        any_store.save_packed_states(failing(), {"scoring.day_facts": "later"})
    assert list(any_store.packed_state_rows()) == before and any_store.meta("scoring.day_facts") is None
    assert len(before[0]) == len(ids)


def _relaid(block: PackedBlock, layout: StateLayout) -> PackedBlock:
    """``block``'s rows under another layout, each column moved by name (new names empty)."""
    rows = np.full((block.rows.shape[0], layout.width), np.nan)
    old = block.layout
    names = [("head", None), ("c", "contributions"), ("c", "contributions"), ("c", "contributions"),
             ("m", "milestones"), ("p", "plays"), ("p", "plays"), ("p", "plays"), ("p", "plays")]
    for part, (_, attr) in enumerate(names):
        src, dst = old.part(part), layout.part(part)
        if attr is None:
            rows[:, dst] = block.rows[:, src]
            continue
        empty = -1.0 if part == STEP else 0.0 if part in (WY, WTY) else np.nan
        rows[:, dst] = empty
        for j, name in enumerate(getattr(layout, attr)):
            if name in getattr(old, attr):
                rows[:, dst.start + j] = block.rows[:, src.start + getattr(old, attr).index(name)]
    return PackedBlock(block.account_ids, layout, rows, block.plans)


def test_rows_of_two_layouts_read_by_name(any_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a model change (an input added, a play dropped) old rows keep their layout until re-saved."""
    monkeypatch.setattr(result_module, "_PACK_BLOCK", 6)
    result = world(5, 9)
    ids = [str(a) for a in result.inputs.account_ids]
    old = result.state_layout
    new = StateLayout.of((*old.contributions, "zz_new_input"), old.milestones, old.plays[1:])
    blocks = list(result.packed_states())
    any_store.save_packed_states(b if i % 2 else _relaid(b, new) for i, b in enumerate(blocks))
    assert set(any_store.state_layouts()) == {old.key, new.key}
    got = _read(any_store, ids, result.now.date())
    want = from_packed(result, result.now.date())
    dropped = old.plays[0]
    moved = [i for i, b in enumerate(blocks) if not i % 2]
    rows = np.concatenate([np.arange(blocks[i].rows.shape[0]) + sum(b.rows.shape[0] for b in blocks[:i])
                           for i in moved])
    want.plays.first[old.plays.index(dropped), rows] = np.nan  # the re-laid rows lost the dropped play
    want.plays.step[old.plays.index(dropped), rows] = -1
    want.plays.last[old.plays.index(dropped), rows] = np.nan
    want.plays.cleared[old.plays.index(dropped), rows] = np.nan
    assert_same_previous(got, want)
