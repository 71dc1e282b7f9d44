"""``connector report``: a self-contained HTML page about the customers and the sync, from the state store.

Pipeline: :mod:`queries` reads the store (read-only, aggregated in SQL) → :mod:`sections` and
:mod:`health` turn rows into per-section numbers → :mod:`charts` draws them with plotly →
:mod:`render` fills ``templates/report.html.j2``.  The page works offline (plotly.js inlined once) and
stays a few MB at 100k accounts because it carries aggregates and a bounded scatter sample, never one
row per account.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.backtest import run_backtest
from connector.config import Config
from connector.report import charts, queries, sections
from connector.report.backtest_view import backtest_view
from connector.report.health import sync_health
from connector.report.model_view import ModelView, load_model_view
from connector.report.render import render_html
from connector.status import attention
from connector.store import Store

__all__ = ["build_report", "report_context"]

#: The report's backtest replays the last year of runs (``connector backtest`` replays them all).
BACKTEST_WINDOW = timedelta(days=365)


def build_report(config: Config, store: Store, out_file: Path | None) -> Path:
    """Write the report (default ``<config dir>/<connector.output_dir>/report.html``) and return its path."""
    path = out_file or config.resolve(config.connector.output_dir) / "report.html"
    model = load_model_view(config.resolve(config.connector.success_model))
    context, figures = report_context(store, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(context, figures), encoding="utf-8")
    return path


def report_context(store: Store, model: ModelView, *, now: datetime | None = None) -> tuple[dict[str, Any], dict]:
    """Everything the template shows, and the figures by name (``None`` where a chart has no data)."""
    runs = queries.recent_runs(store)
    health = sync_health(runs)
    scored_runs = queries.scored_run_ids(store)
    context: dict[str, Any] = {
        "generated_at": now or datetime.now(UTC),
        "accounts": queries.account_count(store),
        "model": model,
        "health": health,
        "quarantine": queries.quarantine_summary(store),
        "attention": attention(store, now),
        "scoring_run": None,
        "scoring_run_id": None,
        "scored": 0,
        "distribution": None,
        "change": None,
        "sample": None,
        "funnels": [],
        "at_risk": [],
        "forecast": None,
        "forecast_run": None,
        "task_run": next((r for r in runs if r.stats.get("scored")), None),
    }
    figures: dict[str, Any] = {"calls": charts.calls_by_run(health), "runs": charts.runs_timeline(health)}
    forecast_run = next((r for r in runs if isinstance(r.stats.get("forecast"), dict) and r.stats["forecast"]), None)
    if forecast_run is not None:
        context["forecast_run"] = forecast_run
        context["forecast"] = sections.forecast_view(forecast_run.stats["forecast"], model)
        figures["forecast"] = charts.forecast_bars(context["forecast"]) if context["forecast"] else None
    context["backtest"] = None
    if scored_runs:
        _score_sections(store, model, scored_runs, context, figures)
        context["backtest"] = backtest_view(run_backtest(store, since=context["generated_at"] - BACKTEST_WINDOW))
    return context, figures


def _score_sections(store: Store, model: ModelView, scored_runs: list[int], context: dict[str, Any],
                    figures: dict[str, Any]) -> None:
    cols = queries.score_columns(store, scored_runs[0])
    labeller = model.segment_labeller()
    segments = labeller.labels(cols.segments)
    colours = charts.segment_colours(sorted(set(segments)))
    dist = sections.distribution(cols, segments)
    change = (sections.change(cols, queries.magnitudes(store, scored_runs[1]), scored_runs[1])
              if len(scored_runs) > 1 else None)
    sample = sections.quadrant_sample(cols, segments)
    funnels = sections.funnels(cols, segments, model)
    context.update(
        scoring_run=next((r for r in context["health"].runs if r.id == cols.run_id), None),
        scoring_run_id=cols.run_id,
        scored=cols.n,
        distribution=dist,
        change=change,
        sample=sample,
        funnels=funnels,
        at_risk=[{**row, "segment": labeller(row["segment"])} for row in queries.at_risk(store, cols.run_id)],
    )
    figures.update(
        vector=charts.vector_distribution(dist, colours, model.happy_min_vector),
        change=charts.vector_change(change) if change else None,
        quadrant=charts.quadrant_scatter(sample, model.happy_min_vector),
        funnel=charts.milestone_funnels(funnels, colours) if funnels else None,
    )
