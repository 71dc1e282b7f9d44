"""A block of accounts' outputs made a field at a time: what :meth:`ScoringResult.fields` gives per row.

Why: made per account, each of the ~17 output fields was a few numpy scalar reads, a ``round`` and a dict
entry — about 40 µs an account, or 40 s of a million-account daily pass, before anything was written.
Here each field is one numpy expression over the block, turned into Python values once (``tolist``), and
fields that take few distinct values (stages, statuses, bands, flags, dates) are made once per distinct
value.  Only the sentences (drivers, priority reason, next action) are still made per account.

The values are the per-row ones exactly — same types (an ``int`` stays an ``int``, ``1.0`` a ``float``),
same rounding (:mod:`~connector.scoring.rounding`), ``None`` where the row method gives ``None``:
``tests/scoring/test_output_columns.py`` compares them on every account of several worlds, so the
score history and the CRM see the same values either way.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from connector.scoring.days import day_to_date
from connector.scoring.distinct import per_distinct, per_distinct_row
from connector.scoring.milestones import STATUS_LABELS
from connector.scoring.model import DIRECTIONS
from connector.scoring.output_table import OutputTable
from connector.scoring.quadrant import QUADRANTS
from connector.scoring.rounding import round_or_none

if TYPE_CHECKING:
    from connector.scoring.result import ScoringResult

#: Accounts per block: the block's Python values (~17 per account) are alive at once, ~2 MB at 2,048.
OUTPUT_BLOCK = 2048


def _or_none(values: np.ndarray, missing: np.ndarray) -> list[Any]:
    """``values`` as Python values, ``None`` where ``missing``."""
    return [None if gone else x for x, gone in zip(values.tolist(), missing.tolist(), strict=True)]


def output_columns(result: ScoringResult, start: int, stop: int) -> dict[str, list[Any]]:
    """The OUTPUT_FIELDS of rows ``start:stop``, one list per field, in :meth:`ScoringResult.fields`'s order."""
    v, ms, q = result.vector, result.milestones, result.quadrant
    seg = result.seg[start:stop].astype(np.int64)
    paths = result.paths
    width = max((len(p) for p in paths), default=0)

    def milestone(index: np.ndarray) -> list[str | None]:
        """``milestone_name(row, index)``: the row's path entry, None for −1."""
        at = seg * (width + 1) + np.where(index >= 0, index, width)
        return per_distinct(at, lambda k: None if k % (width + 1) == width else paths[k // (width + 1)][
            k % (width + 1)].name)

    stage = ms.stage[start:stop].astype(np.int64)
    nxt = ms.next[start:stop].astype(np.int64)
    due = np.where(nxt >= 0, ms.due_day[start:stop][np.arange(stop - start), np.maximum(nxt, 0)], np.nan)
    confidence = v.confidence[start:stop].astype(np.float64) * 100.0
    ttfv = ms.ttfv_days[start:stop].astype(np.float64)
    flags = result.flags[start:stop]
    flag_bits = (flags.astype(np.int64) << np.arange(flags.shape[1], dtype=np.int64)).sum(axis=1) \
        if flags.shape[1] else np.zeros(stop - start, np.int64)
    names = result.flag_names
    return {
        "success_vector": round_or_none(v.magnitude[start:stop], 1),
        "vector_velocity": round_or_none(v.velocity[start:stop], 1),
        "vector_direction": per_distinct(v.direction[start:stop].astype(np.int64), lambda d: DIRECTIONS[d + 1]),
        "vector_confidence": [round(x) for x in confidence.tolist()] if not np.isfinite(confidence).all()
        else np.rint(confidence).astype(np.int64).tolist(),  # round() raises on NaN: the row path's error
        "vector_drivers": result.drivers_block(start, stop),
        "current_stage": milestone(stage),
        "next_milestone": milestone(nxt),
        "next_milestone_due": per_distinct(due, lambda d: None if math.isnan(d) else day_to_date(d)),
        "next_milestone_status": per_distinct(result.next_status[start:stop].astype(np.int64), STATUS_LABELS.get),
        "ttfv_days": _or_none(np.where(np.isnan(ttfv), 0, np.trunc(ttfv)).astype(np.int64), np.isnan(ttfv)),
        "quadrant": per_distinct(q.quadrant[start:stop].astype(np.int64), lambda k: QUADRANTS[k] if k >= 0 else None),
        "cost_to_serve": round_or_none(q.cost_to_serve[start:stop], 2),
        "risk_flags": per_distinct(flag_bits, lambda bits: ";".join(
            f for j, f in enumerate(names) if bits >> j & 1)),
        "priority_band": per_distinct(result.priority[start:stop].astype(np.int64), lambda p: f"P{p}"),
        "priority_reason": result.priority_reasons(start, stop),
        "vector_updated_at": [result.now] * (stop - start),
        "next_action": _next_actions(result, start, stop),
    }


def _next_actions(result: ScoringResult, start: int, stop: int) -> list[str | None]:
    """:meth:`ScoringResult.next_action` of rows ``start:stop``, made once per distinct leading play, its
    step, its segment's ladder and the set of ready digital plays (all the text reads)."""
    pl = result.plays
    out: list[str | None] = [None] * (stop - start)
    rows = np.flatnonzero(pl.digital[start:stop] >= 0)
    if rows.size:
        at = start + rows
        keys = np.column_stack([pl.digital[at], pl.digital_step[at], result.seg[at],
                                pl.digital_plays[:, at].T]).astype(np.int64)
        for i, text in zip(rows.tolist(), per_distinct_row(keys, lambda k: result.next_action(int(at[k]))),
                           strict=True):
            out[i] = text
    return out


def output_blocks(result: ScoringResult, table: OutputTable) -> Iterator[tuple[int, int, dict[str, list[Any]]]]:
    """Every account's outputs into ``table``, a block at a time: ``(start, stop, columns)`` per block, the
    block already kept by the table (its rows are the result's rows)."""
    ins = result.inputs
    for start in range(0, ins.n, OUTPUT_BLOCK):
        stop = min(start + OUTPUT_BLOCK, ins.n)
        columns = output_columns(result, start, stop)
        table.extend([str(a) for a in ins.account_ids[start:stop]], columns, ins.owner.values(start, stop),
                     ins.domains[start:stop].tolist() if ins.domains is not None else [None] * (stop - start),
                     ins.names[start:stop].tolist() if ins.names is not None else [None] * (stop - start))
        yield start, stop, columns


def output_table(result: ScoringResult) -> OutputTable:
    """Every account's outputs as a table (a run that writes no score history: ``--dry-run``)."""
    table = OutputTable()
    deque(output_blocks(result, table), maxlen=0)
    return table
