"""The FIRST unchanged re-sync writes nothing, whatever the time of day.

Milestones reached on the first run are stored as a date and read back as that day's midnight; when the
scoring dated them to the run's instant, ETAs moved between the two runs and ``next_milestone_status``
flipped on borderline accounts — more of them the later in the day.  Each case runs the whole pipeline
(real clients, 1,000 accounts) with the sandbox clock at one time of day, then re-syncs minutes later
(:mod:`connector.sandbox.resync_check`; ``bench/bench_resync.py`` runs the same at 10,000).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connector.sandbox.resync_check import at_time_of_day, first_resync

ACCOUNTS = 1000


@pytest.mark.timeout(1200)  # three whole 1k-account pipelines: minutes each on a busy machine, not a hang
@pytest.mark.parametrize("hour, minute", [(0, 30), (12, 0), (23, 50)])
def test_first_unchanged_resync_writes_nothing(tmp_path: Path, hour: int, minute: int) -> None:
    outcome = first_resync(tmp_path, ACCOUNTS, at_time_of_day(hour, minute))
    assert outcome.first_status == "ok" and outcome.resync_status == "ok", outcome.errors
    assert outcome.first_fields["salesforce"] > 0
    assert outcome.resync_write_calls == {name: [] for name in outcome.resync_write_calls}, (
        f"re-sync at {hour:02}:{minute:02} wrote")
    assert outcome.resync_fields == {s: 0 for s in outcome.resync_fields}


@pytest.mark.timeout(1200)
def test_same_data_scored_again_at_the_end_of_the_day_writes_nothing(tmp_path: Path) -> None:
    """The premise of skipping a settled cycle: scoring is a function of the data and the UTC *day*.

    Synced at 00:07, the same world re-read in full and scored again at 23:55 must write nothing: no
    age, wait or window may count hours.  (Signal ages did until they counted whole days.)
    """
    outcome = first_resync(tmp_path, ACCOUNTS, at_time_of_day(0, 5),
                           resync_after=timedelta(hours=23, minutes=48), resync_full=True)
    assert outcome.first_status == "ok" and outcome.resync_status == "ok", outcome.errors
    assert outcome.first_fields["salesforce"] > 0
    assert outcome.resync_write_calls == {name: [] for name in outcome.resync_write_calls}, "23:55 re-score wrote"
    assert outcome.resync_fields == {s: 0 for s in outcome.resync_fields}
