"""``connector demo`` / ``make demo``: the whole job, end to end, on the local sandbox, in under 3 minutes.

No account, no network: five HTTPS emulators serve one seeded synthetic world; the connector is pointed at
them with an ordinary generated config and runs exactly the code an admin runs (``setup``, then ``sync``).
Between syncs the sandbox clock and world move a week forward (:func:`connector.sandbox.evolution.advance`),
so vectors get a direction, milestones move, plays step on, and the later syncs show how little an
incremental run costs.  A last sync with nothing changed shows that an idempotent re-run writes nothing.

Everything the demo writes lives in ``out_dir``; the servers run inside this process and are stopped on
the way out (the sandbox is kept up for a while only when a person is at the terminal).  Any part that
fails is said so plainly and makes the exit code non-zero.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from connector import logging as connector_logging
from connector.config import Config, load_config
from connector.demo_calls import CallTally, tally
from connector.demo_view import RunLine, at_risk_table, calls_table, run_line, setup_table, tasks_table
from connector.sandbox.cluster import Cluster, start_cluster
from connector.sandbox.core import serve
from connector.sandbox.evolution import Changes, advance
from connector.sandbox.webview import create_web_app

RUNS, INTERVAL_DAYS, SEED = 6, 7, 7
#: The demo's simulated "now" at the first sync, fixed (and the sandbox clock frozen between advances) so the
#: same seed prints the same tables on any day, at any hour, on a fast or a busy machine.
DEMO_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
#: How long an interactive demo keeps the sandbox up for browsing (seconds); 0 exits at once.
KEEP_ENV, KEEP_DEFAULT = "CONNECTOR_DEMO_KEEP_SECONDS", 900.0
#: The demo compresses a week into seconds, so a per-minute window that a week between syncs would have
#: reset is shortened to match; the limit itself (10 incremental exports per window) stays Zendesk's.
DEMO_LIMITS: dict[str, dict[str, Any]] = {"zendesk": {"export_window_seconds": 5.0}}
#: What the demo owns inside ``out_dir`` and clears before it starts (never anything else there).
OWNED = ("sandbox", "state", "runs", "connector.toml", "report.html")


def run_demo(accounts: int = 500, out_dir: Path = Path("demo-output"), console: Console | None = None, *,
             runs: int = RUNS, interval_days: float = INTERVAL_DAYS, seed: int = SEED,
             keep_seconds: float | None = None, inspect: Callable[[Cluster, Config], None] | None = None) -> int:
    """Run the demo; 0 when every part worked, 1 when any part failed (and what failed is printed).

    ``inspect`` is called with the still-running sandbox after the last sync, for checks through the
    systems' own APIs (tests, ``bench/``)."""
    console = console or Console()
    out_dir = out_dir.resolve()  # the generated config holds absolute paths, wherever the demo is started
    connector_logging.configure("WARNING")  # the demo reports problems itself, in plain words
    started = time.monotonic()
    problems: list[str] = []
    cluster: Cluster | None = None
    try:
        _clear(out_dir)
        console.rule(f"[bold]Customer Success connector demo[/] — {accounts:,} synthetic accounts, no network")
        cluster = start_cluster(out_dir / "sandbox", accounts=accounts, seed=seed, limits=DEMO_LIMITS,
                                start=DEMO_START, frozen=True)
        cluster.web = serve(create_web_app(cluster), tls=None)
        config = load_config(cluster.write_config(out_dir / "connector.toml"))
        console.print(f"sandbox up: Salesforce, HubSpot, Zendesk, Stripe, tech lookup over HTTPS "
                      f"(CA {cluster.tls.ca_path}); config [bold]{out_dir / 'connector.toml'}[/]")
        _setup(config, console, problems)
        lines = _syncs(cluster, config, console, problems, runs, interval_days, seed)
        if inspect is not None:
            inspect(cluster, config)
        _summary(config, cluster, lines, console, problems)
        _report(config, out_dir, console, problems)
        _links(cluster, console)
        console.rule()
        console.print(f"demo finished in {time.monotonic() - started:.0f} s")
        if problems:
            console.print("[bold red]Some parts failed:[/]")
            for problem in problems:
                console.print(f"  [red]✗[/] {problem}")
        else:
            console.print("[bold green]Every part worked.[/]")
        _keep_running(console, keep_seconds)
        return 1 if problems else 0
    except Exception as exc:  # the demo must say what broke, not die with a traceback only
        console.print(f"[bold red]demo failed:[/] {type(exc).__name__}: {exc}")
        console.print_exception(max_frames=8)
        return 1
    finally:
        if cluster is not None:
            cluster.stop()


def _clear(out_dir: Path) -> None:
    """A previous demo's state belongs to a sandbox that no longer exists: start from nothing."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in OWNED:
        path = out_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _setup(config: Config, console: Console, problems: list[str]) -> None:
    from connector.runtime import run_setup

    result = run_setup(config, dry_run=False)
    console.print(setup_table(result["created"]))
    problems.extend(f"setup on {system}: {error}" for system, error in result["errors"].items())


def _syncs(cluster: Cluster, config: Config, console: Console, problems: list[str], runs: int,
           interval_days: float, seed: int) -> list[RunLine]:
    """``runs`` weekly syncs with the world moving in between, then a re-run with nothing changed."""
    lines: list[RunLine] = []
    before: dict[str, tuple[Any, Any]] = {}
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                        TimeElapsedColumn(), console=console, transient=True)
    with progress:
        task = progress.add_task("syncing", total=runs + 1)
        for number in range(runs + 1):
            changes: Changes = {}
            if 0 < number < runs:
                progress.update(task, description=f"advancing the world {interval_days:g} days")
                changes = advance(cluster, interval_days, seed=seed + number)
            label = f"week {number}" if number < runs else "re-run"
            progress.update(task, description=f"sync {label}")
            line, before = _sync(cluster, config, label, before, changes, problems)
            lines.append(line)
            run_line(console, line)
            progress.advance(task)
    return lines


def _sync(cluster: Cluster, config: Config, label: str, before: dict[str, tuple[Any, Any]], world: Changes,
          problems: list[str]) -> tuple[RunLine, dict[str, tuple[Any, Any]]]:
    from connector.runtime import open_store, run_sync

    cluster.reset_ledgers()
    start = time.monotonic()
    when = cluster.clock.now()
    result = run_sync(config, now=when)
    seconds = time.monotonic() - start
    calls = tally({name: e.ctx.ledger.entries() for name, e in cluster.emulators.items()})
    problems.extend(f"{label}: source {s} failed: {e}" for s, e in result.source_errors.items())
    problems.extend(f"{label}: writing to {s} failed: {e}" for s, e in result.sink_errors.items())
    for system, report in result.sinks.items():
        if report["failures"]:
            first = report["failures"][0]
            problems.append(f"{label}: {len(report['failures'])} record(s) refused by {system}, e.g. "
                            f"{first.get('object')} {first.get('record_id')}: {first.get('message')}")
    store = open_store(config)
    try:
        now = {r.account_id: (r.direction, (r.outputs or {}).get("current_stage")) for r in store.latest_scores()}
    finally:
        store.close()
    shared = [a for a in now if a in before]
    sinks = result.sinks.values()
    line = RunLine(
        label=label, when=when, seconds=seconds, status=result.status,
        pulled=sum(sum(c.values()) for c in result.pulled.values()), scored=result.scored,
        fields_written=sum(int(s["fields_written"]) for s in sinks),
        records_updated=sum(int(s["records_updated"]) for s in sinks),
        tasks_created=sum(int(s["tasks_created"]) for s in sinks),
        tasks_closed=sum(int(s["tasks_closed"]) for s in sinks), calls=calls,
        turned=sum(1 for a in shared if now[a][0] != before[a][0]),
        milestones_moved=sum(1 for a in shared if now[a][1] != before[a][1]), world=world)
    return line, now


def _summary(config: Config, cluster: Cluster, lines: list[RunLine], console: Console,
             problems: list[str]) -> None:
    from connector.report import queries
    from connector.runtime import open_store

    total = CallTally()
    for line in lines:
        total.add(line.calls)
    store = open_store(config)
    try:
        scored = queries.scored_run_ids(store, limit=1)
        rows = queries.at_risk(store, scored[0], limit=10) if scored else []
        primary = config.connector.primary_crm
        by_play: dict[str, Counter[str]] = {}
        for entry in store.tasks(primary).values():
            by_play.setdefault(entry.play, Counter())[entry.status] += 1
    finally:
        store.close()
    console.print(at_risk_table(rows))
    console.print(tasks_table(by_play, primary))
    console.print(calls_table(lines[0].calls, total, len(lines)))
    if len(lines) > 2:
        weekly = lines[1:-1]
        console.print(f"writes: the first sync sent {lines[0].fields_written:,} fields in "
                      f"{lines[0].calls.write_calls} calls; the weekly syncs after it "
                      f"{min(w.fields_written for w in weekly):,}–{max(w.fields_written for w in weekly):,} fields "
                      f"in at most {max(w.calls.write_calls for w in weekly)} calls (only changed fields are sent).")
        rerun = lines[-1]
        colour = "green" if rerun.fields_written == 0 else "yellow"
        if rerun.fields_written or rerun.calls.write_calls:  # an idempotent re-run writes nothing at all
            problems.append(f"the re-run with the world unchanged wrote {rerun.fields_written:,} fields in "
                            f"{rerun.calls.write_calls} write calls; it must write nothing")
        console.print(f"[{colour}]re-run with the world unchanged: {rerun.fields_written:,} fields on "
                      f"{rerun.records_updated:,} records, {rerun.calls.write_calls} write calls "
                      f"(an idempotent re-run should write nothing)[/]")
    if not by_play:
        problems.append("no tasks were created by any play")


def _report(config: Config, out_dir: Path, console: Console, problems: list[str]) -> None:
    from connector.report import build_report
    from connector.runtime import open_store

    store = open_store(config)
    try:
        path = build_report(config, store, out_dir / "report.html")
        console.print(f"HTML report: [bold]{path.resolve()}[/] (open it in a browser; works offline)")
    except Exception as exc:
        problems.append(f"the HTML report could not be written: {type(exc).__name__}: {exc}")
    finally:
        store.close()


def _links(cluster: Cluster, console: Console) -> None:
    if cluster.web is None:
        return
    base = cluster.web.url
    console.print(f"sandbox web view: {base}/salesforce  (the account list a CSM sees, by Success Vector)")
    console.print(f"                  {base}/zendesk     (the queue an agent sees, by priority band)")
    console.print(f"                  {base}/hubspot     (the same fields on HubSpot companies)")


def _keep_running(console: Console, keep_seconds: float | None) -> None:
    """Keep the sandbox browsable only when a person is there; CI (no terminal on stdin) exits at once.

    An explicit ``--keep`` (or the environment variable) that cannot act says so, with the value in effect.
    """
    seconds = keep_seconds if keep_seconds is not None else float(os.environ.get(KEEP_ENV, KEEP_DEFAULT))
    if seconds > 0 and not sys.stdin.isatty():
        if keep_seconds is not None or KEEP_ENV in os.environ:
            console.print(f"[yellow]warning[/]: --keep {seconds:g} has no effect without a terminal on stdin (no one "
                          "to browse the sandbox or stop it with Ctrl-C): effective --keep 0, the sandbox stops now",
                          highlight=False)
        return
    if seconds <= 0:
        return
    until = datetime.now().astimezone().timestamp() + seconds
    console.print(f"the sandbox stays up for {seconds / 60:.0f} min (until "
                  f"{datetime.fromtimestamp(until):%H:%M}); Ctrl-C stops it now ({KEEP_ENV} sets the time)")
    try:
        threading.Event().wait(seconds)
    except KeyboardInterrupt:
        console.print("stopping the sandbox")
