"""The outputs table the sinks read once the scoring result is let go: the same outputs, held compactly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from connector.records import AccountOutput
from connector.scoring.output_table import OutputTable

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _output(i: int, **fields: object) -> AccountOutput:
    base: dict[str, object] = {"success_vector": 50.0 + i, "vector_direction": "up", "vector_confidence": 1,
                               "next_milestone_due": date(2026, 12, 1), "priority_band": f"P{1 + i % 3}",
                               "vector_drivers": f"drivers of {i}", "vector_updated_at": NOW}
    base.update(fields)
    return AccountOutput(f"a{i}", base, owner_id=f"u{i % 2}", domain=f"d{i}.com", name=f"Name {i}")


def test_reads_back_what_was_added_with_types_and_order_kept() -> None:
    added = [_output(0), _output(1, success_vector=None, vector_confidence=1.0),
             _output(2, success_vector=-0.0, vector_confidence=True), _output(3, next_milestone_due=None)]
    table = OutputTable.of(added)
    assert len(table) == 4
    assert list(table) == added
    assert table[-1] == added[-1] and table[1:3] == added[1:3]
    for got, want in zip(table, added, strict=True):  # 1, 1.0 and True are equal but not the same value
        assert [(k, type(v), repr(v)) for k, v in got.fields.items()] == \
               [(k, type(v), repr(v)) for k, v in want.fields.items()]
    with pytest.raises(IndexError):
        table[4]


def test_repeated_texts_and_dates_are_kept_once() -> None:
    table = OutputTable.of(_output(i, priority_band="".join(["P", str(1 + i % 3)]),
                                   next_milestone_due=date(2026, 12, 1 + i % 2)) for i in range(30))
    bands = {id(o.fields["priority_band"]) for o in table}
    dues = {id(o.fields["next_milestone_due"]) for o in table}
    assert len(bands) == 3 and len(dues) == 2


def test_a_read_cannot_change_the_table() -> None:
    table = OutputTable.of([_output(0)])
    first = table[0]
    with pytest.raises(TypeError):
        first.fields["success_vector"] = 0.0  # type: ignore[index]
    copy = dict(first.fields)
    copy["success_vector"] = 0.0
    assert table[0].fields["success_vector"] == 50.0


def test_outputs_with_other_fields_are_refused() -> None:
    table = OutputTable.of([_output(0)])
    with pytest.raises(ValueError, match="a1"):
        table.add(AccountOutput("a1", {"success_vector": 1.0}))


def test_a_result_for_outputs_makes_the_same_outputs_and_no_state() -> None:
    """The sync saves the states, then makes the outputs from a result without what only states read."""
    from scoring_helpers import HEALTHY, NOW, run

    risky = {**HEALTHY, "payment_failed_count_30d": 2, "tickets_urgent_open": 3}
    first = run({"A": HEALTHY, "B": risky, "C": {}})
    later = run({"A": HEALTHY, "B": risky, "C": {}}, now=NOW + timedelta(days=9),
                state={a: first.state_for(a) for a in "ABC"})
    slim = later.for_outputs()
    assert [o.fields for o in slim.outputs()] == [o.fields for o in later.outputs()]
    assert any(o.fields["vector_drivers"] for o in slim.outputs())
    with pytest.raises(IndexError):
        slim.state_for("A")


def test_a_row_reads_as_a_mapping_of_its_fields() -> None:
    """The fields of a row are read from the columns when asked: a read-only mapping equal to the dict
    it was added as, in the same order, with ``get``, ``in`` and a copy by ``{**…}`` as a dict has them;
    to the second, a date and time loses its microseconds and nothing else changes."""
    added = _output(5, vector_updated_at=NOW.replace(microsecond=123456))
    row = OutputTable.of([added])[0]
    assert row.fields == added.fields and dict(row.fields) == dict(added.fields)
    assert list(row.fields) == list(added.fields) and len(row.fields) == len(added.fields)
    assert "success_vector" in row.fields and "nope" not in row.fields
    assert row.fields.get("nope") is None and row.fields.get("nope", 7) == 7
    with pytest.raises(KeyError):
        row.fields["nope"]
    assert {**row.fields, "success_vector": 1.0}["success_vector"] == 1.0
    assert repr(row.fields) == repr(dict(added.fields))
    seconds = row.fields.to_the_second()  # type: ignore[attr-defined]
    assert seconds["vector_updated_at"] == NOW and row.fields["vector_updated_at"].microsecond == 123456
    assert {k: v for k, v in seconds.items() if k != "vector_updated_at"} == \
        {k: v for k, v in added.fields.items() if k != "vector_updated_at"}
    assert row.origin is not None and row.origin[1] == 0


def test_the_salesforce_sink_prepares_a_row_as_it_prepares_a_dict() -> None:
    from connector.sinks.salesforce import SalesforceSink

    added = _output(2, vector_updated_at=NOW.replace(microsecond=999999))
    row = OutputTable.of([added])[0]
    prepare = SalesforceSink.prepare
    assert dict(prepare(None, row).fields) == dict(prepare(None, added).fields)  # type: ignore[arg-type]
    assert prepare(None, row).fields["vector_updated_at"] == NOW  # type: ignore[arg-type]
