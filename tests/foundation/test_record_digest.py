"""The diff's digest fast path sends exactly what the full diff sends, round after round, whatever was
confirmed, held back for drift or written by another path in between — and an unchanged pass reads no
record's written values (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

import pytest

from connector.mappings import FieldMapping
from connector.mappings import Mapping as FieldMap
from connector.records import AccountOutput
from connector.sinks import base
from connector.sinks.base import _NOTHING, _diff_record, apply_drift, stream_changes, volatile_fields
from connector.sinks.record_digest import RecordDigest
from connector.store import Store

SYSTEM, OBJECT = "salesforce", "Account"
MAPPING = FieldMap(fields={
    "success_vector": FieldMapping(name="Score__c", type="number", label="Score"),
    "vector_confidence": FieldMapping(name="Confidence__c", type="percent", label="Confidence"),
    "ttfv_days": FieldMapping(name="TTFV__c", type="integer", label="TTFV"),
    "next_milestone_due": FieldMapping(name="Due__c", type="date", label="Due"),
    "risk_flags": FieldMapping(name="Flags__c", type="text", label="Flags"),
    "vector_drivers": FieldMapping(name="Drivers__c", type="textarea", label="Drivers"),
    "vector_updated_at": FieldMapping(name="Updated__c", type="datetime", label="Updated"),
})
#: Values that repeat, collide as dict keys (1 == 1.0 == True, 0.0 == -0.0), are empty or null, or differ
#: only after formatting (71.04 and 71.0 send 71.0).
POOLS: dict[str, list[Any]] = {
    "success_vector": [None, 0.0, -0.0, 71.0, 71.04, 71, 72.5, 1, True],
    "vector_confidence": [None, 80, 80.0, 79.6, 93],
    "ttfv_days": [None, 0, 12, 12.0],
    "next_milestone_due": [None, date(2026, 12, 1), "2026-12-01", date(2027, 1, 5)],
    "risk_flags": [None, "", "payment_failed", "payment_failed;renewal_due", 1],
    "vector_drivers": [None, "", "Adoption up 4 pts", "Adoption up 4 pts" + "x" * 300, "ü \"q\" —"],
}


def _outputs(rng: random.Random, records: int, stamp: datetime) -> list[tuple[str, AccountOutput]]:
    out = []
    for i in range(records):
        fields: dict[str, Any] = {k: rng.choice(pool) for k, pool in POOLS.items()}
        if rng.random() < 0.1:  # an output the mapping maps but this account lacks
            del fields[rng.choice(list(POOLS))]
        fields["vector_updated_at"] = stamp
        out.append((f"001{i:04d}", AccountOutput(account_id=f"a{i}", fields=fields)))
    return out


def _full_diff(store: Store, targets: list[tuple[str, AccountOutput]]) -> dict[str, tuple[Any, Any]]:
    """What the diff sent before digests: every record against its written values."""
    last = store.written_records(SYSTEM, OBJECT, [r for r, _ in targets])
    fields, volatile = tuple(MAPPING.fields.items()), volatile_fields(MAPPING)
    changes = (_diff_record(r, o, fields, last.get(r, _NOTHING), volatile) for r, o in targets)
    return {c.record_id: (c.values, c.old) for c in changes if c is not None}


@pytest.mark.parametrize("seed", range(4))
def test_the_fast_path_sends_what_the_full_diff_sends(any_store: Store, seed: int) -> None:
    rng = random.Random(seed)
    kept: list[tuple[str, AccountOutput]] = []
    for round_ in range(12):
        stamp = datetime(2026, 11, 1, 9, round_, tzinfo=UTC)
        fresh = _outputs(rng, 60, stamp)
        # Most records keep last round's outputs (the quiet case the digest skips), some change.
        targets = fresh if not kept else [new if rng.random() < 0.3 else (r, AccountOutput(
            account_id=o.account_id, fields={**o.fields, "vector_updated_at": stamp}))
            for (r, o), new in zip(kept, fresh, strict=True)]
        kept = targets
        expected = _full_diff(any_store, targets)
        changes = list(stream_changes(any_store, SYSTEM, OBJECT, MAPPING, targets, window=7, settle=True))
        assert {c.record_id: (c.values, c.old) for c in changes} == expected, f"round {round_}"
        # The CRM's answer: most confirmed whole, some held back for a person's edit, some refused.
        live = {c.record_id: {name: "edited by a person" for name in list(c.written)[:1]} for c in changes
                if rng.random() < 0.2}
        sent, _drift = apply_drift(SYSTEM, OBJECT, MAPPING, changes, live)
        ok = [c for c in sent if rng.random() < 0.85]
        bases = {c.record_id: c.base for c in ok if c.base is not None} if round_ % 2 else None  # as a sink
        any_store.record_written(SYSTEM, OBJECT, [(c.record_id, f, v) for c in ok for f, v in c.values.items()],
                                 round_, digests={c.record_id: c.digest for c in ok if c.digest is not None},
                                 bases=bases)
        if rng.random() < 0.5:  # another write path (a repair, an older version) changes a settled record
            record_id = rng.choice(targets)[0]
            any_store.record_written(SYSTEM, OBJECT, [(record_id, "Score__c", rng.choice([None, 5, 71.0]))], round_)


def test_an_unchanged_pass_diffs_no_record(any_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    targets = _outputs(random.Random(1), 50, datetime(2026, 11, 1, 9, tzinfo=UTC))
    changes = list(stream_changes(any_store, SYSTEM, OBJECT, MAPPING, targets, settle=True))
    assert changes
    any_store.record_written(SYSTEM, OBJECT, [(c.record_id, f, v) for c in changes for f, v in c.values.items()],
                             1, digests={c.record_id: c.digest for c in changes if c.digest is not None})
    diffed: list[str] = []
    monkeypatch.setattr(base, "_diff_record", lambda record_id, *a: diffed.append(record_id))
    later = [(r, AccountOutput(account_id=o.account_id, fields={**o.fields, "vector_updated_at": datetime(
        2026, 11, 2, tzinfo=UTC)})) for r, o in targets]
    assert list(stream_changes(any_store, SYSTEM, OBJECT, MAPPING, later, settle=True)) == []
    # Records left with nothing to send (every value null: never written) were settled on the first pass.
    assert diffed == []
    changed = [later[0], (later[1][0], AccountOutput(account_id="a1", fields={**later[1][1].fields,
                                                                              "risk_flags": "new flag"}))]
    list(stream_changes(any_store, SYSTEM, OBJECT, MAPPING, changed, settle=True))
    assert diffed == [later[1][0]]


def test_a_dry_run_settles_nothing(any_store: Store) -> None:
    targets = [("001A", AccountOutput(account_id="a", fields={"success_vector": None, "risk_flags": None}))]
    assert list(stream_changes(any_store, SYSTEM, OBJECT, MAPPING, targets)) == []
    assert any_store.written_texts(SYSTEM, OBJECT, ["001A"]) == {}
    assert list(stream_changes(any_store, SYSTEM, OBJECT, MAPPING, targets, settle=True)) == []
    assert [d is not None for d, _ in any_store.written_texts(SYSTEM, OBJECT, ["001A"]).values()] == [True]
    assert any_store.written_records(SYSTEM, OBJECT) == {"001A": {}}  # a row to hold the digest, no value


def test_the_digest_changes_with_the_mapping_and_not_with_volatile_values() -> None:
    fields = {"success_vector": 71.0, "risk_flags": "", "vector_updated_at": datetime(2026, 11, 1, tzinfo=UTC)}
    digest = RecordDigest(MAPPING)
    assert digest.of(fields) == digest.of({**fields, "vector_updated_at": datetime(2026, 11, 2, tzinfo=UTC)})
    assert digest.of(fields) != digest.of({**fields, "risk_flags": None})  # what is sent differs
    assert digest.of(fields) == digest.of({**fields, "success_vector": 71.04})  # sent as 71.0 either way
    retyped = FieldMap(fields={**MAPPING.fields, "success_vector": FieldMapping(name="Score__c", type="integer",
                                                                                  label="Score")})
    renamed = FieldMap(fields={**MAPPING.fields, "risk_flags": FieldMapping(name="Risk__c", type="text",
                                                                              label="Flags")})
    assert len({digest.of(fields), RecordDigest(retyped).of(fields), RecordDigest(renamed).of(fields)}) == 3


@pytest.mark.parametrize("kind", ["number", "percent", "integer", "text"])
def test_a_digest_made_from_cached_values_is_the_one_made_afresh(kind: str) -> None:
    """Floats are cached by value for number fields (0.0 and -0.0 are one key, and both are sent as 0):
    whatever the cache saw first, each record's digest is the one a new digest makes for it alone."""
    mapping = FieldMap(fields={"success_vector": FieldMapping(name="Score__c", type=kind, label="Score"),
                               "cost_to_serve": FieldMapping(name="Cost__c", type=kind, label="Cost",
                                                             step=None if kind == "text" else 0.5)})
    values = [0.0, -0.0, 71.04, 71.0, 71, 1e-9, -1e-9, 2.5, 2.49999, True, float("inf"), -0.0, 0.0]
    shared = RecordDigest(mapping)
    rng = random.Random(3)
    for _ in range(200):
        fields = {"success_vector": rng.choice(values), "cost_to_serve": rng.choice(values)}
        try:
            fresh = RecordDigest(mapping).of(fields)
        except (OverflowError, ValueError):  # an integer field cannot send infinity: neither digest is made
            with pytest.raises((OverflowError, ValueError)):
                shared.of(fields)
            continue
        assert shared.of(fields) == fresh, fields
    text = RecordDigest(FieldMap(fields={"success_vector": FieldMapping(name="S__c", type="text", label="S")}))
    assert text.of({"success_vector": 0.0}) != text.of({"success_vector": -0.0})  # "0.0" and "-0.0" are sent


@pytest.mark.parametrize("seed", range(3))
def test_digests_made_a_column_at_a_time_are_the_per_record_ones(seed: int) -> None:
    """Every value of the pools (keys that collide, empty and null, long texts), a column some rows or all
    lack, in any order: ``of_columns`` gives each row the digest ``of`` gives it."""
    rng = random.Random(seed)
    # texts alone, one over its field's cap (a column of texts and nulls is cut at once), or with a number
    pools = {**POOLS, "risk_flags": [None, "", "payment_failed", "f" * 300] + [1] * (seed == 2)}
    rows = [{k: rng.choice(pool) for k, pool in pools.items()} for _ in range(300)]
    columns: dict[str, list[Any]] = {k: [r[k] for r in rows] for k in POOLS if k != "ttfv_days"}
    digest = RecordDigest(MAPPING)
    fresh = [RecordDigest(MAPPING).of({k: c[i] for k, c in columns.items()}) for i in range(len(rows))]
    assert digest.of_columns(columns, len(rows)) == fresh
    assert [digest.of({k: c[i] for k, c in columns.items()}) for i in range(len(rows))] == fresh  # cache shared
    stamped = {**columns, "vector_updated_at": [datetime(2026, 11, 1, 9, 0, 0, 5, tzinfo=UTC)] * len(rows)}
    assert digest.of_columns(stamped, len(rows)) == fresh  # a volatile field is not digested
    timed = {**columns, "next_milestone_due": [datetime(2026, 11, 1, 9, tzinfo=UTC)] * len(rows)}
    assert digest.of_columns(timed, len(rows)) is None  # a date and time a sink may trim: row by row


def test_a_diff_of_an_output_table_sends_what_a_diff_of_its_rows_sends(any_store: Store) -> None:
    """Outputs read from an output table carry their row (``origin``); their digests come from the table's
    columns, block by block, and the diff sends exactly what it sends for the same outputs without one."""
    from dataclasses import replace

    from connector.scoring import output_table
    from connector.scoring.output_table import OutputTable

    rng = random.Random(5)
    stamp = datetime(2026, 11, 1, 9, 0, 0, 123456, tzinfo=UTC)
    keys = [*POOLS, "vector_updated_at"]
    table = OutputTable()
    for round_ in range(3):
        rows = [{k: rng.choice(pool) for k, pool in POOLS.items()} for _ in range(50)]
        columns = {k: [r.get(k) for r in rows] for k in POOLS}
        table = OutputTable()
        table.extend([f"a{i}" for i in range(50)], {**columns, "vector_updated_at": [stamp] * 50}, [None] * 50,
                     [None] * 50, [None] * 50)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(output_table, "DIGEST_BLOCK", 7)  # many blocks, one alive per digest
            targets = [(f"001{i:04d}", o) for i, o in enumerate(table)]
            assert all(o.origin is not None and list(o.fields) == keys for _, o in targets)
            plain = [(r, replace(o, origin=None)) for r, o in targets]
            expected = {c.record_id: (c.values, c.digest) for c in stream_changes(any_store, SYSTEM, OBJECT,
                                                                                  MAPPING, plain, window=9)}
            patch.setattr(RecordDigest, "of", lambda *a: pytest.fail("a table's output digested row by row"))
            made = list(stream_changes(any_store, SYSTEM, OBJECT, MAPPING, targets, window=9, settle=True))
            assert {c.record_id: (c.values, c.digest) for c in made} == expected, round_
        any_store.record_written(SYSTEM, OBJECT, [(c.record_id, f, v) for c in made for f, v in c.values.items()],
                                 round_, digests={c.record_id: c.digest for c in made if c.digest is not None})
