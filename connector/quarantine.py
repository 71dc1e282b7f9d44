"""Quarantined records as an admin works them: what is bad now, why, and "I fixed it, read it again".

A source yields a record it cannot use as ``Quarantined`` with a reason and the sync goes on (see
``sources/base.py``); every time the record is read and still bad, another row is kept.  This module turns
those rows into one line per record (:func:`open_items`), counts them by source and kind of reason for
``connector status`` (:func:`by_reason`), and re-reads them after the data is fixed (:func:`retry`).

Why a retry is a forced re-read of the source: a fix does not always move the record past the source's
cursor (a value corrected in place, an export that skipped it, a connector-side rule fixed by an upgrade),
and the sources read incrementally by design.  ``full`` makes the source read everything again, so the
fixed record is validated afresh and, when good, reaches its account's signals in the same run; the records
still bad are quarantined again by that run with their current reason, and only the older rows of the
sources that re-read cleanly are cleared.  It costs one full read of those sources, which is why it is an
explicit admin command and not something the scheduler does.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from connector.config import Config
from connector.store import Store

#: Rows read per listing; an admin works through the newest first.
LIMIT = 10_000
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\d+")


def reason_kind(reason: str) -> str:
    """``ticket 4711: unknown status 'bogus'`` → ``ticket N: unknown status …``: one bucket per kind."""
    return _NUMBER.sub("N", _QUOTED.sub("…", reason))[:160]


def open_items(store: Store, sources: Iterable[str] | None = None, limit: int = LIMIT) -> list[dict[str, Any]]:
    """One entry per quarantined record (newest reason first), with how often and since when it was seen."""
    wanted = set(sources) if sources else None
    items: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for row in store.quarantined(limit=limit):  # newest first
        if wanted is not None and row.source not in wanted:
            continue
        key = (row.source, row.entity, row.entity_id)
        item = items.get(key)
        if item is None:
            items[key] = {"source": row.source, "entity": row.entity, "entity_id": row.entity_id,
                          "reason": row.reason, "seen": 1, "first_seen": row.created_at,
                          "last_seen": row.created_at, "last_run": row.run_id}
        else:
            item["seen"] += 1
            item["first_seen"] = row.created_at
    return list(items.values())


def by_reason(store: Store, limit: int = LIMIT) -> dict[str, dict[str, int]]:
    """source → kind of reason → records (each record counted once, under its latest reason)."""
    counts: dict[str, Counter[str]] = {}
    for item in open_items(store, limit=limit):
        counts.setdefault(item["source"], Counter())[reason_kind(item["reason"])] += 1
    return {source: dict(c.most_common()) for source, c in sorted(counts.items())}


def retry(config: Config, sources: Iterable[str] | None = None, *, now: datetime | None = None,
          dry_run: bool = False) -> dict[str, Any]:
    """Re-read the sources holding quarantined records, then clear what that re-read no longer rejects."""
    from connector.runtime import open_store, run_sync

    store = open_store(config)
    try:
        items = open_items(store, sources)
        before = max((r.id for r in store.quarantined(limit=1)), default=0)
    finally:
        store.close()
    enabled = set(config.enabled_systems())
    targets = sorted({i["source"] for i in items} & enabled)
    outcome: dict[str, Any] = {"retried": len(items), "sources": targets, "skipped_sources":
                               sorted({i["source"] for i in items} - enabled), "run_id": None, "status": None,
                               "cleared": 0, "fixed": 0, "still_quarantined": [], "source_errors": {}}
    if not targets or dry_run:
        return outcome
    result = run_sync(config, full=True, only_sources=targets, now=now, kind="quarantine-retry")
    store = open_store(config)
    try:
        clean = [s for s in targets if s not in result.source_errors]
        cleared = store.clear_quarantine(clean, up_to_id=before)
        again = [i for i in open_items(store, targets) if i["last_run"] == result.run_id]
        bad = {(i["source"], i["entity"], i["entity_id"]) for i in again}
        fixed = [i for i in items if i["source"] in clean and (i["source"], i["entity"], i["entity_id"]) not in bad]
        outcome.update(run_id=result.run_id, status=result.status, source_errors=result.source_errors,
                       cleared=cleared, fixed=len(fixed), still_quarantined=again)
    finally:
        store.close()
    return outcome
