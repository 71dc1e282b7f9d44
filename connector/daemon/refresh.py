"""Targeted refreshes: a verified webhook event → its account → pull that source, re-score and write it.

Events are coalesced per source while a refresh runs, so a burst of fifty Stripe events for ten
customers becomes one refresh of ten accounts, not fifty runs.  A refresh takes the locks of its
source's pull *and* of the score-and-write cycle: it pulls (like the pull job) and writes (like the
cycle), and must never overlap either — that is what keeps a refresh and a cycle from both creating the
same task.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import defaultdict

import structlog

from connector.config import Config
from connector.daemon.metrics import DaemonMetrics
from connector.daemon.pipeline import Pipeline
from connector.daemon.scheduler import JobRunner, JobSpec
from connector.daemon.webhooks import Event
from connector.store import Store

log = structlog.get_logger(__name__)

#: The source entity each vendor's event ids name (Stripe ``cus_…`` ids are unique in any entity).
ENTITIES: dict[str, tuple[str, ...] | None] = {"stripe": None, "zendesk": ("organization",), "hubspot": ("company",)}


def accounts_for(store: Store, config: Config, vendor: str, entity_ids: set[str]) -> set[str]:
    """The accounts whose matched observations carry these entity ids (the primary CRM's ids are accounts)."""
    if vendor == config.connector.primary_crm:
        return {a.account_id for a in store.accounts()} & entity_ids
    entities = ENTITIES.get(vendor)
    return {
        row.account_id
        for row in store.observations(vendor)
        if row.entity_id in entity_ids
        and row.account_id is not None
        and row.match == "matched"
        and (entities is None or row.entity in entities)
    }


class RefreshWorker:
    """One thread draining the event queue; refreshes are serialised with the jobs through the locks."""

    def __init__(
        self,
        config: Config,
        store: Store,
        pipeline: Pipeline,
        runner: JobRunner,
        metrics: DaemonMetrics,
        *,
        lock_wait_seconds: float,
    ):
        self.config, self.store, self.pipeline, self.runner, self.metrics = config, store, pipeline, runner, metrics
        self.lock_wait = lock_wait_seconds
        self._queue: queue.Queue[Event] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="webhook-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def enqueue(self, event: Event) -> None:
        self._queue.put(event)

    def pending(self) -> int:
        return self._queue.qsize()

    def _loop(self) -> None:
        while not self.runner.stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            by_vendor: dict[str, list[Event]] = defaultdict(list)
            for event in batch:
                by_vendor[event.vendor].append(event)
            for vendor, events in by_vendor.items():
                try:
                    self._refresh(vendor, events)
                except Exception as exc:  # a bad batch must not kill the worker
                    log.error("refresh.failed", vendor=vendor, error=f"{type(exc).__name__}")

    def _refresh(self, vendor: str, events: list[Event]) -> None:
        ids = {e.entity_id for e in events if e.entity_id}
        accounts = sorted(accounts_for(self.store, self.config, vendor, ids))
        if not accounts:
            log.info("refresh.unmatched", vendor=vendor, entities=len(ids))
            self.metrics.webhooks.labels(vendor, "unmatched").inc(len(events))
            return
        kind = f"webhook:{vendor}"
        spec = JobSpec(
            kind,
            (f"pull:{vendor}", "score_and_write"),
            lambda: self.pipeline.refresh(vendor, accounts, kind=kind),
        )
        outcome = self.runner.execute(spec, since=None, wait_seconds=self.lock_wait)
        if outcome is not None:
            done = time.monotonic()
            for event in events:
                self.metrics.refresh_latency.labels(vendor).observe(done - event.received_at)
            log.info("refresh.done", vendor=vendor, accounts=len(accounts), status=outcome.status)
