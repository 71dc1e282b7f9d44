"""Which accounts a score cycle re-scores: every account, or only those whose inputs changed today.

Why it is exact: an account's result is a function of its own inputs and engine state, the configuration,
the UTC day and the day's cross-account facts (:mod:`connector.scoring.day_facts`: the noise band and the
per-owner cap, measured by the day's first cycle and read by every later one).  So once a *complete* cycle
has scored every account today (the settled record, :mod:`connector.settled`), a later cycle the same day
only needs the accounts whose inputs were written since that cycle read the change marks
(:meth:`Store.pending_changes`): every other account would score exactly as it did, and every sink would
diff it to nothing.  ``tests/scoring/test_incremental_equals_full.py`` checks it on random change sets.

Every account is scored when: it is the day's first cycle (waits fall due, windows move), the
configuration changed, the last scoring run was not complete (a write to retry may sit on any account),
``sync --full``, a write touched every account (a source's signals dropped wholesale), or more than
:data:`SUBSET_SHARE` of the accounts changed (then one pass over all of them is the cheaper read).

The settled record is cleared before a cycle scores and written again only when it completes: a crash,
a failed sink or a run for some accounts leaves none, so the next cycle scores every account.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.scoring.day_facts import DAY_FACTS_META, DayFacts
from connector.settled import CycleKey, recorded_cycle
from connector.store import Store

#: Above this share of changed accounts a cycle scores all of them: one sequential read beats many lookups.
SUBSET_SHARE = 0.25


@dataclass(frozen=True)
class Scope:
    """What one score cycle covers, and why."""

    only: frozenset[str] | None  # None: every account
    facts: DayFacts | None       # the day's facts when an earlier cycle today made them
    consumed: tuple[tuple[int, int], ...] = ()  # the change marks this cycle scores: forgotten once complete
    since_run: int | None = None  # the complete cycle a subset is measured against
    accounts: int = 0             # every account in the store, when a subset was chosen against it

    def describe(self) -> dict[str, int | None]:
        """For the run's record: how many accounts were scored because they changed, against which run."""
        return {"changed": len(self.only or ()), "accounts": self.accounts, "since_run": self.since_run}


def cycle_scope(store: Store, key: CycleKey, *, full: bool) -> Scope:
    """Decide the scope of a whole cycle about to score (the settled check has already said it must)."""
    facts = day_facts(store, key)
    recorded = recorded_cycle(store)
    subset_possible = (not full and facts is not None and recorded is not None and recorded.get("day") == key.day
                       and recorded.get("configuration") == key.configuration)
    pending = store.pending_changes(accounts=subset_possible)
    changed = pending.accounts
    if not subset_possible or recorded is None or changed is None:
        return Scope(None, facts, pending.runs)
    total = store.account_count()
    if len(changed) > SUBSET_SHARE * max(total, 1):
        return Scope(None, facts, pending.runs)
    return Scope(frozenset(changed), facts, pending.runs, int(recorded["run_id"]), total)


def day_facts(store: Store, key: CycleKey) -> DayFacts | None:
    """The day's facts for a run outside the cycle (a dry run, a run for some accounts), when they hold."""
    facts = DayFacts.from_json(store.meta(DAY_FACTS_META))
    return facts if facts is not None and facts.holds_for(key.day, key.configuration) else None
