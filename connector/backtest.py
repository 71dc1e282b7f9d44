"""``connector backtest``: did the model warn before customers left, shrank or grew?

The score history (``score_history``) holds, per run and account, what the model said (vector, direction,
risk flags) and what the books said at the time (``outputs.book``: ARR, MRR, seats, churned, subscription
status — :mod:`connector.scoring.book`).  This module replays it:

1. **Outcomes** are read from changes between an account's consecutive runs, so only what happened while
   the connector watched counts (an account already churned at its first run is left out):
   *churn* — the CRM's churned flag set or the subscription canceled; *downgrade* / *expansion* — revenue
   (CRM ARR, else 12 × Stripe MRR) down / up by at least ``min_change`` (default 5 %).  *adverse* is the
   first churn or downgrade.
2. **Signals** are evaluated per run: Negative direction, vector below a threshold, and every risk flag.
3. For each signal and outcome kind: an account is *warned* when the signal fired at a run before its
   outcome (any run if it had none); a warning *hit* when the outcome followed within ``horizon_days`` of a
   run where it fired.  precision = hits / warned, recall = hits / accounts with that outcome,
   lift = precision / base rate (the outcome's share of all accounts), lead time = days from the first
   firing in the horizon before the outcome to the outcome (median over hits).
4. A **lift table** by the vector at each account's first run: outcome rate per band ÷ overall rate.

Everything is computed column-wise over the rows (numpy), from the store alone; nothing is assumed about
the world.  A warning near the end of the history has had little time to come true, so with a short
history precision is a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.store import Store
from connector.store.schema import ScoreRow

KINDS = ("churn", "downgrade", "adverse", "expansion")
GROUPS = 5
DAY = 86_400.0


@dataclass(frozen=True)
class History:
    """Score rows as columns, ordered by account then time (``acc`` indexes ``accounts``)."""

    accounts: list[str]
    acc: np.ndarray         # (r,) int
    day: np.ndarray         # (r,) float, days since the epoch
    magnitude: np.ndarray   # (r,)
    negative: np.ndarray    # (r,) bool
    flag_names: list[str]
    flags: np.ndarray       # (r, F) bool
    revenue: np.ndarray     # (r,) ARR, else 12 × MRR, NaN when neither is known
    gone: np.ndarray        # (r,) bool: churned flag set or subscription canceled

    @property
    def n(self) -> int:
        return len(self.accounts)


def load_history(store: Store, since: datetime | None = None) -> History:
    """The score rows of the store (from ``since``, else all), as :class:`History`, in account/time order.

    The few JSON fields needed are extracted by the database (``JSON_EXTRACT`` / ``->``), so no row's whole
    outputs document is parsed in Python; the columns become arrays in one pass."""
    out = ScoreRow.outputs
    q = (select(ScoreRow.account_id, ScoreRow.scored_at, ScoreRow.magnitude, ScoreRow.direction,
                out["risk_flags"].as_string(), out[("book", "arr")].as_float(), out[("book", "mrr")].as_float(),
                out[("book", "churned")].as_float(), out[("book", "subscription_status")].as_string())
         .order_by(ScoreRow.account_id, ScoreRow.scored_at, ScoreRow.id))
    if since is not None:
        q = q.where(ScoreRow.scored_at >= since)
    with Session(store.engine) as s:
        rows = s.execute(q.execution_options(yield_per=50_000)).all()
    if not rows:
        return History([], np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, bool), [],
                       np.zeros((0, 0), bool), np.zeros(0), np.zeros(0, bool))
    ids, at, magnitude, direction, flags, arr, mrr, churned, status = zip(*rows, strict=True)
    ids_a = np.asarray(ids, dtype=object)
    starts = np.r_[True, ids_a[1:] != ids_a[:-1]]
    accounts = [str(a) for a in ids_a[starts]]
    acc = np.cumsum(starts) - 1
    day = np.fromiter(((t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp() / DAY for t in at), np.float64, len(at))
    arr_a, mrr_a = _floats(arr), _floats(mrr)
    revenue = np.where(arr_a > 0, arr_a, np.where(mrr_a > 0, 12.0 * mrr_a, np.nan))
    gone = (_floats(churned) == 1.0) | (np.asarray(status, dtype=object) == "canceled")
    per_row = [f.split(";") if f else [] for f in flags]
    names = sorted({f for row in per_row for f in row if f})
    index = {name: j for j, name in enumerate(names)}
    matrix = np.zeros((len(rows), len(names)), bool)
    for i, row in enumerate(per_row):
        for f in row:
            if f:
                matrix[i, index[f]] = True
    return History(accounts, acc.astype(np.int64), day, np.asarray(magnitude, np.float64),
                   np.asarray(direction, dtype=object) == "Negative", names, matrix, revenue, gone)


def _floats(values: tuple[Any, ...]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], np.float64)


def detect_outcomes(h: History, min_change: float = 0.05) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """First day of each outcome kind per account (NaN = none), and the accounts to count (not gone at first).

    Each row is compared with the account's previous row; rows after a churn are ignored (the customer is
    gone, a falling ARR there is not a downgrade)."""
    r = len(h.acc)
    first = np.ones(r, bool)
    first[1:] = h.acc[1:] != h.acc[:-1]
    prev = np.maximum(np.arange(r) - 1, 0)
    churn_row = h.gone & ~first & ~h.gone[prev]
    with np.errstate(invalid="ignore", divide="ignore"):
        change = h.revenue / h.revenue[prev] - 1.0
    gone_day = _first_day(h, h.gone & ~first)
    after_churn = h.day >= gone_day[h.acc]
    live = ~first & ~h.gone & ~after_churn
    days = {
        "churn": _first_day(h, churn_row),
        "downgrade": _first_day(h, live & (change <= -min_change)),
        "expansion": _first_day(h, live & (change >= min_change)),
    }
    days["adverse"] = np.fmin(days["churn"], days["downgrade"])
    counted = np.ones(h.n, bool)
    counted[h.acc[first & h.gone]] = False  # already gone when the connector first scored it
    return days, counted


def _first_day(h: History, rows: np.ndarray) -> np.ndarray:
    out = np.full(h.n, np.inf)
    np.minimum.at(out, h.acc[rows], h.day[rows])
    out[np.isinf(out)] = np.nan
    return out


def signal_matrix(h: History, below: float) -> tuple[list[str], np.ndarray]:
    """(names, (r, S) bool): Negative direction, vector below ``below``, then every risk flag seen."""
    names = ["negative_direction", f"vector_below_{below:g}", *(f"flag:{f}" for f in h.flag_names)]
    columns = [h.negative, h.magnitude < below, *(h.flags[:, j] for j in range(len(h.flag_names)))]
    return names, np.column_stack(columns) if columns else np.zeros((len(h.acc), 0), bool)


def _score(h: History, on: np.ndarray, t_o: np.ndarray, counted: np.ndarray, horizon: float) -> dict[str, Any]:
    """Precision, recall, lift and lead time of one signal for one outcome kind (see the module doc)."""
    t_row = t_o[h.acc]
    has = ~np.isnan(t_row)
    row_ok = counted[h.acc]
    before = row_ok & (~has | (h.day < t_row))
    window = on & before & has & (h.day >= t_row - horizon)
    warned = np.zeros(h.n, bool)
    warned[h.acc[on & before]] = True
    hit = np.zeros(h.n, bool)
    hit[h.acc[window]] = True
    earliest = _first_day(h, window)
    outcomes = int((counted & ~np.isnan(t_o)).sum())
    base = outcomes / int(counted.sum()) if counted.any() else None
    n_warned, n_hit = int(warned.sum()), int(hit.sum())
    precision = n_hit / n_warned if n_warned else None
    lead = (t_o - earliest)[hit]
    return {
        "warned": n_warned,
        "hits": n_hit,
        "precision": _round(precision),
        "recall": _round(n_hit / outcomes) if outcomes else None,
        "lift": _round(precision / base) if precision is not None and base else None,
        "lead_days_median": _round(float(np.median(lead)), 1) if n_hit else None,
        "lead_days_range": [_round(float(lead.min()), 1), _round(float(lead.max()), 1)] if n_hit else None,
    }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def lift_table(h: History, t_o: np.ndarray, counted: np.ndarray, groups: int = GROUPS) -> dict[str, Any]:
    """Outcome rate by fifths of the vector at each account's first run, and its lift over the overall rate.

    Fifths by rank (equal numbers of accounts, ties in a stable order), not fixed score bands: a healthy
    base would leave the low bands empty and the table would say nothing."""
    first = np.ones(len(h.acc), bool)
    first[1:] = h.acc[1:] != h.acc[:-1]
    start = np.full(h.n, np.nan)
    start[h.acc[first]] = h.magnitude[first]
    members = np.flatnonzero(counted & ~np.isnan(start))
    outcome = ~np.isnan(t_o)
    base = float(outcome[members].mean()) if len(members) else None
    rows = []
    ordered = members[np.argsort(start[members], kind="stable")]
    for k, part in enumerate(np.array_split(ordered, groups) if len(ordered) >= groups else []):
        rate = float(outcome[part].mean())
        label = f"{k + 1} of {groups}" + (" (lowest)" if k == 0 else " (highest)" if k == groups - 1 else "")
        rows.append({"group": label, "vector_from": _round(float(start[part].min()), 1),
                     "vector_to": _round(float(start[part].max()), 1), "accounts": len(part),
                     "outcomes": int(outcome[part].sum()), "rate": _round(rate),
                     "lift": _round(rate / base) if base else None})
    return {"by": "vector at the account's first scored run, in fifths", "base_rate": _round(base), "rows": rows}


def run_backtest(store: Store, *, horizon_days: float = 90.0, below: float = 40.0, min_change: float = 0.05,
                 since: datetime | None = None) -> dict[str, Any]:
    """The whole report as a JSON-able dict (None where a figure is undefined, never NaN).

    ``since`` replays only the runs from then on (the HTML report keeps to the last year: the history grows
    by one row per account and run, and the page must stay quick to build)."""
    h = load_history(store, since)
    days, counted = detect_outcomes(h, min_change)
    names, on = signal_matrix(h, below)
    span = (float(h.day.min()), float(h.day.max())) if len(h.day) else None
    return {
        "history": {
            "runs_rows": len(h.acc),
            "accounts": int(counted.sum()),
            "left_out_already_gone": int((~counted).sum()),
            "first_scored": _date(span[0]) if span else None,
            "last_scored": _date(span[1]) if span else None,
            "span_days": _round(span[1] - span[0], 1) if span else None,
        },
        "parameters": {"horizon_days": horizon_days, "vector_below": below, "min_change": min_change,
                       "since": since.isoformat() if since else None},
        "outcomes": {kind: int((counted & ~np.isnan(days[kind])).sum()) for kind in KINDS},
        "signals": [
            {"signal": name, "fired_accounts": int(np.unique(h.acc[on[:, j] & counted[h.acc]]).size),
             "by_outcome": {kind: _score(h, on[:, j], days[kind], counted, horizon_days) for kind in KINDS}}
            for j, name in enumerate(names)
        ],
        "lift_table": lift_table(h, days["adverse"], counted),
    }


def _date(day: float) -> str:
    return datetime.fromtimestamp(day * DAY, UTC).date().isoformat()
