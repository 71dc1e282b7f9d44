"""What the daemon's jobs do, behind one small protocol so the daemon can be tested without the vendors.

The daemon never calls sources, scoring or sinks itself: it decides *when* and *where* (which instance)
work happens, and a :class:`Pipeline` does the work.  The default, :class:`SyncPipeline`, goes through
:func:`connector.runtime.run_sync` — exactly the code path of ``connector sync`` — so a scheduled cycle and
a manual sync cannot drift apart.  Tests inject a fake pipeline that sleeps and writes marker rows.

Contract every pipeline keeps (the daemon's takeover and shutdown logic rely on it): each call records one
run of the given ``kind`` in the store's runs table (``Store.start_run`` before any work, ``finish_run``
after), and commits its work in batches, so a run cut short resumes from its last committed batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from connector.config import Config
from connector.http import Call


@dataclass(frozen=True)
class RunOutcome:
    """What one job run did, in the units /metrics reports."""

    status: str
    records_written: Mapping[str, int] = field(default_factory=dict)
    tasks_created: Mapping[str, int] = field(default_factory=dict)
    quarantined: Mapping[str, int] = field(default_factory=dict)
    rate_limit_wait_seconds: Mapping[str, float] = field(default_factory=dict)
    settled: bool = False  # nothing had changed since the last complete cycle today: scoring and writes skipped
    scored: int = 0  # accounts scored
    incremental: bool = False  # only the accounts changed since the last complete cycle today were scored


class Pipeline(Protocol):
    """The three kinds of work the daemon schedules or triggers."""

    def pull(self, source: str, *, kind: str) -> RunOutcome:
        """Pull one source into the store (no scoring, no writes)."""
        ...

    def score_and_write(self, *, kind: str) -> RunOutcome:
        """Resolve identities, score every account and write the changes."""
        ...

    def refresh(self, source: str, accounts: Sequence[str], *, kind: str) -> RunOutcome:
        """Pull ``source``, then re-score and write only ``accounts`` (a webhook's targeted run)."""
        ...


def outcome_of(result: Any) -> RunOutcome:
    """A :class:`RunOutcome` from a :class:`connector.sync.SyncResult`."""
    sinks: dict[str, dict[str, Any]] = result.sinks
    return RunOutcome(
        status=result.status,
        records_written={name: int(r.get("records_updated", 0)) for name, r in sinks.items()},
        tasks_created={name: int(r.get("tasks_created", 0)) for name, r in sinks.items()},
        quarantined={name: int(c.get("quarantined", 0)) for name, c in result.pulled.items()},
        rate_limit_wait_seconds={
            name: float(c.get("rate_limit_wait_seconds", 0.0)) for name, c in (result.calls or {}).items()
        },
        settled=result.settled is not None,
        scored=int(result.scored or 0),
        incremental=result.incremental is not None,
    )


class SyncPipeline:
    """The real pipeline: every job is one :func:`connector.runtime.run_sync` with its own HTTP layer.

    A fresh :class:`~connector.http.HttpLayer` per run keeps each run's ledger (and its summary in the runs
    table) to that run; ``on_call`` is attached to every ledger so /metrics sees each API call live.
    """

    def __init__(self, config: Config, on_call: Callable[[Call], None] | None = None):
        self.config = config
        self.on_call = on_call

    def _run(self, **kwargs: Any) -> RunOutcome:
        from connector.runtime import http_layer, run_sync

        layer = http_layer(self.config)
        if self.on_call is not None:
            layer.ledger.listeners.append(self.on_call)
        return outcome_of(run_sync(self.config, http=layer, **kwargs))

    def pull(self, source: str, *, kind: str) -> RunOutcome:
        return self._run(only_sources=[source], pull_only=True, kind=kind)

    def score_and_write(self, *, kind: str) -> RunOutcome:
        return self._run(only_sources=[], kind=kind)

    def refresh(self, source: str, accounts: Sequence[str], *, kind: str) -> RunOutcome:
        return self._run(only_sources=[source], only_accounts=list(accounts), kind=kind)
