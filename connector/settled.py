"""A settled cycle: nothing a score cycle reads has changed since the last complete one, the same UTC day.

Why skip it: scoring is a function of the store's data, the configuration and the UTC *day* (every clock
of the model counts whole days: ages, waits, windows, due dates; ``tests/integration/
test_resync_time_of_day.py`` re-scores the same world at 23:55 after a 00:07 sync and it writes nothing).
So a cycle that finds the same data, configuration and day as the last complete one would compute the
same outputs and tasks, and every sink would diff them to nothing: load, score, persist and three diffs
of every account (seconds at 10k accounts, minutes at 100k) for zero writes.  Skipped, a quiet cycle costs
its pulls and one look at two ``store_meta`` rows, and the score history stops growing by a row per
account per quiet cycle.

What "the same" is made of:

* **data**: :meth:`Store.inputs_version`, a token the store renews in the transaction of every write to
  what a cycle reads (accounts, signals, identity matches, the task ledger and its read-back, source
  replicas).  A pull that re-reads unchanged records writes none of them, so it keeps the token.
* **configuration**: :func:`configuration_fingerprint` (the config's values, the success model, mappings
  and identity overrides as files, the connector's version).
* **day**: the UTC date; the first cycle of a day scores every account (waits fall due, windows move).

Recorded only by a complete run (every source and sink without an error, no record refused, no drift
left, not a dry run, not a run for some accounts): a write to retry or a person's edit to report is never
skipped.  The token recorded is the one read *before* scoring, so data written while the run scored (a
pull job beside it) is scored by the next cycle.  ``sync --full`` always scores.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from connector.config import Config
from connector.store import Store

#: ``store_meta`` key of the last complete cycle: its run, day, data token and configuration fingerprint.
SETTLED_META = "cycle.settled"
#: Config fields naming files whose *content* decides outputs (data files are read by pulls; secret files
#: are never read here, so not even a hash of a secret lands in the store).
_DECISIVE_FIELDS = frozenset({"mapping", "success_model", "overrides"})


@dataclass(frozen=True)
class CycleKey:
    """What a cycle's outputs are a function of, besides the data's token."""

    day: str
    inputs: str | None
    configuration: str

    def same_as(self, recorded: dict[str, Any]) -> bool:
        return (self.inputs is not None and recorded.get("day") == self.day and recorded.get("inputs") == self.inputs
                and recorded.get("configuration") == self.configuration)


def cycle_key(store: Store, config: Config, now: datetime) -> CycleKey:
    return CycleKey(now.astimezone(UTC).date().isoformat(), store.inputs_version(), configuration_fingerprint(config))


def recorded_cycle(store: Store) -> dict[str, Any] | None:
    """The last complete cycle as recorded (run, time, day, token, configuration), or None (none yet,
    cleared by a cycle that has scored since, or a hand-edited value)."""
    raw = store.meta(SETTLED_META)
    try:
        recorded = json.loads(raw) if raw else None
    except ValueError:  # a hand-edited or truncated value: score, and record a good one after
        return None
    return recorded if isinstance(recorded, dict) else None


def settled_since(store: Store, key: CycleKey) -> dict[str, Any] | None:
    """The last complete cycle (``run_id``, ``at``) when ``key`` is what it saw; None when this cycle must score."""
    recorded = recorded_cycle(store)
    return recorded if recorded is not None and key.same_as(recorded) else None


def clear_settled(store: Store) -> None:
    """A cycle is about to change engine states: until it completes, no cycle may count on the last record
    (neither to skip nor to score only what changed since it)."""
    store.set_meta(SETTLED_META, "")


def record_settled(store: Store, key: CycleKey, run_id: int, now: datetime,
                   consumed: tuple[tuple[int, int], ...] = ()) -> None:
    """Record a complete cycle; ``consumed`` are the change marks it read before scoring (see
    :mod:`connector.incremental`): scored, so dropped."""
    store.set_meta(SETTLED_META, json.dumps({"run_id": run_id, "at": now.astimezone(UTC).isoformat(),
                                             "day": key.day, "inputs": key.inputs,
                                             "configuration": key.configuration}))
    store.forget_changes(consumed)


def configuration_fingerprint(config: Config) -> str:
    """SHA-256 of the config's values, the content of every model, mapping and overrides file it names,
    and the connector's version: a change to any of them scores every account again."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256(config.model_dump_json().encode())
    for path in sorted(_decisive_files(config)):
        digest.update(str(path).encode())
        digest.update(path.read_bytes() if path.is_file() else b"<absent>")
    with suppress(PackageNotFoundError):  # run from a source tree without an install: the files still count
        digest.update(version("cs-connector").encode())
    return digest.hexdigest()


def _decisive_files(model: BaseModel) -> set[Path]:
    found: set[Path] = set()
    for name in type(model).model_fields:
        value = getattr(model, name)
        values = value.values() if isinstance(value, dict) else [value]
        for v in values:
            if isinstance(v, Path) and name in _DECISIVE_FIELDS:
                found.add(v)
            elif isinstance(v, BaseModel):
                found |= _decisive_files(v)
    return found
