"""What a sync is doing right now: its stages, their counts, and the pauses the HTTP layer takes.

The sync announces stages (pull per source, resolve, score, write per sink) and the records it handles;
the HTTP layer announces every call and every pause (:class:`~connector.http.HttpObserver`).  A
:class:`RunObserver` joins the two into one :class:`StageStats` per stage, which is all a display needs.
Two presentations share that bookkeeping, so they cannot disagree:

* :class:`RunObserver` itself writes structured log lines — one per finished stage and, at the end, one
  per system that retried or waited — which is what CI, the daemon and ``--json`` runs get;
* ``connector.progress.TerminalProgress`` (Rich) draws a live line per stage and a rate-limit countdown
  when the sync runs in a terminal.

Individual retries are logged by the HTTP layer at debug level only: the counts here replace them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog

from connector.http import Call, Wait

log = structlog.get_logger(__name__)

#: A pause this long gets one log line per system and run even without a terminal: it explains a silence.
LONG_WAIT_SECONDS = 10.0
#: POSTs that only read (searches, SOQL over POST, batch reads): not records written.
_READ_POSTS = ("/search", "/query", "/batch/read")


@dataclass
class StageStats:
    """One stage of a run as it goes: ``records`` handled, ``pages`` (answered calls), all ``calls``."""

    kind: str  # preflight | pull | resolve | score | write
    system: str | None = None
    records: int = 0
    pages: int = 0
    calls: int = 0
    retries: int = 0
    waited: float = 0.0
    status: str = "running"  # running | done | failed
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.system}" if self.system else self.kind

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def advance(self, records: int = 1) -> None:
        self.records += records

    def fail(self, error: str) -> None:
        self.status, self.error = "failed", error


@dataclass(frozen=True)
class Pause:
    """The pause in progress, for a countdown: whose, why, and when it ends (``time.monotonic``)."""

    system: str
    reason: str
    rate_limit: bool
    seconds: float
    until: float

    def remaining(self) -> float:
        return max(0.0, self.until - time.monotonic())


class RunObserver:
    """Stage bookkeeping for one run, fed by the sync and by the HTTP layer; logs what it saw."""

    def __init__(self) -> None:
        self.stages: list[StageStats] = []
        self.pause: Pause | None = None
        self._current: StageStats | None = None
        self._running: dict[str | None, StageStats] = {}  # the sinks write side by side: calls go by system
        self._lock = threading.Lock()
        self._long_waits_logged: set[str] = set()

    # -- fed by the sync --------------------------------------------------------------------------------

    @contextmanager
    def stage(self, kind: str, system: str | None = None) -> Iterator[StageStats]:
        """The stage that owns its system's calls until the block ends.  Stages of different systems may
        run at once (the sinks write side by side); a call belongs to the running stage of its system."""
        stats = StageStats(kind, system)
        with self._lock:
            self.stages.append(stats)
            self._current = stats
            self._running[system] = stats
        try:
            yield stats
        except BaseException as exc:
            stats.fail(type(exc).__name__)
            raise
        finally:
            with self._lock:
                stats.ended = time.monotonic()
                if stats.status == "running":
                    stats.status = "done"
                if self._running.get(system) is stats:
                    del self._running[system]
                self._current = next(reversed(self._running.values()), None)
                if self.pause is not None and self.pause.system == system:
                    self.pause = None
            self.stage_finished(stats)

    def stage_finished(self, stats: StageStats) -> None:
        log.info("sync.stage", stage=stats.kind, system=stats.system, status=stats.status, records=stats.records,
                 pages=stats.pages, calls=stats.calls, retries=stats.retries,
                 waited_seconds=round(stats.waited, 1), seconds=round(stats.seconds, 1))

    def finished(self, calls: Mapping[str, Mapping[str, Any]]) -> None:
        """The run's HTTP totals (the ledger summary): one line per system that retried or waited."""
        for system, c in calls.items():
            if c.get("retries") or c.get("rate_limit_wait_seconds"):
                log.info("http.summary", system=system, calls=c.get("calls", 0), retries=c.get("retries", 0),
                         errors=c.get("errors", 0), rate_limit_wait_seconds=c.get("rate_limit_wait_seconds", 0))

    # -- fed by the HTTP layer (connector.http.HttpObserver) --------------------------------------------

    def call_made(self, call: Call) -> None:
        with self._lock:
            stats = self._running.get(call.system) or self._current
            if stats is None:
                return
            stats.calls += 1
            stats.retries += call.attempt > 1
            answered = call.status is not None and call.status < 400
            stats.pages += answered
            if answered and stats.kind == "write" and call.method != "GET" and not call.endpoint.endswith(_READ_POSTS):
                stats.records += call.records
            if self.pause is not None and self.pause.system == call.system:
                self.pause = None

    def waiting(self, wait: Wait) -> None:
        with self._lock:
            stats = self._running.get(wait.system) or self._current
            if stats is not None:
                stats.waited += wait.seconds
            self.pause = Pause(wait.system, wait.reason, wait.rate_limit, wait.seconds,
                               time.monotonic() + wait.seconds)
            first_long = wait.seconds >= LONG_WAIT_SECONDS and wait.system not in self._long_waits_logged
            if first_long:
                self._long_waits_logged.add(wait.system)
        if first_long:
            self.long_wait(wait)

    def long_wait(self, wait: Wait) -> None:
        """The first long pause of a system in this run: explains a silence in the logs."""
        log.info("http.waiting", system=wait.system, wait_seconds=round(wait.seconds, 1), reason=wait.reason,
                 note="further waits are counted in the run summary")

