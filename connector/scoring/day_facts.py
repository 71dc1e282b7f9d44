"""The model's two cross-account measures, fixed for a UTC day: what lets a cycle score only what changed.

Every other part of the model reads one account's own inputs and state, and the UTC day.  Two parts read
other accounts:

* the **noise band**: the point noise is the robust spread of day-over-day changes over every account of a
  segment (:func:`connector.scoring.trend.segment_noise`);
* the **per-owner daily cap** of new tasks: how many tasks an owner was given today decides whether one
  more fits (:mod:`connector.scoring.plan_steps`).

Both are *day* measures, so they are measured once, by the day's first cycle, and every later cycle the
same day reads them from here (``store_meta``, written in the transaction of the engine states they were
made with).  Then an account's result depends only on its own inputs, its own state and these facts, so
re-scoring only the accounts whose inputs changed gives exactly what re-scoring every account would
(``tests/scoring/test_incremental_equals_full.py``).  What it means for the people reading the CRM:

* the band an account's direction is judged against does not shift during the day because *other*
  accounts changed;
* the cap counts the tasks *opened* today, including one a CSM already completed: "at most 5 new tasks a
  day" means five given, not five open at once (a completed task does not make room for a sixth the same
  day; the backlog is offered again the next day).

The day's **backlog** (new tasks the cap held back, per account) is kept here too, so a cycle that scores
a few accounts still reports the whole day's backlog.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: ``store_meta`` key: the facts of the day the engine states were last saved on.
DAY_FACTS_META = "scoring.day_facts"


@dataclass(frozen=True)
class DayFacts:
    """One UTC day's cross-account measures, for one configuration."""

    day: str                      # ISO date
    configuration: str            # the configuration fingerprint they were measured under
    noise: dict[str, float]       # segment key → point noise (points)
    opened: dict[str, int]        # owner group ("owner:<id>" / "route:<name>") → new tasks given today
    #: account id → ``[play, owner label, days waiting]`` per new task the cap held back today.
    backlog: dict[str, list[list[Any]]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"day": self.day, "configuration": self.configuration, "noise": self.noise,
                           "opened": self.opened, "backlog": self.backlog}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | None) -> DayFacts | None:
        """The stored facts, or None when absent or unreadable (a hand-edited value): the cycle measures anew."""
        try:
            data = json.loads(raw) if raw else None
            if not isinstance(data, dict):
                return None
            return cls(str(data["day"]), str(data["configuration"]),
                       {str(k): float(v) for k, v in data["noise"].items()},
                       {str(k): int(v) for k, v in data["opened"].items()},
                       {str(k): [list(e) for e in v] for k, v in (data.get("backlog") or {}).items()})
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def holds_for(self, day: str, configuration: str) -> bool:
        return self.day == day and self.configuration == configuration

    def backlog_summary(self) -> tuple[int, list[dict[str, Any]]]:
        return backlog_summary(self.backlog)


def backlog_summary(backlog: Mapping[str, list[list[Any]]]) -> tuple[int, list[dict[str, Any]]]:
    """How many new tasks wait, and per (play, owner) how many and the oldest wait (the run report's form),
    from per-account entries ``[play, owner, days waiting]``."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    count = 0
    for entries in backlog.values():
        for play, owner, waited in entries:
            entry = out.setdefault((play, owner), {"play": play, "owner": owner, "deferred": 0,
                                                   "oldest_waiting_days": 0})
            entry["deferred"] += 1
            entry["oldest_waiting_days"] = max(entry["oldest_waiting_days"], int(waited))
            count += 1
    return count, sorted(out.values(), key=lambda e: (-e["deferred"], e["play"], e["owner"]))


def merged_backlog(before: Mapping[str, list[list[Any]]] | None, scored: Iterable[str],
                   now: Mapping[str, list[list[Any]]]) -> dict[str, list[list[Any]]]:
    """The day's backlog after a run: earlier entries of accounts this run did not score, and this run's."""
    ids = set(scored)
    kept = {a: e for a, e in (before or {}).items() if a not in ids}
    kept.update(now)
    return dict(sorted(kept.items()))
