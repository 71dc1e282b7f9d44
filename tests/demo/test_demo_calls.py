"""The calls-vs-minimum arithmetic the demo prints."""

from __future__ import annotations

from connector.demo_calls import tally
from connector.sandbox.core import LedgerEntry


def _entry(method: str, path: str, records: int | None) -> LedgerEntry:
    return LedgerEntry(method, path, 200, records, 0.0)


def test_batch_writes_count_against_ceil_of_records_over_the_batch_size() -> None:
    result = tally({"hubspot": [_entry("POST", "/crm/v3/objects/companies/batch/update", 60)] * 3})
    calls = result.systems["hubspot"]
    assert (calls.used, calls.write_calls, calls.write_records, calls.covered_minimum) == (3, 3, 180, 2)


def test_a_read_stream_needs_one_call_even_when_nothing_changed() -> None:
    result = tally({"zendesk": [_entry("GET", "/api/v2/incremental/tickets/cursor.json?cursor=x", 0),
                                _entry("GET", "/api/v2/incremental/organizations.json?start_time=1", 0)]})
    assert result.systems["zendesk"].covered_minimum == 2


def test_calls_without_a_fixed_size_are_other_not_minimum() -> None:
    result = tally({"salesforce": [_entry("POST", "/services/oauth2/token", None),
                                   _entry("GET", "/services/data/v59.0/query/", None),
                                   _entry("PATCH", "/services/data/v59.0/composite/sobjects", 450),
                                   _entry("PATCH", "/services/data/v59.0/composite/sobjects", 10)]})
    calls = result.systems["salesforce"]
    assert (calls.other, calls.covered_used, calls.covered_minimum) == (2, 2, 3)
    assert result.used == 4 and result.covered_minimum == 3
