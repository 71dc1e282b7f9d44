"""Usage source: CSV, Parquet and SQL inputs, column mapping, derived ratios, quarantine, unchanged files."""

from __future__ import annotations

import csv
import os
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text

from connector.config import Config, config_from_dict
from connector.http import HttpLayer
from connector.records import Observation, Quarantined
from connector.sources.base import SourceContext
from connector.sources.usage import UsageSource, UsageSourceError
from connector.store import Store

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HEADER = ["account_key", "as_of", "active_users", "licensed_seats", "features_adopted", "key_features_total",
          "meaningful_events_30d"]


def _config(tmp_path: Path, **usage: Any) -> Config:
    return config_from_dict({"salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False},
                             "usage": usage}, tmp_path / "connector.toml")


def _pull(config: Config, store: Store, *, full: bool = False) -> tuple[dict[str, Observation], list[Quarantined]]:
    items = list(UsageSource(config).pull(SourceContext(store, HttpLayer(), config, NOW, full)))
    return ({i.entity_id: i for i in items if isinstance(i, Observation)},
            [i for i in items if isinstance(i, Quarantined)])


def _write_csv(path: Path, rows: list[list[Any]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


GOOD = "2026-11-01T00:00:00+00:00"


def test_csv_rows_become_observations_with_derived_ratios_and_bad_rows_are_quarantined(
        tmp_path: Path, store: Store) -> None:
    _write_csv(tmp_path / "usage.csv", [
        ["001A", GOOD, 8, 10, 6, 12, 140],
        ["001B", "2026-11-01T00:00:00", 5, "", 3, 12, ""],  # naive timestamp → UTC; empty cells → None
        ["", GOOD, 1, 1, 1, 1, 1],
        ["001D", GOOD, "lots", 10, 1, 12, 1],
        ["001E", GOOD, -2, 10, 1, 12, 1],
        ["001F", "2026-11-05T00:00:00+00:00", 1, 10, 1, 12, 1],
        ["001G", "yesterday", 1, 10, 1, 12, 1],
        ["001H", GOOD, 3, 0, 0, 0, 0],  # zero seats: no ratio rather than a division by zero
    ])
    obs, bad = _pull(_config(tmp_path, kind="csv", path="usage.csv"), store)
    assert set(obs) == {"001A", "001B", "001H"}
    a = obs["001A"]
    assert a.keys.crm_id == "001A" and a.as_of == datetime(2026, 11, 1, tzinfo=UTC)
    assert dict(a.signals) == {"active_users": 8.0, "licensed_seats": 10.0, "features_adopted": 6.0,
                               "key_features_total": 12.0, "meaningful_events_30d": 140.0,
                               "seat_utilisation": 0.8, "feature_breadth": 0.5}
    b = obs["001B"]
    assert b.as_of.tzinfo is UTC and b.signals["licensed_seats"] is None and "seat_utilisation" not in b.signals
    assert "seat_utilisation" not in obs["001H"].signals
    reasons = sorted(q.reason for q in bad)
    assert reasons == [
        "row 3: column 'account_key' (the account key) is empty",
        "row 4: column 'active_users' value 'lots' is not a number",
        "row 5: column 'active_users' value '-2' is negative",
        "row 6: column 'as_of' is 2026-11-05T00:00:00+00:00, more than a day in the future",
        "row 7: column 'as_of' value 'yesterday' is not an ISO-8601 timestamp",
    ]
    assert {q.entity_id for q in bad} == {None, "001D", "001E", "001F", "001G"}


def test_columns_are_mapped_by_config_and_keys_can_be_domains(tmp_path: Path, store: Store) -> None:
    _write_csv(tmp_path / "u.csv", [["WWW.Acme.example", "2026-10-31", 40, 50]],
               header=["site", "day", "weekly_active", "seats"])
    config = _config(tmp_path, kind="csv", path="u.csv", account_key_column="site", account_key_kind="domain",
                     as_of_column="day", signals=[{"column": "weekly_active", "signal": "active_users"},
                                                  {"column": "seats", "signal": "licensed_seats"}])
    obs, bad = _pull(config, store)
    acme = obs["acme.example"]
    assert not bad and acme.keys.domain == "acme.example" and acme.keys.crm_id is None
    assert dict(acme.signals) == {"active_users": 40.0, "licensed_seats": 50.0, "seat_utilisation": 0.8}


def test_missing_column_is_a_clear_error(tmp_path: Path, store: Store) -> None:
    _write_csv(tmp_path / "u.csv", [["001A", GOOD]], header=["account_key", "as_of"])
    with pytest.raises(UsageSourceError, match=r"no column 'active_users'.*columns: account_key, as_of"):
        _pull(_config(tmp_path, kind="csv", path="u.csv"), store)


def test_unchanged_file_is_not_read_again(tmp_path: Path, store: Store) -> None:
    path = _write_csv(tmp_path / "usage.csv", [["001A", GOOD, 8, 10, 6, 12, 140]])
    config = _config(tmp_path, kind="csv", path="usage.csv")
    assert len(_pull(config, store)[0]) == 1
    assert _pull(config, store) == ({}, [])
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))  # touched, same bytes
    assert _pull(config, store) == ({}, [])
    assert len(_pull(config, store, full=True)[0]) == 1
    _write_csv(path, [["001A", GOOD, 9, 10, 6, 12, 140]])
    assert _pull(config, store)[0]["001A"].signals["active_users"] == 9.0


def test_parquet_is_read_in_batches(tmp_path: Path, store: Store) -> None:
    n = 250
    table = pa.table({
        "account_key": [f"001{i:04d}" for i in range(n)],
        "as_of": pa.array([datetime(2026, 11, 1, 12) for _ in range(n)], pa.timestamp("us")),  # no timezone
        "active_users": list(range(n)), "licensed_seats": [n] * n, "features_adopted": [3] * n,
        "key_features_total": [12] * n, "meaningful_events_30d": [None] * n, "unused": ["x"] * n})
    pq.write_table(table, tmp_path / "usage.parquet", row_group_size=100)
    obs, bad = _pull(_config(tmp_path, kind="parquet", path="usage.parquet", batch_rows=100), store)
    assert len(obs) == n and not bad
    last = obs["0010249"]
    assert last.as_of == datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert last.signals["seat_utilisation"] == round(249 / 250, 4) and last.signals["feature_breadth"] == 0.25
    assert last.signals["meaningful_events_30d"] is None


def test_sql_query_aggregates_in_the_database(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE activity (account_id TEXT, day TEXT, user_id INTEGER, seats INTEGER)"))
        conn.execute(text("INSERT INTO activity VALUES (:a, :d, :u, :s)"), [
            {"a": "001A", "d": "2026-10-30T00:00:00+00:00", "u": 1, "s": 4},
            {"a": "001A", "d": "2026-10-31T00:00:00+00:00", "u": 2, "s": 4},
            {"a": "001A", "d": "2026-10-31T00:00:00+00:00", "u": 2, "s": 4},
            {"a": "001B", "d": "2026-10-31T00:00:00+00:00", "u": 7, "s": -1},
        ])
    engine.dispose()
    monkeypatch.setenv("USAGE_TEST_URL", url)
    query = ("SELECT account_id AS account_key, MAX(day) AS as_of, COUNT(DISTINCT user_id) AS active_users, "
             "MAX(seats) AS licensed_seats FROM activity GROUP BY account_id")
    config = _config(tmp_path, kind="sql", url_env="USAGE_TEST_URL", query=query,
                     signals=[{"column": "active_users", "signal": "active_users"},
                              {"column": "licensed_seats", "signal": "licensed_seats"}])
    obs, bad = _pull(config, store)
    assert dict(obs["001A"].signals) == {"active_users": 2.0, "licensed_seats": 4.0, "seat_utilisation": 0.5}
    assert obs["001A"].as_of == datetime(2026, 10, 31, tzinfo=UTC)
    assert [q.reason for q in bad] == ["row 2: column 'licensed_seats' value -1 is negative"]


def _big_csv(path: Path, rows: int) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows([f"001{i:07d}", GOOD, i % 50, 50, i % 12, 12, i] for i in range(rows))
    return path


def _drain(items: Iterator[Any]) -> int:
    return sum(1 for _ in items)


def test_large_files_are_streamed_not_loaded(tmp_path: Path, store: Store) -> None:
    _big_csv(tmp_path / "big.csv", 40_000)
    source = UsageSource(_config(tmp_path, kind="csv", path="big.csv"))
    ctx = SourceContext(store, HttpLayer(), source.config, NOW)
    tracemalloc.start()
    try:
        assert _drain(source.pull(ctx)) == 40_000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000, f"peak {peak:,} bytes: rows are being accumulated (40k rows held ≈ 40 MB)"


def test_as_of_can_be_omitted(tmp_path: Path, store: Store) -> None:
    _write_csv(tmp_path / "u.csv", [["001A", 3, 4]], header=["account_key", "active_users", "licensed_seats"])
    config = _config(tmp_path, kind="csv", path="u.csv", as_of_column=None,
                     signals=[{"column": "active_users", "signal": "active_users"},
                              {"column": "licensed_seats", "signal": "licensed_seats"}])
    obs, _ = _pull(config, store)
    assert obs["001A"].as_of == NOW and obs["001A"].signals["seat_utilisation"] == 0.75
    assert NOW - obs["001A"].as_of < timedelta(seconds=1)
