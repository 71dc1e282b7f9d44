"""One sync run: pull → resolve identities → score → write.  Orchestration only; no business logic here.

Each stage's logic lives in its own package (``sources/``, ``identity``, ``scoring/``, ``sinks/``); this
module sequences them, persists what each produced, and keeps going when one part fails:

* a source that fails marks the run *partial* and the others still run (scores use the last good data);
* a sink that fails does not stop the other sinks;
* everything a stage produced is in the store before the next stage starts, so a crash at any point is
  recovered by simply running again (see docs/reliability.md).
"""

from __future__ import annotations

import contextvars
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from connector.batching import batched
from connector.config import Config
from connector.garbage import freeze_startup_objects, wide_young_generation
from connector.http import HttpLayer
from connector.identity import IdentityResolver, MatchReport, merge_signals, resolution_fingerprint
from connector.identity_overrides import load_for as load_overrides
from connector.incremental import Scope, cycle_scope, day_facts
from connector.memory import pin_mmap_threshold, release_free_memory
from connector.observe import RunObserver, StageStats
from connector.probes import describe_failure
from connector.records import Account, AccountOutput, Observation, Quarantined, TaskSpec
from connector.registry import crms, sinks_for, sources_for
from connector.safe_output import dumps, json_ready_column
from connector.scoring.day_facts import DAY_FACTS_META, DayFacts
from connector.scoring.output_table import OutputTable
from connector.secrets import redact
from connector.settled import clear_settled, cycle_key, record_settled, settled_since
from connector.sinks.base import SinkContext, SinkReport
from connector.sources.base import SourceContext
from connector.sources.windows import day_start, window_start
from connector.store import Store

if TYPE_CHECKING:
    from connector.scoring.model import SuccessModel
    from connector.scoring.point_prints import PointPrints
    from connector.scoring.state_prints import StatePrints
    from connector.store.columns import HistoryColumns

log = structlog.get_logger(__name__)

_BATCH = 2000
HISTORY_WINDOW = timedelta(days=120)

#: ``store_meta`` key of the identity fingerprint the last resolution was made against.
_IDENTITY_META = "identity.fingerprint"
#: ``store_meta`` key of the last identity report (match rates and examples), reused while no match changes.
_IDENTITY_REPORT_META = "identity.report"
#: ``store_meta`` key of the UTC day the store was last pruned (:meth:`SyncRunner._housekeeping`).
_HOUSEKEEPING_META = "housekeeping.day"
#: Unmatched or ambiguous records per source kept as examples in the run's identity report.
_EXAMPLES = 20


def history_since(now: datetime, model: SuccessModel) -> datetime:
    """The oldest score-history point a run reads: the velocity's window, at most :data:`HISTORY_WINDOW`.

    The history velocity uses only points at most ``velocity_window_days`` whole UTC days old (see
    :func:`~connector.scoring.vector.velocity_per_30d`), so reading from that day's midnight gives the same
    velocity as reading 120 days, at half the rows or less once a store holds months of daily points (a
    1M-account store adds a million a day).  A window of 120 days or more reads what it always read."""
    days = model.vector.velocity_window_days
    if timedelta(days=days) >= HISTORY_WINDOW:
        return now - HISTORY_WINDOW
    return window_start(now, days)


@dataclass
class SyncResult:
    """What a run did, for the CLI summary, ``--json`` and the runs table."""

    run_id: int
    status: str = "ok"
    dry_run: bool = False
    pulled: dict[str, dict[str, int]] = field(default_factory=dict)
    source_errors: dict[str, str] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    scored: int = 0
    tasks_planned: dict[str, int] = field(default_factory=dict)
    tasks_read_back: int = 0  # connector tasks the CRM changed since the last read (what CSMs did)
    tasks_deferred: int = 0  # new tasks the per-owner cap held back (they wait for the next run)
    task_backlog: list[dict[str, Any]] = field(default_factory=list)  # deferred per play and owner, oldest wait
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)
    sink_errors: dict[str, str] = field(default_factory=dict)
    calls: dict[str, Any] = field(default_factory=dict)
    plan_file: str | None = None
    forecast: dict[str, Any] = field(default_factory=dict)
    #: The earlier complete cycle whose scores and writes still stand (``run_id``, ``at``) when this one
    #: found nothing changed the same day and skipped scoring and writing (see :mod:`connector.settled`).
    settled: dict[str, Any] | None = None
    #: A cycle that scored only the accounts changed since the last complete one today: how many, of how
    #: many, since which run (see :mod:`connector.incremental`); None when it scored every account.
    incremental: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return json.loads(dumps(self.__dict__, default=str))


class SyncRunner:
    """Runs the pipeline for one config against one store; sources/sinks injectable for tests."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        http: HttpLayer | None = None,
        now: Callable[[], datetime] | None = None,
        sources: Sequence[Any] | None = None,
        sinks: Sequence[Any] | None = None,
        observer: RunObserver | None = None,
    ):
        from connector.scoring.model import load_model  # scoring is heavy; import when a run is made

        self.config, self.store = config, store
        self.http = http or HttpLayer()
        self._now = now or (lambda: datetime.now().astimezone())
        self.model = load_model(config.resolve(config.connector.success_model))
        self.sources = list(sources) if sources is not None else sources_for(config)
        self.sinks = list(sinks) if sinks is not None else sinks_for(config)
        #: Who watches the run: structured logs by default, a live display in a terminal (``cli.sync``).
        self.observer = observer or RunObserver()

    # -- the run --------------------------------------------------------------------------------------

    def run(
        self,
        *,
        dry_run: bool = False,
        full: bool = False,
        only_accounts: Iterable[str] | None = None,
        only_sources: Iterable[str] | None = None,
        pull_only: bool = False,
        kind: str | None = None,
    ) -> SyncResult:
        """One run.  The daemon splits the work into jobs: ``only_sources`` limits the pull (``[]`` pulls
        nothing), ``pull_only`` stops after the pull, ``kind`` names the run in the runs table."""
        pin_mmap_threshold()
        freeze_startup_objects()
        now = self._now()
        kind = kind or ("sync-dry-run" if dry_run else "sync")
        result = SyncResult(run_id=self.store.start_run(kind), dry_run=dry_run)
        structlog.contextvars.bind_contextvars(run_id=result.run_id)
        self.http.subscribe(self.observer)
        try:
            self.pull(now, full, result, only_sources)
            release_free_memory()  # each stage's leftovers would otherwise add up to the run's peak
            if not pull_only:
                self.resolve(result)
                release_free_memory()
                self.read_back(now, result, dry_run)
                self._score_and_write(now, result, dry_run=dry_run, full=full, only_accounts=only_accounts)
        except Exception as exc:
            result.status = "failed"
            self.store.finish_run(result.run_id, "failed", result.as_json(), redact(f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            self.http.unsubscribe(self.observer)
            result.calls = self.http.ledger.summary()
            self.observer.finished(result.calls)
            structlog.contextvars.unbind_contextvars("run_id")
            release_free_memory()  # a daemon idles between runs at what it holds, not at the run's peak
        if result.source_errors or result.sink_errors:
            result.status = "partial"
        self.store.finish_run(result.run_id, result.status, result.as_json())
        if not dry_run and not pull_only:
            self._housekeeping(now)
        return result

    def _housekeeping(self, now: datetime) -> None:
        """Once per UTC day, after a run that is neither a dry run nor a pull only: drop sync-log and
        quarantine rows and score-history points past their retention (``[connector]``
        ``sync_log_retention_days``, ``score_history_retention_days``).  The score history grows by a point
        per account per day, about 1 KB each (1 GB a day at a million accounts); nothing else bounds it.  A
        failure here is logged, not the run's: its work is done and the next day tries again."""
        day = day_start(now).date().isoformat()
        if self.store.meta(_HOUSEKEEPING_META) == day:
            return
        settings = self.config.connector
        try:
            removed = self.store.prune(settings.sync_log_retention_days, settings.score_history_retention_days,
                                       now=now)
            self.store.set_meta(_HOUSEKEEPING_META, day)
        except Exception as exc:  # housekeeping must not fail a finished run
            log.warning("store.prune_failed", error=redact(f"{type(exc).__name__}: {exc}"))
            return
        log.info("store.pruned", rows=removed, sync_log_days=settings.sync_log_retention_days,
                 score_history_days=settings.score_history_retention_days)

    def _score_and_write(self, now: datetime, result: SyncResult, *, dry_run: bool, full: bool,
                         only_accounts: Iterable[str] | None) -> None:
        """A whole cycle skips when settled, else scores every account or only those changed today
        (:mod:`connector.incremental`); a dry run or a run for some accounts scores what it was asked."""
        whole = not dry_run and only_accounts is None
        key = cycle_key(self.store, self.config, now)
        if whole and not full and (settled := settled_since(self.store, key)) is not None:
            result.settled = {"run_id": settled["run_id"], "at": settled["at"]}
            log.info("sync.settled", since_run=settled["run_id"], since=settled["at"])
            return
        if whole:
            scope = cycle_scope(self.store, key, full=full)
            clear_settled(self.store)  # until this cycle completes, no later one may count on the last complete one
            if scope.only is not None:
                result.incremental = scope.describe()
                log.info("sync.incremental", **result.incremental)
        else:
            scope = Scope(None if only_accounts is None else frozenset(only_accounts), day_facts(self.store, key))
        if scope.only is None or scope.only:
            outputs, tasks = self.score(now, result, persist=not dry_run, only=scope.only, facts=scope.facts,
                                        configuration=key.configuration)
            release_free_memory()  # the scoring result's arrays are gone: the sinks need only the outputs table
            self.write(now, outputs, tasks, dry_run, result)
        elif scope.facts is not None:  # nothing to score: the day's backlog still stands
            result.tasks_deferred, result.task_backlog = scope.facts.backlog_summary()
        if whole and self._complete(result):
            record_settled(self.store, key, result.run_id, now, scope.consumed)
        elif not whole and not dry_run and not self._complete(result):
            clear_settled(self.store)  # a write owed on these accounts: the next cycle scores and diffs all

    @staticmethod
    def _complete(result: SyncResult) -> bool:
        """Nothing left for a next cycle to retry or report: no source or sink error, no record refused,
        no run stopped by a budget, no drift (a person's edit is reported again until it is resolved)."""
        if result.source_errors or result.sink_errors:
            return False
        return not any(r.get("failures") or r.get("drift") or r.get("stopped_reason") for r in result.sinks.values())

    def pull(self, now: datetime, full: bool, result: SyncResult, only: Iterable[str] | None = None) -> None:
        wanted = set(only) if only is not None else None
        for source in self.sources:
            if wanted is not None and source.name not in wanted:
                continue
            counts: dict[str, int] = defaultdict(int)
            batches: dict[type, list[Any]] = {Account: [], Observation: [], Quarantined: []}

            def flush(batches: dict[type, list[Any]] = batches, counts: dict[str, int] = counts) -> None:
                self._flush(batches, result.run_id, counts)

            ctx = SourceContext(self.store, self.http, self.config, now, full, result.run_id, persist_yielded=flush)
            with self.observer.stage("pull", source.name) as stage:
                try:
                    self._drain(source.pull(ctx), batches, flush, stage)
                except Exception as exc:  # one broken source must not stop the others
                    result.source_errors[source.name] = describe_failure(source.name, self.config, exc)
                    log.error("source.failed", source=source.name, error=result.source_errors[source.name])
                    stage.fail(result.source_errors[source.name])
            result.pulled[source.name] = dict(counts)

    @staticmethod
    def _drain(items: Iterable[Any], batches: dict[type, list[Any]], flush: Callable[[], None],
               stage: StageStats) -> None:
        for item in items:
            stage.advance()
            batches[type(item)].append(item)
            if len(batches[type(item)]) >= _BATCH:
                flush()
        flush()

    def _flush(self, batches: dict[type, list[Any]], run_id: int, counts: dict[str, int]) -> None:
        counts["accounts"] += self.store.upsert_accounts(batches[Account])
        counts["observations"] += self.store.upsert_observations(batches[Observation])
        counts["quarantined"] += self.store.quarantine(run_id, batches[Quarantined])
        for batch in batches.values():
            batch.clear()

    def resolve(self, result: SyncResult) -> None:
        """Match observations to accounts, then rebuild the signals of the accounts whose matches or
        readings changed.

        Incremental: when the accounts' keys, the identity settings and the overrides are what the last
        resolution saw (:func:`resolution_fingerprint`), only records written since (``dirty``: new, other
        keys, other readings) are resolved, and only the accounts they fed before or feed now get their
        signals rebuilt; otherwise every record is.  Either way an account's signals are rebuilt from all
        its matched readings, source by source in the same order, so both give the same signals.
        """
        with self.observer.stage("resolve") as stage:
            result.identity = self._resolve(stage)

    def _resolve(self, stage: StageStats) -> dict[str, Any]:
        """Resolve, rebuild signals, and return the run's identity report (match rates and examples).

        The resolver's index (every account's keys, normalised) is built only when a record is to be
        resolved, and the report is read again only when a match may have changed: a quiet cycle at 100k
        accounts spent ~2 s on both to learn that nothing had."""
        keys = self.store.account_keys()
        overrides = load_overrides(self.config)
        resolver = cache(lambda: IdentityResolver.from_keys(keys, self.config.identity, overrides))
        fingerprint = resolution_fingerprint(keys, self.config.identity, overrides)
        full = self.store.meta(_IDENTITY_META) != fingerprint
        sources = self.store.observation_sources()
        touched: set[str] | None = None if full else set()
        settled: dict[str, list[tuple[str, str]]] = {}
        for source in sources:
            refs = settled[source] = []
            for matches in batched(self._matches(resolver, source, full, touched, refs), _BATCH):
                self.store.set_matches(matches)
                stage.advance(len(matches))
        for source in sources:  # every source in turn, as a full rebuild does: shared names resolve the same
            if touched is None:
                self.store.delete_signals(source)
            elif touched:
                self.store.delete_signals(source, sorted(touched))
            if touched is None or touched:
                merged = (signal for account_id, readings in self.store.matched_readings(
                              source, None if touched is None else touched)
                          for signal in merge_signals(account_id, source, readings))
                for signals in batched(merged, _BATCH):
                    self.store.replace_signals(signals)
            self.store.settle_observations(source, None if full else settled[source])
        self.store.set_meta(_IDENTITY_META, fingerprint)
        resolved = full or any(settled.values())
        if not resolved and (cached := self.store.meta(_IDENTITY_REPORT_META)):
            return dict(json.loads(cached))  # no match changed: the last report stands
        report = self._match_report(resolver(), sources)
        encoded = dumps({"rates": report.rates(),
                         "examples": {s: [m.__dict__ for m in ms[:5]] for s, ms in report.examples.items()}},
                        default=str)
        self.store.set_meta(_IDENTITY_REPORT_META, encoded)
        return dict(json.loads(encoded))  # the same shape a later cycle reads back

    def _matches(self, resolver: Callable[[], IdentityResolver], source: str, full: bool,
                 touched: set[str] | None, refs: list[tuple[str, str]]
                 ) -> Iterator[tuple[str, str, str, str | None, str]]:
        """``(source, entity, entity_id, account_id, match)`` for each of the source's records to resolve
        (every one, or only the dirty ones); notes the accounts they fed and now feed in ``touched``."""
        for entity, entity_id, keys, fed in self.store.observation_keys(source, dirty_only=not full):
            match = resolver().resolve(source, entity, entity_id, keys)
            if touched is not None:  # a full resolution settles the whole source at once: no list kept
                refs.append((entity, entity_id))
                touched.update(a for a in (fed, match.account_id) if a is not None)
            yield source, entity, entity_id, match.account_id, match.status

    def _match_report(self, resolver: IdentityResolver, sources: list[str]) -> MatchReport:
        """Match rates of every record as the store now holds them, and the first unmatched or ambiguous
        records of each source (in key order) with the keys tried, for ``connector check`` and the run."""
        report = MatchReport()
        for source, counts in self.store.match_counts().items():
            report.counts[source].update(counts)
        for source in sources:
            for entity, entity_id, keys in self.store.unmatched_observations(source, _EXAMPLES):
                report.examples[source].append(resolver.resolve(source, entity, entity_id, keys))
        return report

    def read_back(self, now: datetime, result: SyncResult, dry_run: bool) -> None:
        """Read what people did to the connector's tasks in the task CRM (completed, deleted, reassigned,
        re-dated) before scoring, so the plans respect it.  A failed read leaves the last evidence in place."""
        primary = self.config.connector.primary_crm
        sink = next((s for s in self.sinks if s.name == primary and hasattr(s, "read_back")), None)
        if sink is None or primary not in crms():
            return
        try:
            result.tasks_read_back = sink.read_back(SinkContext(self.store, self.http, self.config, now,
                                                                result.run_id, dry_run))
        except Exception as exc:  # the plans still run on the evidence read before
            result.sink_errors[f"{primary} task read-back"] = redact(f"{type(exc).__name__}: {exc}")
            log.error("tasks.read_back_failed", sink=primary, error=result.sink_errors[f"{primary} task read-back"])

    def evaluate(self, now: datetime, only: Iterable[str] | None = None, facts: DayFacts | None = None,
                 *, save_packs: bool = False, prints: StatePrints | None = None,
                 points: PointPrints | None = None) -> Any:
        """Score accounts (all, or ``only``) from the store without persisting: a ``ScoringResult``.
        ``facts``: the day's cross-account measures when an earlier cycle today made them; ``save_packs``,
        ``prints``, ``points``: see :meth:`scoring_inputs`."""
        from connector.scoring.engine import score

        inputs = self.scoring_inputs(now, only, save_packs=save_packs, prints=prints, points=points)
        if facts is not None:
            inputs = replace(inputs, day_facts=facts)
        return score(inputs, self.model, now, release_spent=True)  # these inputs are scored once

    def scoring_inputs(self, now: datetime, only: Iterable[str] | None = None, *, save_packs: bool = False,
                       prints: StatePrints | None = None, points: PointPrints | None = None) -> Any:
        """The engine's columns for accounts (all, or ``only``), read from the store.

        Accounts, signals and score history come as columns (one Core query each, no object per row);
        the score history only of the accounts the engine asks for (those whose state carries no trend yet:
        :meth:`ScoringInputs.history_of`), so a mature store does not read its largest table for nothing;
        engine states as packed rows.  Signals come from each account's pack where it has a current one,
        else from its rows (:mod:`connector.scoring.signal_packs`); ``save_packs`` saves the packs of the
        accounts read from rows (the sync's score stage: a dry run or ``explain`` leaves the store alone).
        ``prints`` keeps the print of each stored engine state as it is read, so that
        :meth:`save_states` writes only the states the run changed (:mod:`connector.scoring.state_prints`);
        ``points`` the digest of each account's point of today, so that :meth:`append_points` appends
        only the points that say something new (:mod:`connector.scoring.point_prints`).
        """
        from connector.scoring.days import day_number
        from connector.scoring.inputs import RowFinder, ScoringInputs, signal_batch
        from connector.scoring.packed_state import packed_parts
        from connector.scoring.signal_packs import read_signals
        from connector.scoring.touches import csm_task_signals

        ids = sorted(set(only)) if only is not None else None
        primary = self.config.connector.primary_crm
        accounts = self.store.account_columns(ids)
        find = RowFinder(accounts.account_id)
        read = read_signals(self.store, accounts.account_id, find, ids)
        if save_packs:
            self.store.save_signal_packs(read.fresh_blocks(accounts.account_id))
        table = read.table
        state_rows: Iterable[Sequence[tuple[str, str, bytes, str | None]]] = self.store.packed_state_rows(ids)
        if prints is not None:
            prints.start(find, len(accounts.account_id), day_number(now))
            state_rows = prints.tap(state_rows)
        if points is not None:  # today's last points, for their digests
            points.start(find, len(accounts.account_id), day_number(now))
            midnight = day_start(now)
            for _ in points.tap(self.store.history_columns(midnight, ids, digests_since=midnight)):
                pass
        since = history_since(now, self.model)

        def history(some: Sequence[str] | None) -> Iterable[HistoryColumns]:
            return self.store.history_columns(since, ids if some is None else some)

        if primary in crms():  # CSM time for the cost to serve, from the connector's own task ledger
            batch = signal_batch(csm_task_signals(self.store, primary, now))
            table.offer_rows(batch, find(batch.account_id))
        return ScoringInputs.from_columns(
            accounts,
            table,
            (),
            self.store.states_stream(ids),
            now,
            self.store.task_evidence(primary) if primary in crms() else (),
            packed=packed_parts(state_rows, self.store.state_layouts(), now.date()),
            find=find,
            history_reader=history,
        )

    def score(
        self, now: datetime, result: SyncResult, *, persist: bool, only: Iterable[str] | None = None,
        facts: DayFacts | None = None, configuration: str = "",
    ) -> tuple[Sequence[AccountOutput], list[TaskSpec]]:
        """Score, persist scores and engine state, and return the outputs (an :class:`OutputTable`) and the tasks.

        ``facts`` are the day's cross-account measures an earlier cycle today made (None: measure them);
        the facts after this run are saved with the engine states, under ``configuration``."""
        with self.observer.stage("score") as stage, wide_young_generation():
            return self._score(now, result, persist, only, facts, configuration, stage)

    def _score(self, now: datetime, result: SyncResult, persist: bool, only: Iterable[str] | None,
               facts: DayFacts | None, configuration: str,
               stage: StageStats) -> tuple[Sequence[AccountOutput], list[TaskSpec]]:
        from connector.scoring.point_prints import PointPrints
        from connector.scoring.state_prints import StatePrints

        prints, points = (StatePrints(), PointPrints()) if persist else (None, None)
        scored = self.evaluate(now, only, facts, save_packs=persist, prints=prints, points=points)
        release_free_memory()  # the kernel's temporaries, before the tasks and the outputs table are made
        tasks = self._with_unconfirmed(scored.tasks(), scored)
        result.scored = scored.inputs.n
        stage.advance(result.scored)
        after = scored.day_facts(configuration, whole=only is None)
        # A run of some accounts reports the day's whole backlog; the forecast only from a run of all of them
        # (the report shows the last run that has one).
        result.forecast = scored.forecast() if only is None else {}
        result.tasks_deferred, result.task_backlog = after.backlog_summary()
        for t in tasks:
            result.tasks_planned[f"{t.play}:{t.status}"] = result.tasks_planned.get(f"{t.play}:{t.status}", 0) + 1
        if persist:  # a run of some accounts never makes the day's facts: they are measured over every account
            self.save_states(scored, after if only is None or facts is not None else None, prints)
        # What only the states read goes before the outputs are made, and the rest when this returns: the
        # sinks read the outputs table (see OutputTable and ScoringResult.for_outputs).
        slim = scored.for_outputs()
        del scored
        release_free_memory()
        from connector.scoring.output_columns import output_table

        return (self.append_points(now, result.run_id, slim, points) if persist else output_table(slim)), tasks

    def save_states(self, scored: Any, facts: DayFacts | None = None, prints: StatePrints | None = None) -> None:
        """Save the accounts' engine states with the day's facts they were made with (one transaction: see
        :mod:`connector.scoring.day_facts`); with ``prints`` (taken as the states were read), only the
        states this run changed.

        Before the trend points, so that the trend sums, per-play clocks and the previous state (~110 MB at
        100k accounts) are let go before the outputs table is made.  A crash between the two leaves this
        run's states without its points: the next cycle scores every account (this one was not complete)
        and writes the day's point, the only point of the day the trend reads."""
        blocks = scored.packed_states()
        self.store.save_packed_states(blocks if prints is None else prints.changed(blocks),
                                      None if facts is None else {DAY_FACTS_META: facts.to_json()},
                                      accounts=scored.inputs.n)

    def append_points(self, now: datetime, run_id: int, scored: Any, points: PointPrints | None = None
                      ) -> OutputTable:
        """Append this run's point on each account's trend line (with ``points``, read with the history,
        not the points today's last point already holds); returns every account's outputs, made once, a
        block of accounts at a time (:func:`~connector.scoring.output_columns.output_columns`), as the
        points are written."""
        from connector.scoring.book import book_columns
        from connector.scoring.output_columns import output_blocks
        from connector.scoring.point_prints import STAMP, point_digest
        from connector.scoring.point_texts import point_texts

        table = OutputTable()

        def rows() -> Iterator[dict[str, Any]]:
            for start, stop, columns in output_blocks(scored, table):
                ready = {k: json_ready_column(c) for k, c in columns.items()}
                # the book: what the sources said, for `connector backtest`
                texts = point_texts(ready, book_columns(scored, start, stop))
                ids = table.account_ids[start:stop]
                vector, velocity, direction, confidence, quadrant = (columns[k] for k in (
                    "success_vector", "vector_velocity", "vector_direction", "vector_confidence", "quadrant"))
                stamps = ready[STAMP] if STAMP in ready else [None] * (stop - start)
                for i, text in enumerate(texts):
                    if vector[i] is None:  # no fresh input: no point on the trend line
                        continue
                    digest = point_digest(text, stamps[i])
                    if points is not None and points.already(start + i, digest):
                        continue  # today's last point says the same
                    yield {
                        "run_id": run_id,
                        "account_id": ids[i],
                        "scored_at": now,
                        "magnitude": vector[i],
                        "velocity": velocity[i],
                        "direction": direction[i],
                        "confidence": confidence[i],
                        "quadrant": quadrant[i],
                        "outputs": text,
                        "digest": digest,
                    }

        self.store.append_scores(rows(), accounts=scored.inputs.n)
        return table

    def _with_unconfirmed(self, tasks: list[TaskSpec], scored: Any) -> list[TaskSpec]:
        """Add the open tasks an earlier run planned but never got confirmed by the task CRM.

        The play state is saved when a run scores, so a crash or a failed sink between scoring and writing
        leaves tasks the state counts as open but the CRM never received; they are not "opened" again by
        later runs.  Planning them again until the task ledger confirms them makes task delivery
        at-least-once; their keys are stable, so a re-send upserts the same task.
        """
        primary = self.config.connector.primary_crm
        if primary not in crms():
            return tasks
        known = {t.key for t in tasks} | set(self.store.tasks(primary))
        return tasks + scored.tasks(include_unchanged=True, skip=known)

    def write(
        self, now: datetime, outputs: Sequence[AccountOutput], tasks: list[TaskSpec], dry_run: bool,
        result: SyncResult,
    ) -> None:
        """Every sink writes at the same time: they are different vendors with their own limits and share
        nothing but the state store, so the stage takes the slowest sink's time, not the sum.  Results are
        gathered in the configured order, so reports and plan files do not depend on who finished first."""
        ctx = SinkContext(self.store, self.http, self.config, now, result.run_id, dry_run)
        planned: list[dict[str, Any]] = []
        primary = self.config.connector.primary_crm

        def run(sink: Any) -> SinkReport | str:
            sink_tasks = tasks if sink.name == primary and sink.name in crms() else []
            with self.observer.stage("write", sink.name) as stage:
                try:
                    report: SinkReport = sink.write(ctx, outputs, sink_tasks)
                except Exception as exc:
                    error = describe_failure(sink.name, self.config, exc)
                    log.error("sink.failed", sink=sink.name, error=error)
                    stage.fail(error)
                    return error
                stage.records = report.records_updated
                return report

        with ThreadPoolExecutor(max_workers=max(1, len(self.sinks)), thread_name_prefix="sink") as pool:
            # each thread gets its own copy of the context: log lines keep the run id bound to it
            futures = [pool.submit(contextvars.copy_context().run, run, sink) for sink in self.sinks]
            done = [f.result() for f in futures]
        for sink, report in zip(self.sinks, done, strict=True):
            if isinstance(report, str):
                result.sink_errors[sink.name] = report
                continue
            result.sinks[sink.name] = report.as_json()
            if dry_run:  # the task columns say what *would* happen, as the plan file does
                actions = Counter(p.action for p in report.planned)
                result.sinks[sink.name].update(tasks_created=actions["create_task"],
                                               tasks_updated=actions["update_task"],
                                               tasks_closed=actions["close_task"])
            planned.extend(p.as_json() for p in report.planned)
        if dry_run:
            result.plan_file = str(self._write_plan(result.run_id, planned))

    def _write_plan(self, run_id: int, planned: list[dict[str, Any]]) -> Path:
        out_dir = self.config.resolve(self.config.connector.output_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"dry-run-{run_id}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for line in planned:
                fh.write(dumps(line, ensure_ascii=False, default=str) + "\n")
        return path
