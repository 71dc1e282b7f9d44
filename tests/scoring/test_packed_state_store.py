"""Packed engine states through the store (SQLite and PostgreSQL): saved in one transaction with their
layouts, read back as they were made, mixed with an upgraded store's JSON states, and unreadable rows left
out rather than misread."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pytest
from test_packed_state import _assert_same, _from_packed, _world

import connector.scoring.result as result_module
from connector.scoring.inputs import _previous_columns
from connector.scoring.packed_state import PackedBlock, packed_parts
from connector.scoring.previous import PreviousState, previous_from_json
from connector.store import Store
from connector.store.store import STATE_LAYOUT_META


def _read(store: Store, n_ids: list[str], today: object, ids: list[str] | None = None) -> PreviousState:
    row = {a: i for i, a in enumerate(n_ids)}
    return _previous_columns(row, len(n_ids), store.states_stream(ids), today,  # type: ignore[arg-type]
                             packed_parts(store.packed_state_rows(ids), store.state_layouts(), today))  # type: ignore[arg-type]


def test_saved_packed_states_read_back_as_made(any_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(result_module, "_PACK_BLOCK", 5)  # several blocks, the last one short
    result = _world(6, 5)
    ids = [str(a) for a in result.inputs.account_ids]
    assert any_store.save_packed_states(result.packed_states(), {"scoring.day_facts": "{}"}) == len(ids)
    assert any_store.meta("scoring.day_facts") == "{}"
    assert list(any_store.state_layouts()) == [result.state_layout.key]
    for today in (result.now.date(), result.now.date() + timedelta(days=1)):
        _assert_same(_read(any_store, ids, today), _from_packed(result, today))
    some = ids[::4]
    part = _read(any_store, some, result.now.date(), some)
    _assert_same(part, _from_packed(result, result.now.date()).take(np.arange(0, len(ids), 4)))


def test_an_upgraded_store_reads_json_states_until_packed_ones_replace_them(
        any_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(result_module, "_PACK_BLOCK", 4)
    result = _world(5, 6)
    ids = [str(a) for a in result.inputs.account_ids]
    saved = json.loads(json.dumps([result.state_at(row) for row in range(result.inputs.n)]))
    any_store.save_states(zip(ids, saved, strict=True))  # what an earlier version left
    odd = [b for i, b in enumerate(result.packed_states()) if i % 2]
    packed_ids = {a for b in odd for a in b.account_ids}
    assert any_store.save_packed_states(iter(odd)) == len(packed_ids) > 0
    assert set(any_store.load_states()) == set(ids) - packed_ids  # each packed account's JSON row is gone
    for today in (result.now.date(), result.now.date() + timedelta(days=1)):
        _assert_same(_read(any_store, ids, today), previous_from_json(saved, today))


@dataclass
class _Cut:
    """The first two accounts of ``block`` with their stored bytes cut short by one number."""

    block: PackedBlock

    @property
    def layout_key(self) -> str:
        return self.block.layout_key

    @property
    def layout_json(self) -> str:
        return self.block.layout_json

    def records(self) -> Iterator[tuple[str, bytes, str | None]]:
        for account, data, plan in list(self.block.records())[:2]:
            yield account, data[:-8], plan


def test_rows_of_an_unknown_layout_or_the_wrong_size_are_left_out(any_store: Store) -> None:
    result = _world(3, 7)
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
    result = _world(2, 8)
    ids = [str(a) for a in result.inputs.account_ids]
    any_store.save_packed_states(result.packed_states())
    before = list(any_store.packed_state_rows())
    later = _world(3, 8)

    def failing() -> Iterator[PackedBlock]:
        yield from later.packed_states()
        raise RuntimeError("crash mid-save")

    with pytest.raises(RuntimeError):
        any_store.save_packed_states(failing(), {"scoring.day_facts": "later"})
    assert list(any_store.packed_state_rows()) == before and any_store.meta("scoring.day_facts") is None
    assert len(before[0]) == len(ids)
