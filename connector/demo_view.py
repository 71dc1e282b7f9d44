"""What the demo prints: one line per sync, then the summary tables (rich).

Rendering only; :mod:`connector.demo` decides what runs and collects the numbers shown here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from connector.demo_calls import CallTally

#: Change kinds from :func:`connector.sandbox.evolution.advance` worth a word in the run line.
WORLD_WORDS = (("zendesk", "new_tickets", "new tickets"), ("stripe", "payments_failed", "failed payments"),
               ("stripe", "cards_replaced", "cards replaced"), ("salesforce", "contacts_created", "new champions"),
               ("salesforce", "nps_updated", "NPS answers"),
               ("techlookup", "technologies_detected", "competitor installs"),
               ("salesforce", "accounts_churned", "customers churned"), ("stripe", "seats_changed", "seat changes"),
               ("salesforce", "tasks_completed", "tasks completed by CSMs"),
               ("salesforce", "tasks_deleted", "deleted"), ("salesforce", "tasks_reassigned", "reassigned"),
               ("salesforce", "tasks_redated", "re-dated"))


@dataclass
class RunLine:
    """One sync as the demo reports it."""

    label: str
    when: datetime
    seconds: float
    status: str
    pulled: int
    scored: int
    fields_written: int
    records_updated: int
    tasks_created: int
    tasks_closed: int
    calls: CallTally
    turned: int = 0
    milestones_moved: int = 0
    world: Mapping[str, Counter[str]] = field(default_factory=dict)
    deferred_by_play: Counter[str] = field(default_factory=Counter)


def run_line(console: Console, line: RunLine) -> None:
    colour = "green" if line.status == "ok" else "red"
    words = [f"{line.world[s][k]} {label}" for s, k, label in WORLD_WORDS if s in line.world and line.world[s][k]]
    if words:
        console.print(f"[dim]  … world moves on: {', '.join(words)}[/]")
    console.print(
        f"[bold]{line.label:<7}[/] {line.when:%Y-%m-%d} [{colour}]{line.status}[/] {line.seconds:4.1f}s "
        f"pulled {line.pulled:,} · wrote {line.fields_written:,} fields on {line.records_updated:,} records · "
        f"tasks +{line.tasks_created} −{line.tasks_closed} · {line.calls.used} calls "
        f"({line.calls.write_calls} writes) · [cyan]{line.turned} turned, {line.milestones_moved} milestones[/]")


def setup_table(created: Mapping[str, list[dict[str, Any]]]) -> Table:
    table = Table(title="connector setup: what it created", title_justify="left")
    table.add_column("system")
    table.add_column("created", justify="right")
    table.add_column("fields / properties")
    for system, changes in created.items():
        names = [f"{c.get('object')}.{c.get('field')}" for c in changes]
        shown = ", ".join(names[:6]) + (f", … (+{len(names) - 6})" if len(names) > 6 else "")
        table.add_row(system, str(len(changes)), shown or "nothing (already set up)")
    return table


def at_risk_table(rows: Iterable[Mapping[str, Any]]) -> Table:
    table = Table(title="Top at-risk accounts (negative direction first, then lowest Success Vector)",
                  title_justify="left")
    table.add_column("account", width=16, no_wrap=True, overflow="ellipsis")
    table.add_column("vector", justify="right", width=6)
    table.add_column("/30d", justify="right", width=6)
    table.add_column("direction", width=9)
    table.add_column("next milestone", width=14, no_wrap=True, overflow="ellipsis")
    table.add_column("drivers", max_width=80)
    for r in rows:
        table.add_row(str(r["name"]), _num(r.get("vector")), _num(r.get("velocity")), str(r.get("direction") or ""),
                      f"{r.get('next_milestone') or ''} ({r.get('next_status') or '–'})", str(r.get("drivers") or ""))
    return table


@dataclass
class TaskPicture:
    """What the CSMs find in the task CRM after the last sync, and what the connector did to get there."""

    system: str
    open_by_csm: Counter[str]
    tasks_per_account: Counter[int]  # open connector tasks on an account → accounts
    opened_by_play: Counter[str]
    deferred_by_play: Counter[str]
    closes: Counter[str]  # why each task ended: the connector's close reasons, and what CSMs did


def task_tables(picture: TaskPicture) -> list[Table]:
    """Open tasks per CSM, tasks per account, deferred by play, closes by reason."""
    csm = Table(title=f"Open connector tasks per CSM (in {picture.system})", title_justify="left")
    csm.add_column("CSM")
    csm.add_column("open tasks", justify="right")
    for owner, count in picture.open_by_csm.most_common():
        csm.add_row(owner, str(count))
    per_account = Table(title="Open connector tasks per account", title_justify="left")
    per_account.add_column("open tasks")
    per_account.add_column("accounts", justify="right")
    for tasks, accounts in sorted(picture.tasks_per_account.items()):
        per_account.add_row(str(tasks), str(accounts))
    plays = Table(title="Plays leading an open task, and new tasks deferred by the cap (last sync)",
                  title_justify="left")
    for name in ("play", "leading open tasks", "deferred"):
        plays.add_column(name, justify="left" if name == "play" else "right")
    for play in sorted(set(picture.opened_by_play) | set(picture.deferred_by_play)):
        plays.add_row(play, str(picture.opened_by_play[play]), str(picture.deferred_by_play[play]))
    closes = Table(title="How tasks ended (connector closes carry a reason; it never sets Completed)",
                   title_justify="left")
    closes.add_column("reason")
    closes.add_column("tasks", justify="right")
    for reason, count in picture.closes.most_common():
        closes.add_row(reason, str(count))
    return [csm, per_account, plays, closes]


def calls_table(first: CallTally, total: CallTally, runs: int) -> Table:
    table = Table(title=f"API calls over {runs} syncs vs the minimum the APIs allow", title_justify="left",
                  caption="minimum = ceil(records / max per call) per batch-write endpoint, and per paged read "
                          "at least 1 call per stream; 'other' = auth, describes, job polls, SOQL/search pages "
                          "(the sandbox does not count their rows, so they have no minimum here)",
                  caption_justify="left")
    for name in ("system", "first sync", "all syncs", "batch/paged calls", "their minimum", "other"):
        table.add_column(name, justify="left" if name == "system" else "right")
    for system, calls in sorted(total.systems.items()):
        first_used = first.systems[system].used if system in first.systems else 0
        table.add_row(system, str(first_used), str(calls.used), str(calls.covered_used), str(calls.covered_minimum),
                      str(calls.other))
    table.add_row("[bold]total", str(first.used), str(total.used), str(total.covered_used),
                  str(total.covered_minimum), str(total.used - total.covered_used))
    return table


def _num(value: Any) -> str:
    return "" if value is None else f"{float(value):.1f}"
