"""``score(inputs, model, now)``: the whole success model over every account, as pure column operations.

Order matters and is the only orchestration here: the vector first (it needs only signals and history),
then milestones (their ETA uses the direction), then the quadrant and risk flags, then plays — which may
test any of the above as *facts* (``vector_direction``, ``next_milestone_status`` …) — and finally the
forecast on demand.  Nothing here reads a clock, a file or the network: the same inputs give the same
result, which is what makes it testable and safe to re-run.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from connector.scoring.conditions import Categorical, Columns
from connector.scoring.inputs import ScoringInputs, day_number
from connector.scoring.milestones import AT_RISK, NONE, NOT_YET, ON_TRACK, OVERDUE, compute_milestones
from connector.scoring.model import DIRECTIONS, SuccessModel
from connector.scoring.plays import run_plays
from connector.scoring.priority import priority_levels
from connector.scoring.quadrant import QUADRANTS, compute_quadrant, risk_flags
from connector.scoring.result import ScoringResult
from connector.scoring.validate import signal_kinds
from connector.scoring.vector import compute_vector, numeric_signals

NEXT_STATUSES = ("On track", "At risk", "Overdue", "Not yet")


def segment_rows(segment: Categorical, model: SuccessModel) -> np.ndarray:
    """Model segment index per account: CRM value matched against key, label and ``match`` (any case)."""
    lookup: dict[str, int] = {}
    for i, (key, seg) in enumerate(model.segments.items()):
        for alias in (key, seg.label, *seg.match):
            lookup.setdefault(alias.strip().casefold(), i)
    fallback = model.segment_keys().index(model.fallback_segment)
    table = np.array([lookup.get(c.strip().casefold(), fallback) for c in segment.categories] + [fallback], np.int64)
    return table[segment.codes]


def milestone_key_table(model: SuccessModel) -> tuple[tuple[str, ...], np.ndarray]:
    """All milestone keys in the model, and a (segments × K) table of indexes into them (−1 = padding)."""
    keys = tuple(sorted({m.key for s in model.segments.values() for m in s.milestones}))
    width = max(len(s.milestones) for s in model.segments.values())
    table = np.full((len(model.segments), width + 1), -1, np.int32)
    for i, seg in enumerate(model.segments.values()):
        for k, m in enumerate(seg.milestones):
            table[i, k] = keys.index(m.key)
    return keys, table


def score(inputs: ScoringInputs, model: SuccessModel, now: datetime, *, release_spent: bool = False
          ) -> ScoringResult:
    """Score every account in ``inputs`` against ``model`` as of ``now``; see :class:`ScoringResult`.

    ``release_spent``: once the vector has carried last run's contributions and trend sums into its own,
    drop them from ``inputs`` (:meth:`ScoringInputs.release_spent_trend`; ~530 MB at 1M accounts, alive
    until the end of the run otherwise).  For inputs scored once, as the sync's are."""
    today = day_number(now)
    n = inputs.n
    seg = segment_rows(inputs.segment, model)
    numeric, ages = numeric_signals(inputs)
    columns = Columns(n, signal_kinds(model))
    columns.numeric.update(numeric)
    columns.numeric["arr"] = inputs.arr
    columns.text.update(inputs.text)
    vec = compute_vector(inputs, model, seg, numeric, ages)
    if release_spent:
        inputs.release_spent_trend()
    ms = compute_milestones(inputs, model, seg, columns, vec.direction, today)
    rows = np.arange(n)
    next_status = np.where(ms.next >= 0, ms.status[rows, np.maximum(ms.next, 0)], NONE)
    quad = compute_quadrant(model, seg, vec.magnitude, vec.direction, inputs.arr, columns)

    ms_keys, key_table = milestone_key_table(model)
    status_code = np.select([next_status == ON_TRACK, next_status == AT_RISK, next_status == OVERDUE,
                             next_status == NOT_YET], [0, 1, 2, 3], -1)
    columns.numeric.update({
        "success_vector": vec.magnitude,
        "vector_velocity": vec.velocity,
        "vector_confidence": vec.confidence * 100.0,
        "milestones_achieved": (ms.stage + 1).astype(np.float64),
        # Whole days between dates: a trigger must not flip at some time of day between two runs.
        "days_since_start": np.floor(today) - inputs.contract_start,
        "days_to_renewal": inputs.renewal_date - np.floor(today),
        "expansion_ready": ms.expansion_ready.astype(np.float64),
        "cost_to_serve": quad.cost_to_serve,
        "profit": quad.profit,
    })
    columns.text.update({
        "vector_direction": Categorical((vec.direction + 1).astype(np.int32), DIRECTIONS),
        "quadrant": Categorical(quad.quadrant.astype(np.int32), QUADRANTS),
        "next_milestone": Categorical(key_table[seg, ms.next], ms_keys),
        "current_stage": Categorical(key_table[seg, ms.stage], ms_keys),
        "next_milestone_status": Categorical(status_code.astype(np.int32), NEXT_STATUSES),
        "segment": Categorical(seg.astype(np.int32), tuple(model.segments)),
    })
    flag_names, flags = risk_flags(model, columns, vec.direction, next_status == OVERDUE, vec.confidence)
    band = 4 - priority_levels(model, vec.magnitude, vec.direction, next_status == AT_RISK, next_status == OVERDUE,
                               flag_names, flags)
    plays = run_plays(inputs, model, seg, columns, today)
    churned = columns.number("churned") == 1
    return ScoringResult(inputs=inputs, model=model, now=now, today=today, seg=seg, vector=vec, milestones=ms,
                         next_status=next_status, quadrant=quad, flag_names=flag_names, flags=flags,
                         priority=band, plays=plays, churned=churned, columns=columns)
