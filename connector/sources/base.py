"""The source protocol: a source yields accounts, observations and quarantined records, nothing else.

Like a dlt source or a Singer stream, a source is a small module whose only job is to read one system and
turn what it reads into plain records (:mod:`connector.records`).  It does not resolve identities, score,
or write anywhere but its own cursor and replica in the state store.

State semantics (written down once, for every source):

* Cursors only move forward, and move in the same transaction as the rows they cover
  (:meth:`Store.upsert_replica` with ``cursor=``), so a crash replays at most one page.
* Per-entity aggregates are recomputed from the replica for groups marked dirty, and the dirty marks are
  cleared by the source only after it has yielded those observations.  Progress is saved through the
  context (:meth:`SourceContext.set_cursor`, :meth:`SourceContext.clear_dirty`, like dlt's declared
  cursor), which first persists what the source yielded so far: a crash between the two recomputes
  rather than loses.
* ``ctx.full`` ignores cursors (a full re-read), e.g. after a mapping change.
* A record that cannot be used is yielded as :class:`Quarantined` with a reason; the pull goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from connector.config import Config
from connector.http import HttpLayer
from connector.records import Account, Observation, Quarantined
from connector.store import Store

SourceItem = Account | Observation | Quarantined


@dataclass
class SourceContext:
    store: Store
    http: HttpLayer
    config: Config
    now: datetime
    full: bool = False
    run_id: int | None = None
    #: Persists the records the source yielded so far; the sync sets it (nothing to do for a bare pull).
    persist_yielded: Callable[[], None] = lambda: None

    def set_cursor(self, source: str, stream: str, value: str) -> None:
        """Save progress: what was yielded is persisted first, then the cursor moves past it."""
        self.persist_yielded()
        self.store.set_cursor(source, stream, value)

    def clear_dirty(self, source: str, stream: str, groups: Iterable[str] | None = None) -> None:
        """Save progress: the observations recomputed for ``groups`` are persisted, then their marks cleared."""
        self.persist_yielded()
        self.store.clear_dirty(source, stream, groups)


class Source(Protocol):
    name: str

    def pull(self, ctx: SourceContext) -> Iterator[SourceItem]:
        """Read what changed since the cursor and yield records; keep the cursor in ``ctx.store``."""
        ...
