"""What an admin sees while a sync runs (issue 22): live stage lines and a rate-limit countdown on a
terminal, no control characters without one, and a handful of log lines per system however many retries.

Each test syncs a fresh state store (a first sync) against one sandbox.  Zendesk's real incremental-export
limit is shrunk to one call per 12 s, so the second export of a first sync is answered 429 with a
``Retry-After`` of several seconds: the countdown has a real wait to show, every time — also on a busy
machine, where seconds can pass between a sync's first and second export (a 5 s window once left a wait
too short to count down).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.config import load_config
from connector.runtime import run_setup
from connector.sandbox.cluster import Cluster, start_cluster

CONNECTOR = Path(sys.executable).parent / "connector"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STAGES = ("preflight", "pull Salesforce", "pull HubSpot", "pull Zendesk", "pull Stripe", "pull usage",
          "pull enrichment", "resolve", "score", "write Salesforce", "write HubSpot", "write Zendesk")
EMULATORS = ("salesforce", "hubspot", "zendesk", "stripe", "techlookup")
SYSTEMS = ("salesforce", "hubspot", "zendesk", "stripe", "enrichment")  # as the connector names them


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("progress")
    cluster = start_cluster(workdir / "sandbox", accounts=60, seed=9,
                            limits={"zendesk": {"export_requests_per_minute": 1, "export_window_seconds": 12}})
    assert run_setup(load_config(cluster.write_config(workdir / "setup.toml")), dry_run=False)["errors"] == {}
    yield cluster
    cluster.stop()


def _fresh_config(cluster: Cluster, tmp_path: Path) -> Path:
    """A config with its own (empty) state store: the next sync is a first sync."""
    return cluster.write_config(tmp_path / "connector.toml")


def _in_pty(*args: str) -> tuple[str, int]:
    """Run the CLI on a pseudo-terminal (150 columns), as an admin's shell would; everything it drew."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 150, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    proc = subprocess.Popen([str(CONNECTOR), *args], stdin=slave, stdout=slave, stderr=slave,
                            env={**env, "TERM": "xterm-256color"}, start_new_session=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child exited and closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace"), proc.wait()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with pipes: no terminal, as in CI or cron."""
    return subprocess.run([str(CONNECTOR), *args], capture_output=True, text=True, check=False,
                          env={**os.environ, "COLUMNS": "160"})  # a CI log's width: the table on one line a row


def test_terminal_shows_every_stage_and_a_rate_limit_countdown(sandbox: Cluster, tmp_path: Path) -> None:
    raw, code = _in_pty("sync", "-c", str(_fresh_config(sandbox, tmp_path)))
    assert code == 0, raw[-3000:]
    assert "\x1b[" in raw  # drawn live (cursor movement), not printed once at the end
    text = ANSI.sub("", raw)
    final = text[text.rindex("✓ preflight"):]  # the last frame of the live lines, then the summary table
    for stage in STAGES:
        assert re.search(rf"✓ {stage}\s+[\d,]+ \w", final), f"no finished line for {stage!r}:\n{final}"
    assert re.search(r"pull Salesforce\s+[\d,]+ records · \d+ pages? · \d+ calls?", final), final
    countdowns = set(re.findall(r"Zendesk rate limit: resuming in (\d+) s", text))
    assert len(countdowns) >= 2, f"no countdown while Zendesk's export limit held the sync: {countdowns}"
    assert re.search(r"pull Zendesk .*waited \d+ s", final), final
    assert "sync run" in final and "retries" in final and "waited" in final  # the summary table follows


def test_without_a_terminal_no_control_characters_and_logs_are_json(sandbox: Cluster, tmp_path: Path) -> None:
    done = _run("sync", "-c", str(_fresh_config(sandbox, tmp_path)))
    assert done.returncode == 0, done.stderr[-3000:]
    for stream in (done.stdout, done.stderr):
        assert not re.search(r"[\x1b\r\x08]", stream), repr(stream[:500])
    events = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    stages = {(e.get("stage"), e.get("system")) for e in events if e["event"] == "sync.stage"}
    assert ("pull", "zendesk") in stages and ("write", "salesforce") in stages and ("score", None) in stages
    assert "sync run" in done.stdout  # the summary table, as plain text


def _lines_per_system(stderr: str) -> dict[str, int]:
    """Log lines that name each system anywhere (an upper bound on what an admin reads about it)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return {s: sum(s in line for line in lines) for s in SYSTEMS}


def test_twenty_retries_make_a_few_log_lines_and_the_summary_counts_them(sandbox: Cluster, tmp_path: Path) -> None:
    for seed, emulator in enumerate(EMULATORS):  # ~40 calls a first sync of this world: ~0.3 × 40 / 0.7 retries
        sandbox.set_faults(emulator, rate_5xx=0.25, rate_429=0.05, seed=seed)
    try:
        quiet = _run("sync", "-c", str(_fresh_config(sandbox, tmp_path / "quiet")))
        loud = _run("sync", "--verbose", "-c", str(_fresh_config(sandbox, tmp_path / "loud")))
    finally:
        for emulator in EMULATORS:
            sandbox.set_faults(emulator, rate_5xx=0.0, rate_429=0.0)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    summaries = {e["system"]: e for e in map(json.loads, quiet.stderr.splitlines()) if e["event"] == "http.summary"}
    retries = sum(s["retries"] for s in summaries.values())
    assert retries >= 10, summaries  # the faults did their job: a sync with about twenty retries
    assert all(n <= 5 for n in _lines_per_system(quiet.stderr).values()), (_lines_per_system(quiet.stderr),
                                                                           quiet.stderr)
    assert not any('"http.retry"' in line for line in quiet.stderr.splitlines())
    header = next(line for line in quiet.stdout.splitlines() if "retries" in line)
    column = [c.strip() for c in re.split(r"[│|┃]", header) if c.strip()].index("retries")
    for system, summary in summaries.items():  # the table's retries column says the same as the log
        row = next((line for line in quiet.stdout.splitlines() if re.match(rf"\W*{system}\b", line)), quiet.stdout)
        cells = [c.strip() for c in re.split(r"[│|┃]", row) if c.strip()]
        assert cells[column] == str(summary["retries"]), (row, summary)

    assert loud.returncode == 0, loud.stderr[-3000:]
    events = [json.loads(line) for line in loud.stderr.splitlines() if line.strip()]
    detail = [e for e in events if e["event"] in ("http.retry", "http.retry_budget_low")]
    loud_retries = sum(e["retries"] for e in events if e["event"] == "http.summary")
    assert loud_retries and len(detail) == loud_retries  # --verbose: one line per retry, as before
