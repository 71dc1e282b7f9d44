"""A sync's live progress in a terminal (Rich): one line per stage and a countdown while a rate limit holds.

Only ``connector sync`` on a terminal uses this; without one (CI, the daemon, ``--json``) the same
bookkeeping writes structured log lines instead (:class:`connector.observe.RunObserver`).  It goes to
stderr, like the logs, so stdout keeps only the command's result; log lines printed while it runs appear
above the live lines (Rich redirects stderr while the display is up).
"""

from __future__ import annotations

import math
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from connector.http import Wait
from connector.observe import Pause, RunObserver, StageStats

TITLES = {"salesforce": "Salesforce", "hubspot": "HubSpot", "zendesk": "Zendesk", "stripe": "Stripe",
          "techlookup": "Technology lookup", "enrichment": "enrichment", "usage": "usage"}
#: Shorter pauses (a sliding window's few milliseconds) pass too quickly to be worth a line.
COUNTDOWN_FROM_SECONDS = 1.0


class TerminalProgress(RunObserver):
    """The observer as a live Rich display; use as a context manager around the run."""

    def __init__(self, console: Console):
        super().__init__()
        self._spinner = Spinner("dots", style="cyan")
        self._live = Live(console=console, get_renderable=self.render, refresh_per_second=8,
                          redirect_stdout=False, redirect_stderr=True)

    def __enter__(self) -> TerminalProgress:
        self._live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._live.stop()

    def stage_finished(self, stats: StageStats) -> None:
        """Nothing to log: the stage's line shows it finished."""

    def finished(self, calls: object) -> None:
        """Nothing to log: the summary table printed after the run shows retries and waits per system."""

    def long_wait(self, wait: Wait) -> None:
        """Nothing to log: the countdown line shows it."""

    def render(self) -> RenderableType:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1)
        grid.add_column(min_width=18)
        grid.add_column()
        grid.add_column(justify="right")
        for stats in list(self.stages):
            grid.add_row(self._icon(stats), Text(_label(stats), style="bold" if stats.status == "running" else ""),
                         Text(detail(stats)), Text(f"{stats.seconds:,.0f} s", style="dim"))
        pause = self.pause
        if pause is not None and pause.seconds >= COUNTDOWN_FROM_SECONDS and pause.remaining() > 0:
            return Group(grid, Text(f"  {countdown(pause)}", style="yellow"))
        return grid

    def _icon(self, stats: StageStats) -> RenderableType:
        if stats.status == "running":
            return self._spinner
        return Text("✓", style="green") if stats.status == "done" else Text("✗", style="red")


def _label(stats: StageStats) -> str:
    return f"{stats.kind} {TITLES.get(stats.system, stats.system)}" if stats.system else stats.kind


def detail(stats: StageStats) -> str:
    """``1,204 records · 13 pages · 15 calls (2 retries, waited 41 s)``, depending on the stage."""
    noun = {"resolve": "observations matched", "score": "accounts scored", "preflight": "destinations checked"}
    parts = [f"{stats.records:,} {noun.get(stats.kind, 'records')}"]
    if stats.calls:
        if stats.kind == "pull":
            parts.append(_count(stats.pages, "page"))
        parts.append(_count(stats.calls, "call"))
    extra = [_count(stats.retries, "retry", "retries")] if stats.retries else []
    if stats.waited >= COUNTDOWN_FROM_SECONDS:
        extra.append(f"waited {stats.waited:,.0f} s")
    text = " · ".join(parts) + (f" ({', '.join(extra)})" if extra else "")
    return f"{text} — {stats.error}" if stats.error else text


def countdown(pause: Pause) -> str:
    """``Zendesk rate limit: resuming in 41 s`` (or the retry's reason when it is not a rate limit)."""
    title = TITLES.get(pause.system, pause.system)
    what = "rate limit" if pause.rate_limit else pause.reason
    return f"{title} {what}: resuming in {math.ceil(pause.remaining())} s"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else many or one + 's'}"
