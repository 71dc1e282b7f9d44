"""Scheduled jobs on APScheduler 3, each run on exactly one instance, taken over when its instance dies.

How a firing becomes (at most) one run across all instances:

1. Every instance schedules the same ticks: interval triggers are anchored at a fixed instant and cron is
   evaluated in UTC, so "the 10:15 pull" means the same tick everywhere.
2. The firing sleeps its jitter (done here rather than by APScheduler, whose 3.x interval trigger adds
   each jitter to the next fire time, so instances drift apart), then waits for the job's locks.
3. Holding the locks, it first closes runs of this job still marked ``running``: nobody else can be
   running it, so their instance died — they are recorded as ``interrupted``.  Then, if a run of this job
   already finished since the current tick (another instance did it), it skips.  Otherwise it runs.

Waiting for the lock (rather than skipping when it is busy) is what makes takeover work: if the holder is
killed mid-run its lock vanishes with its connection, a waiting instance gets it, finds the orphaned
``running`` row and runs the job itself, resuming from the store's last committed batch.

Order within a cycle: the score-and-write cycle follows the pulls (``JobSpec.after``).  A fresh daemon
fires every overdue job at once, and a pull tick often coincides with a scoring tick; scoring first would
score an empty or stale store and leave every webhook "unmatched" until the next cycle.  So a firing of a
job with predecessors first waits until each predecessor's latest tick is done (here or on another
instance) for as long as that predecessor is in flight: firing here (its catch-up counts from the moment it
is scheduled), running anywhere, or due so recently that its firing may still be in its jitter sleep.  A
predecessor that is none of these (skipped, its instance died) does not hold scoring back, and no wait
outlasts the job's own interval.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connector.config import Config, Schedule
from connector.daemon.coordination import Coordinator
from connector.daemon.metrics import DaemonMetrics
from connector.daemon.pipeline import Pipeline, RunOutcome
from connector.schedule import cron_trigger
from connector.secrets import redact
from connector.store import Store

log = structlog.get_logger(__name__)

#: Interval ticks count from here, so every instance computes the same ticks whenever it started.
ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)
_LOOKBACKS = (timedelta(minutes=1), timedelta(hours=1), timedelta(days=1), timedelta(days=32), timedelta(days=400))
DONE = frozenset({"ok", "partial", "failed"})
#: Seconds between checks of other instances' progress while a job waits for its predecessors.
_PREDECESSOR_POLL = 1.0


@dataclass(frozen=True)
class JobSpec:
    """One job: its name (also the run kind in the runs table), the locks it needs and its work."""

    name: str
    locks: tuple[str, ...]
    work: Callable[[], RunOutcome]
    schedule: Schedule | None = None
    #: Jobs whose run for their latest tick this job's firings wait for (see the module docstring).
    after: tuple[JobSpec, ...] = ()


def scheduled_jobs(config: Config, pipeline: Pipeline) -> list[JobSpec]:
    """A pull job per enabled source and the score-and-write cycle."""
    pulls = [
        JobSpec(
            f"pull:{source}",
            (f"pull:{source}",),
            lambda s=source: pipeline.pull(s, kind=f"pull:{s}"),  # type: ignore[misc]
            config.schedules.for_source(source),
        )
        for source in config.enabled_systems()
    ]
    cycle = JobSpec(
        "score_and_write",
        ("score_and_write",),
        lambda: pipeline.score_and_write(kind="score_and_write"),
        config.schedules.score_and_write,
        after=tuple(pulls),
    )
    return [*pulls, cycle]


def build_trigger(schedule: Schedule) -> BaseTrigger:
    if schedule.cron is not None:
        return cron_trigger(schedule.cron)
    return IntervalTrigger(seconds=schedule.interval_seconds, start_date=ANCHOR, timezone=UTC)


def interval_of(schedule: Schedule, now: datetime | None = None) -> float:
    """Seconds between two runs (for cron: between the next two fire times)."""
    if schedule.interval_seconds is not None:
        return schedule.interval_seconds
    trigger = build_trigger(schedule)
    first = trigger.get_next_fire_time(None, now or datetime.now(UTC))
    second = trigger.get_next_fire_time(first, first + timedelta(microseconds=1)) if first else None
    return (second - first).total_seconds() if first and second else 86400.0


def last_tick(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """The latest fire time at or before ``now`` (APScheduler 3 only computes forward, so look back)."""
    for lookback in _LOOKBACKS:
        tick = trigger.get_next_fire_time(None, now - lookback)
        if tick is None or tick > now:
            continue
        while (nxt := trigger.get_next_fire_time(tick, tick + timedelta(microseconds=1))) is not None and nxt <= now:
            tick = nxt
        return tick
    return None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class JobRunner:
    """Runs a job under its locks, closes orphaned runs, skips ticks already done, tracks what runs."""

    def __init__(self, store: Store, coordinator: Coordinator, metrics: DaemonMetrics, stop: threading.Event):
        self.store, self.coordinator, self.metrics, self.stop = store, coordinator, metrics, stop
        self._running: dict[str, float] = {}
        self._firing: Counter[str] = Counter()
        self._idle = threading.Condition()

    def expect(self, name: str) -> None:
        """Count a firing of ``name`` as in flight from now (its :meth:`run_scheduled` ends it)."""
        with self._idle:
            self._firing[name] += 1

    def run_scheduled(self, spec: JobSpec, expected: bool = False) -> None:
        """The function APScheduler calls at each firing (``expected``: :meth:`expect` was already called)."""
        assert spec.schedule is not None
        if not expected:
            self.expect(spec.name)
        try:
            if self.stop.wait(random.uniform(0, spec.schedule.jitter_seconds)):
                return
            if spec.after and not self._await_predecessors(spec):
                return
            tick = last_tick(build_trigger(spec.schedule), datetime.now(UTC))
            self.execute(spec, since=tick, wait_seconds=interval_of(spec.schedule))
        finally:
            with self._idle:
                self._firing[spec.name] -= 1
                self._idle.notify_all()

    def _await_predecessors(self, spec: JobSpec) -> bool:
        """Wait while a job ``spec`` follows is in flight for its latest tick; ``False`` when stopping."""
        assert spec.schedule is not None
        now = datetime.now(UTC)
        ticks = {p.name: (p, last_tick(build_trigger(p.schedule), now)) for p in spec.after if p.schedule}
        deadline = time.monotonic() + interval_of(spec.schedule)
        waited = False
        while pending := [name for name, (p, tick) in ticks.items() if self._in_flight(p, tick)]:
            if not waited:
                self.metrics.waits.labels(spec.name, "predecessors").inc()
                log.info("job.waiting", job=spec.name, for_jobs=pending)
                waited = True
            if time.monotonic() >= deadline:
                log.warning("job.predecessors_late", job=spec.name, jobs=pending)
                return True
            with self._idle:
                self._idle.wait(timeout=_PREDECESSOR_POLL)  # woken by a local finish; polls other instances
            if self.stop.is_set():
                return False
        return True

    def _in_flight(self, spec: JobSpec, tick: datetime | None) -> bool:
        """Is ``spec``'s run for ``tick`` still to come: not done, and firing here, running, or just due?"""
        if tick is None or self.done_since(spec.name, tick):
            return False
        with self._idle:
            if self._firing[spec.name] > 0:
                return True
        assert spec.schedule is not None
        due_for = (datetime.now(UTC) - tick).total_seconds()
        if due_for <= spec.schedule.jitter_seconds + _PREDECESSOR_POLL:
            return True
        return any(r.status == "running" and _aware(r.started_at) >= tick
                   for r in self.store.runs(limit=5, kind=spec.name))

    def execute(self, spec: JobSpec, *, since: datetime | None, wait_seconds: float) -> RunOutcome | None:
        """Run ``spec`` here unless another instance holds it past ``wait_seconds`` or did it ``since``."""
        with self.coordinator.hold(spec.locks, wait_seconds, self.stop) as held:
            if not held:
                self.metrics.skips.labels(spec.name, "busy" if not self.stop.is_set() else "stopping").inc()
                log.info("job.skipped", job=spec.name, reason="locks held elsewhere")
                return None
            self._close_orphans(spec.name, "its instance stopped before finishing; the job was taken over")
            if since is not None and self.done_since(spec.name, since):
                self.metrics.skips.labels(spec.name, "done_elsewhere").inc()
                log.info("job.skipped", job=spec.name, reason="already run for this tick")
                return None
            return self._run(spec)

    def _run(self, spec: JobSpec) -> RunOutcome:
        started_wall, started = datetime.now(UTC), time.monotonic()
        with self._idle:
            self._running[spec.name] = started
        log.info("job.started", job=spec.name)
        try:
            outcome = spec.work()
        except Exception as exc:  # the pipeline records its own failure; this covers failures before that
            error = redact(f"{type(exc).__name__}: {exc}")
            log.error("job.failed", job=spec.name, error=error)
            self._record_failure_if_missing(spec.name, started_wall, error)
            outcome = RunOutcome("failed")
        finally:
            with self._idle:
                self._running.pop(spec.name, None)
                self._idle.notify_all()
        seconds = time.monotonic() - started
        self.metrics.observe_run(spec.name, outcome, seconds, time.time())
        log.info("job.finished", job=spec.name, status=outcome.status, seconds=round(seconds, 3))
        return outcome

    def done_since(self, kind: str, since: datetime) -> bool:
        return any(r.status in DONE and _aware(r.started_at) >= since for r in self.store.runs(limit=10, kind=kind))

    def _close_orphans(self, kind: str, reason: str) -> None:
        for row in self.store.runs(limit=20, kind=kind):
            if row.status == "running":
                log.warning("job.orphan_closed", job=kind, run_id=row.id)
                self.store.finish_run(row.id, "interrupted", row.stats or {}, reason)

    def _record_failure_if_missing(self, kind: str, since: datetime, error: str) -> None:
        if not any(_aware(r.started_at) >= since for r in self.store.runs(limit=5, kind=kind)):
            self.store.finish_run(self.store.start_run(kind), "failed", {}, error)

    def running(self) -> list[str]:
        with self._idle:
            return sorted(self._running)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job runs here (at most ``timeout`` seconds); ``True`` when idle."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout=timeout)

    def interrupt_running(self, reason: str) -> list[str]:
        """Record every job still running here as interrupted (we hold their locks, so the rows are ours)."""
        names = self.running()
        for name in names:
            self._close_orphans(name, reason)
        return names


class JobScheduler:
    """APScheduler's BackgroundScheduler set up for our jobs: coalesced, never overlapping, misfire grace."""

    def __init__(self, runner: JobRunner, jobs: list[JobSpec]):
        self.runner, self.jobs = runner, jobs
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=len(jobs) + 1)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )

    def start(self) -> None:
        now = datetime.now(UTC)
        for spec in self.jobs:
            assert spec.schedule is not None
            trigger = build_trigger(spec.schedule)
            tick = last_tick(trigger, now)
            overdue = tick is None or not self.runner.done_since(spec.name, tick)
            grace = max(1, spec.schedule.misfire_grace_seconds)
            self._scheduler.add_job(
                self.runner.run_scheduled, trigger, args=[spec], id=spec.name, misfire_grace_time=grace
            )
            if overdue:  # a one-off catch-up run: the regular job keeps its aligned ticks
                self.runner.expect(spec.name)  # in flight from now, so a job that follows it waits for it
                self._scheduler.add_job(
                    self.runner.run_scheduled, "date", run_date=now, args=[spec, True], id=f"{spec.name}:catch-up",
                    misfire_grace_time=grace,
                )
            log.info("job.scheduled", job=spec.name, overdue=overdue, interval_seconds=interval_of(spec.schedule, now))
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop firing; jobs already running carry on (the caller decides how long to wait for them)."""
        self._scheduler.shutdown(wait=False)
