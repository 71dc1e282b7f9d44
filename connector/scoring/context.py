"""The values a play template can use, computed only when the template asks for them.

A run can open or close a hundred thousand tasks; building every placeholder (the drivers sentence
above all) for each would cost more than scoring itself.  ``str.format_map`` looks up only the names a
template uses, so :class:`TemplateContext` computes each one on first use and caches it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from connector.scoring.drivers import movement_phrase
from connector.scoring.inputs import day_to_date
from connector.scoring.milestones import NOT_YET, STATUS_LABELS
from connector.scoring.model import DIRECTIONS
from connector.scoring.quadrant import QUADRANTS

if TYPE_CHECKING:
    from connector.scoring.result import ScoringResult


def _num(value: float, default: float = 0.0) -> float:
    return default if math.isnan(value) else float(value)


class Shown(float):
    """A number as a template shows it: plain ``{vector}`` to the tenth (the CRM field's value), and any
    format spec (``{vector:.0f}``) applied to the exact value — as the drivers sentence and the priority
    reason format it.  Rounding twice disagreed with them: 82.54 became 82.5, then "82" (half to even)
    beside a trend line "Steady at 83"."""

    exact: float

    def __new__(cls, exact: float) -> Shown:
        shown = super().__new__(cls, round(exact, 1))
        shown.exact = exact
        return shown

    def __format__(self, spec: str) -> str:
        return format(self.exact, spec) if spec else format(float(self), spec)


def _name(r: ScoringResult, row: int) -> str:
    ins = r.inputs
    return (ins.names[row] if ins.names is not None else None) or str(ins.account_ids[row])


def _due(r: ScoringResult, row: int) -> Any:
    nxt = int(r.milestones.next[row])
    return (day_to_date(float(r.milestones.due_day[row, nxt])) if nxt >= 0 else None) or "—"


#: What ``{next_milestone}`` reads once every milestone of the path is reached.
PATH_COMPLETE = "their next Desired Outcome"


def _next_milestone_when(r: ScoringResult, row: int) -> str:
    """What follows the next milestone's name for a CSM: ", due <day> (<status>)".  A vendor opportunity
    (Expansion-ready, Advocate) that is "Not yet" gets no due day: it is never overdue, so a target day in
    the past would only read as a deadline the customer missed."""
    nxt = int(r.milestones.next[row])
    if nxt < 0:
        return " (every milestone on their path is reached: agree the next outcome with them)"
    status = int(r.next_status[row])
    if status == NOT_YET:
        return " (our opportunity, not yet reached; never overdue)"
    return f", due {_due(r, row)} ({STATUS_LABELS.get(status, '—')})"


def _quadrant(r: ScoringResult, row: int) -> str:
    q = int(r.quadrant.quadrant[row])
    return QUADRANTS[q] if q >= 0 else "quadrant unknown"


def _competitors(r: ScoringResult, row: int) -> str:
    col = r.columns("competitor_names")
    return (col.value_at(row) if hasattr(col, "value_at") else None) or "a competitor"


_VALUES: dict[str, Callable[[ScoringResult, int], Any]] = {
    "name": _name,
    "account_id": lambda r, row: str(r.inputs.account_ids[row]),
    "segment": lambda r, row: list(r.model.segments.values())[int(r.seg[row])].label,
    "stage": lambda r, row: r.milestone_name(row, int(r.milestones.stage[row]))
    or "not started (no milestone reached yet)",
    # a complete path reads as what comes next in a sentence ("recovery plan toward …", "the plan for …"),
    # not as a milestone called "path complete"
    "next_milestone": lambda r, row: r.milestone_name(row, int(r.milestones.next[row])) or PATH_COMPLETE,
    "next_milestone_due": _due,
    "next_milestone_status": lambda r, row: STATUS_LABELS.get(int(r.next_status[row]), "—"),
    "next_milestone_when": _next_milestone_when,
    "vector": lambda r, row: Shown(_num(r.vector.magnitude[row])),
    "velocity": lambda r, row: Shown(_num(r.vector.velocity[row])),
    "direction": lambda r, row: DIRECTIONS[int(r.vector.direction[row]) + 1],
    "movement": lambda r, row: movement_phrase(r.movement(row)),
    "confidence": lambda r, row: round(float(r.vector.confidence[row]) * 100),
    "drivers": lambda r, row: r.drivers(row),
    "quadrant": _quadrant,
    "arr": lambda r, row: _num(r.inputs.arr[row]),
    "days_to_renewal": lambda r, row: _num(r.inputs.renewal_date[row] - math.floor(r.today)),
    "renewal_date": lambda r, row: day_to_date(float(r.inputs.renewal_date[row])) or "—",
    "offer": lambda r, row: r.offer_text(row),
    "competitor_names": _competitors,
    "risk_flags": lambda r, row: ", ".join(f for f, on in zip(r.flag_names, r.flags[row], strict=True) if on)
    or "none",
}


class TemplateContext(Mapping[str, Any]):
    """Lazy mapping for ``format_map``; ``extra`` (play, step, channel, reason, bring) overrides."""

    def __init__(self, result: ScoringResult, row: int, **extra: Any):
        self._result, self._row = result, row
        self._cache: dict[str, Any] = dict(extra)

    def __getitem__(self, key: str) -> Any:
        if key not in self._cache:
            self._cache[key] = _VALUES[key](self._result, self._row)
        return self._cache[key]

    def __iter__(self) -> Iterator[str]:
        return iter({*_VALUES, *self._cache})

    def __len__(self) -> int:
        return len({*_VALUES, *self._cache})

    def set(self, key: str, value: Any) -> None:
        self._cache[key] = value
