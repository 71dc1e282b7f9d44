"""The report's numbers: pure aggregation of query results into what each section shows.

Everything here is numpy over columns (no per-account Python objects survive past this module), so the
HTML carries bin counts and a bounded sample instead of one value per account: a 100k-account report is
the same size as a 1k-account one, apart from the scatter sample.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from connector.report.model_view import ModelView
from connector.report.queries import ScoreColumns

DIRECTIONS = ("Positive", "Flat", "Negative")
QUADRANTS = ("Success", "Work to keep (unhappy)", "Work to keep (unprofitable)", "Reassess")
VECTOR_EDGES = np.arange(0.0, 105.0, 5.0)
CHANGE_EPS = 1.0  # points: a smaller move between two runs counts as unchanged (values are rounded to 0.1)
DELTA_BINS = 40
SCATTER_LIMIT = 5000


@dataclass(frozen=True)
class Distribution:
    edges: list[float]
    by_segment: dict[str, list[int]]
    direction_counts: dict[str, int]
    median: float | None


def distribution(cols: ScoreColumns, segments: list[str]) -> Distribution:
    mag = cols.magnitude
    seg = np.array(segments, dtype=object)
    by_segment = {
        label: np.histogram(mag[(seg == label) & np.isfinite(mag)], VECTOR_EDGES)[0].tolist()
        for label in sorted(set(segments))
    }
    counts = Counter(d or "Unknown" for d in cols.direction)
    direction_counts = {d: counts.pop(d, 0) for d in DIRECTIONS} | dict(counts)
    finite = mag[np.isfinite(mag)]
    return Distribution(VECTOR_EDGES.tolist(), by_segment, direction_counts,
                        float(np.median(finite)) if finite.size else None)


@dataclass(frozen=True)
class Change:
    previous_run: int
    compared: int
    edges: list[float]
    counts: list[int]
    improved: int
    unchanged: int
    declined: int
    mean_before: float
    mean_after: float
    clipped_at: float


def change(cols: ScoreColumns, previous: dict[str, float], previous_run: int) -> Change | None:
    """Per-account change of the Success Vector between the two newest scoring runs (accounts in both)."""
    before = np.array([previous.get(a, np.nan) for a in cols.account_ids], dtype=float)
    both = np.isfinite(before) & np.isfinite(cols.magnitude)
    if not both.any():
        return None
    delta = cols.magnitude[both] - before[both]
    limit = float(max(5.0, math.ceil(np.percentile(np.abs(delta), 99))))
    counts, edges = np.histogram(np.clip(delta, -limit, limit), DELTA_BINS, range=(-limit, limit))
    return Change(
        previous_run=previous_run,
        compared=int(both.sum()),
        edges=edges.tolist(),
        counts=counts.tolist(),
        improved=int((delta >= CHANGE_EPS).sum()),
        unchanged=int((np.abs(delta) < CHANGE_EPS).sum()),
        declined=int((delta <= -CHANGE_EPS).sum()),
        mean_before=float(before[both].mean()),
        mean_after=float(cols.magnitude[both].mean()),
        clipped_at=limit,
    )


@dataclass(frozen=True)
class QuadrantSample:
    x: list[float]
    y: list[float]
    quadrant: list[str]
    hover: list[str]
    total: int
    y_is_profit: bool
    counts: dict[str, int]


def quadrant_sample(cols: ScoreColumns, segments: list[str], limit: int = SCATTER_LIMIT,
                    seed: int = 0) -> QuadrantSample:
    """Vector × profitability for at most ``limit`` accounts (a fixed-seed sample, so reports are stable).

    Profitability is ARR minus cost to serve when the run stored ``cost_to_serve``; otherwise ARR alone,
    and the chart says so rather than pretend.
    """
    has_cost = bool(np.isfinite(cols.cost_to_serve).any())
    y_all = cols.arr - np.nan_to_num(cols.cost_to_serve, nan=0.0) if has_cost else cols.arr
    usable = np.flatnonzero(np.isfinite(cols.magnitude) & np.isfinite(y_all))
    pick = usable if usable.size <= limit else np.sort(np.random.default_rng(seed).choice(usable, limit, replace=False))
    quadrants = [cols.quadrant[i] or "Unknown" for i in pick]
    hover = [
        f"<b>{_esc(cols.names[i])}</b><br>{_esc(segments[i])} · {_esc(quadrants[k])}"
        for k, i in enumerate(pick)
    ]
    counts = Counter(q or "Unknown" for q in cols.quadrant)
    return QuadrantSample(
        x=cols.magnitude[pick].tolist(), y=y_all[pick].tolist(), quadrant=quadrants, hover=hover,
        total=int(usable.size), y_is_profit=has_cost,
        counts={q: counts.pop(q, 0) for q in QUADRANTS} | dict(counts),
    )


@dataclass(frozen=True)
class Funnel:
    segment: str
    stages: list[str]
    reached: list[int]
    accounts: int
    ordered_by_model: bool
    ttfv_median: float | None
    ttfv_reached: int


def funnels(cols: ScoreColumns, segments: list[str], model: ModelView) -> list[Funnel]:
    """Per segment: accounts that reached each milestone (cumulative along the model's path) and TTFV.

    ``current_stage`` is the last milestone reached, so an account at stage k has reached stages 0…k.
    Without the model's path order the stages are listed by frequency and show accounts *at* each one.
    """
    seg = np.array(segments, dtype=object)
    result = []
    for label in sorted(set(segments)):
        rows = np.flatnonzero(seg == label)
        at_stage: Counter[str] = Counter(stage for i in rows if (stage := cols.current_stage[i]))
        path = model.stages_of(label)
        if path:
            position = {name: k for k, name in enumerate(path)}
            reached = [0] * len(path)
            for name, n in at_stage.items():
                for k in range(position.get(name, -1) + 1):
                    reached[k] += n
            stages = list(path)
        else:
            stages = [name for name, _ in at_stage.most_common()]
            reached = [at_stage[name] for name in stages]
        ttfv = cols.ttfv_days[rows]
        ttfv = ttfv[np.isfinite(ttfv)]
        result.append(Funnel(label, stages, reached, int(rows.size), bool(path),
                             float(np.median(ttfv)) if ttfv.size else None, int(ttfv.size)))
    return result


@dataclass
class ForecastView:
    """The forecast as a table, plus per-cohort numeric series for a bar chart when there are any."""

    columns: list[str]
    rows: list[list[Any]]
    series: dict[str, dict[str, float]] = field(default_factory=dict)  # series name → cohort → value
    totals: dict[str, Any] = field(default_factory=dict)
    as_of: str | None = None


def forecast_view(forecast: Any, model: ModelView) -> ForecastView | None:
    """Render whatever the run stored: the engine's offers/horizons shape, else a generic flattening."""
    if not isinstance(forecast, dict) or not forecast:
        return None
    offers = forecast.get("offers")
    if isinstance(offers, list) and offers and all(isinstance(o, dict) for o in offers):
        return _offers_view(forecast, offers, model)
    return _generic_view(forecast)


def _offers_view(forecast: dict[str, Any], offers: list[dict[str, Any]], model: ModelView) -> ForecastView:
    labels = {s.key: s.label for s in model.segments}
    horizons = sorted({str(h) for o in offers if isinstance(o.get("horizons"), dict) for h in o["horizons"]},
                      key=lambda h: (not h.isdigit(), int(h) if h.isdigit() else 0, h))
    columns = ["Segment", "Milestone", "Offer", "Offer ARR"]
    for h in horizons:
        columns += [f"Accounts ≤ {h} d", f"Forecast ARR ≤ {h} d"]
    view = ForecastView(columns, [], as_of=forecast.get("as_of"))
    for o in offers:
        seg = labels.get(str(o.get("segment")), str(o.get("segment", "")))
        milestone = str(o.get("milestone_name") or o.get("milestone") or "")
        cohort = f"{seg} · {milestone}"
        row: list[Any] = [seg, milestone, o.get("offer"), _number(o.get("offer_arr"))]
        per_h = _table(o.get("horizons"))
        for h in horizons:
            cell = _table(per_h.get(h))
            value = _number(cell.get("forecast_arr"))
            row += [_number(cell.get("accounts")), value]
            if value is not None:
                view.series.setdefault(f"≤ {h} days", {})[cohort] = value
        view.rows.append(row)
    totals = forecast.get("total_arr")
    if isinstance(totals, dict):
        view.totals = {f"≤ {h} days": _number(v) for h, v in totals.items()}
    return view


def _generic_view(forecast: dict[str, Any]) -> ForecastView:
    view = ForecastView(["Cohort", "Value"], [])
    for key, value in forecast.items():
        if isinstance(value, dict):
            numeric = {str(k): float(v) for k, v in value.items() if _number(v) is not None}
            for name, v in numeric.items():
                view.series.setdefault(name, {})[str(key)] = v
            view.rows.append([str(key), ", ".join(f"{k}: {v}" for k, v in value.items())])
        else:
            if _number(value) is not None:
                view.series.setdefault("value", {})[str(key)] = float(value)
            view.rows.append([str(key), value])
    return view


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _esc(text: str) -> str:
    """Hover text is rendered by plotly's HTML subset: escape names so they show as typed, never as markup."""
    return html.escape(text, quote=False)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
