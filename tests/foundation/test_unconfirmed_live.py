"""A value an earlier read saw is trusted as live only when it agrees with what we last wrote."""

from __future__ import annotations

from connector.sinks.base import RecordChange, unconfirmed


def change(record_id: str, written: str | None) -> RecordChange:
    return RecordChange(record_id, f"acc-{record_id}", {"f": "new"}, {"f": written}, {"f": written}, {"f": "new"})


def test_a_replica_value_that_disagrees_with_our_last_write_is_read_again() -> None:
    batch = [change("a", "1.0"), change("b", "1.0"), change("c", None), change("d", "x")]
    live = {"a": {"f": "1.0"}, "b": {"f": "0.5"}, "c": {"f": ""}}  # "d" was not in the replica at all
    # a agrees; b may predate our write (or be a person's edit): confirm it; '' and null are one value.
    assert unconfirmed(batch, live) == ["b"]
