"""kill -9 the sync at named stages and at random moments; a rerun must converge to the clean-run state.

Each case: a fresh cluster on the same seeded world, ``connector sync`` in a subprocess killed with SIGKILL
(at a state-store call marking a stage, or at a seeded random step of progress among all of a clean run's
stage calls, see ``crash_runner.py``), then ``connector sync`` again to completion.  Kills are placed by
progress, never by a delay: on a busy machine a timed kill could land after the sync had finished.  The
CRM, HubSpot and Zendesk must then hold exactly what one clean run writes: no lost write, no duplicate task
(writes are at-least-once; task upserts on an external key and field diffs against confirmed values make
the repeats harmless).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import ACCOUNTS
from .rel_kit import NOW, cli_sync, crm_state, duplicate_task_keys, start_rig, state_diff

RUNNER = Path(__file__).with_name("crash_runner.py")
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CleanCli:
    state: dict[str, Any]
    steps: int  # stage calls (all crash points together) of one whole run


@pytest.fixture(scope="module")
def clean_cli(tmp_path_factory: pytest.TempPathFactory) -> CleanCli:
    """One uncrashed ``connector sync`` subprocess: the target state and how many steps a run takes."""
    workdir = tmp_path_factory.mktemp("clean-cli")
    rig = start_rig(workdir, accounts=ACCOUNTS)
    try:
        count = workdir / "steps.txt"
        assert runner_sync(rig.config_path, {"REL_COUNT_FILE": str(count)}) == 0
        return CleanCli(crm_state(rig.cluster), int(count.read_text(encoding="utf-8")))
    finally:
        rig.stop()


def runner_sync(config: Path, env: dict[str, str]) -> int:
    """``connector sync`` through ``crash_runner.py`` with ``env`` (a crash point, a step count); its exit code."""
    args = [sys.executable, str(RUNNER), "sync", "-c", str(config), "--json", "--now", NOW.isoformat()]
    process = subprocess.Popen(args, env={**os.environ, "PYTHONPATH": str(REPO), **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process.wait(timeout=600)


def converges(tmp_path: Path, clean: CleanCli, *, point: str) -> None:
    rig = start_rig(tmp_path, accounts=ACCOUNTS)
    try:
        code = runner_sync(rig.config_path, {"REL_CRASH_AT": point})
        assert code == -signal.SIGKILL, f"the sync was not killed (exit {code}) at {point}"
        assert not duplicate_task_keys(rig.cluster)
        summary = cli_sync(rig.config_path)
        state = crm_state(rig.cluster)
        duplicates = duplicate_task_keys(rig.cluster)
    finally:
        rig.stop()
    assert summary["status"] == "ok", (summary["source_errors"], summary["sink_errors"])
    assert not [f for s in summary["sinks"].values() for f in s["failures"]]
    assert not duplicates, duplicates
    assert state == clean.state, state_diff(clean.state, state)


#: One kill per stage: extraction, scoring, and between a write batch and its bookkeeping (fields, tasks).
STAGE_POINTS = ["extract:5", "observations:3", "score:1", "fields:1", "tasks:1"]
#: The large variant: every stage at several batches, plus the sync log.
MORE_POINTS = ["extract:1", "extract:9", "extract:14", "observations:1", "observations:5", "observations:6",
               "fields:2", "fields:3", "log:1", "log:3", "log:5"]
RANDOM_KILLS, MORE_RANDOM_KILLS = 1, 8


@pytest.mark.parametrize("point", STAGE_POINTS)
def test_kill_at_stage_then_rerun_converges(tmp_path: Path, clean_cli: CleanCli, point: str) -> None:
    converges(tmp_path, clean_cli, point=point)


@pytest.mark.parametrize("draw", range(RANDOM_KILLS))
def test_kill_at_random_moment_then_rerun_converges(tmp_path: Path, clean_cli: CleanCli, draw: int) -> None:
    converges(tmp_path, clean_cli, point=random_step(clean_cli, draw))


@pytest.mark.slow
@pytest.mark.parametrize("point", MORE_POINTS)
def test_kill_at_more_stages_then_rerun_converges(tmp_path: Path, clean_cli: CleanCli, point: str) -> None:
    converges(tmp_path, clean_cli, point=point)


@pytest.mark.slow
@pytest.mark.parametrize("draw", range(RANDOM_KILLS, RANDOM_KILLS + MORE_RANDOM_KILLS))
def test_kill_at_more_random_moments_then_rerun_converges(tmp_path: Path, clean_cli: CleanCli, draw: int) -> None:
    converges(tmp_path, clean_cli, point=random_step(clean_cli, draw))


def random_step(clean: CleanCli, draw: int) -> str:
    """A seeded step of progress inside a run (``any:<n>``): anywhere in its first 90 % of stage calls, so
    that the draw falls inside the run even if batching made a crashed run a step or two shorter."""
    return f"any:{random.Random(1000 + draw).randint(1, max(1, clean.steps * 9 // 10))}"
