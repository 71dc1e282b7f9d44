"""Plotly figures for the report, one function per chart, all in one visual language.

Colours carry meaning and never change between charts: green is Positive / Success, red is Negative /
Reassess, amber and blue are the two "work to keep" quadrants, grey is flat or unknown.  Figures get
pre-aggregated numbers (bin counts, a bounded sample) from :mod:`connector.report.sections`, so the
embedded JSON stays small however many accounts the store holds.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from connector.report.health import SyncHealth
from connector.report.sections import Change, Distribution, ForecastView, Funnel, QuadrantSample

FONT = "Inter, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK, MUTED, GRID = "#1f2937", "#6b7280", "#eceff3"
GREEN, RED, AMBER, BLUE, GREY = "#1f9d6b", "#d6453d", "#e39b2d", "#3f6fd1", "#9aa3b2"
DIRECTION_COLOURS = {"Positive": GREEN, "Flat": GREY, "Negative": RED}
QUADRANT_COLOURS = {
    "Success": GREEN,
    "Work to keep (unhappy)": AMBER,
    "Work to keep (unprofitable)": BLUE,
    "Reassess": RED,
    "Unknown": GREY,
}
STATUS_COLOURS = {"ok": GREEN, "partial": AMBER, "failed": RED, "running": BLUE}
SEGMENT_COLOURS = ("#3f5bd1", "#0f9e9e", "#e08a1e", "#9c4dcc", "#5b8c2a", "#c2417a", "#607089")


def segment_colours(labels: list[str]) -> dict[str, str]:
    return {label: SEGMENT_COLOURS[i % len(SEGMENT_COLOURS)] for i, label in enumerate(sorted(labels))}


def _style(fig: go.Figure, *, height: int, x_title: str = "", y_title: str = "", legend: bool = True) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 64, "r": 24, "t": 36, "b": 56},
        font={"family": FONT, "size": 12, "color": INK},
        paper_bgcolor="white",
        plot_bgcolor="white",
        showlegend=legend,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0, "title": None},
        hoverlabel={"font": {"family": FONT, "size": 12}},
        bargap=0.08,
        modebar={"bgcolor": "rgba(255,255,255,0)", "color": "#c3c9d3", "activecolor": INK},
    )
    fig.update_xaxes(title=x_title or None, gridcolor=GRID, zeroline=False, linecolor="#d5dae1", ticks="outside",
                     tickcolor="#d5dae1", title_font={"color": MUTED})
    fig.update_yaxes(title=y_title or None, gridcolor=GRID, zeroline=False, title_font={"color": MUTED})
    return fig


def vector_distribution(dist: Distribution, colours: dict[str, str], happy_line: float | None) -> go.Figure:
    centres = [(a + b) / 2 for a, b in zip(dist.edges[:-1], dist.edges[1:], strict=True)]
    fig = go.Figure()
    for label, counts in dist.by_segment.items():
        fig.add_bar(x=centres, y=counts, width=5, name=label, marker={"color": colours.get(label, GREY)},
                    hovertemplate=f"{_esc(label)}<br>Vector %{{x:.0f}} ± 2.5<br>%{{y:,}} accounts<extra></extra>")
    fig.update_layout(barmode="stack")
    if happy_line is not None:
        fig.add_vline(x=happy_line, line={"dash": "dot", "color": MUTED, "width": 1})
    fig.update_xaxes(range=[0, 100], dtick=10)
    return _style(fig, height=340, x_title="Success Vector (0–100)", y_title="accounts")


def vector_change(ch: Change) -> go.Figure:
    centres = [(a + b) / 2 for a, b in zip(ch.edges[:-1], ch.edges[1:], strict=True)]
    width = ch.edges[1] - ch.edges[0]
    colours = [GREEN if c >= 1.0 else RED if c <= -1.0 else GREY for c in centres]
    fig = go.Figure(go.Bar(x=centres, y=ch.counts, width=width, marker={"color": colours},
                           hovertemplate="change %{x:+.1f} points<br>%{y:,} accounts<extra></extra>"))
    fig.add_vline(x=0, line={"color": INK, "width": 1})
    return _style(fig, height=300, legend=False, x_title=f"change in Success Vector since run #{ch.previous_run} "
                  f"(points; ends hold everything beyond ±{ch.clipped_at:g})", y_title="accounts")


def quadrant_scatter(sample: QuadrantSample, happy_line: float | None) -> go.Figure:
    fig = go.Figure()
    order = [q for q in QUADRANT_COLOURS if q in sample.quadrant] + sorted(
        {q for q in sample.quadrant if q not in QUADRANT_COLOURS})
    y_name = "Profit (ARR − cost to serve)" if sample.y_is_profit else "ARR"
    for quadrant in order:
        idx = [i for i, q in enumerate(sample.quadrant) if q == quadrant]
        fig.add_scatter(
            x=[sample.x[i] for i in idx], y=[sample.y[i] for i in idx], mode="markers", name=quadrant,
            hovertext=[sample.hover[i] for i in idx],
            hovertemplate=f"%{{hovertext}}<br>Vector %{{x:.1f}}<br>{y_name} %{{y:$,.0f}}<extra></extra>",
            marker={"color": QUADRANT_COLOURS.get(quadrant, GREY), "size": 6, "opacity": 0.65,
                    "line": {"width": 0.5, "color": "white"}},
        )
    if happy_line is not None:
        fig.add_vline(x=happy_line, line={"dash": "dot", "color": MUTED, "width": 1})
    if sample.y_is_profit:
        fig.add_hline(y=0, line={"color": MUTED, "width": 1})
    fig.update_xaxes(range=[0, 100], dtick=10)
    fig.update_yaxes(tickprefix="$", tickformat="~s")
    y_title = y_name if sample.y_is_profit else "ARR (cost to serve not stored by the run)"
    return _style(fig, height=460, x_title="Success Vector (customer happiness)", y_title=y_title)


def milestone_funnels(funnels: list[Funnel], colours: dict[str, str]) -> go.Figure:
    cols = min(3, max(1, len(funnels)))
    rows = math.ceil(len(funnels) / cols) if funnels else 1
    titles = [f"<b>{_esc(f.segment)}</b> · {f.accounts:,} accounts" for f in funnels]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.14, vertical_spacing=0.12)
    for i, f in enumerate(funnels):
        fig.add_trace(
            go.Funnel(y=[_esc(s) for s in f.stages], x=f.reached, name=f.segment, textinfo="text",
                      text=[f"{n:,} · {n / f.accounts:.0%}" if f.accounts else f"{n:,}" for n in f.reached],
                      marker={"color": colours.get(f.segment, GREY)}, connector={"fillcolor": "#eef1f6"},
                      hovertemplate="%{y}: %{x:,} accounts<extra></extra>"),
            row=i // cols + 1, col=i % cols + 1,
        )
    fig.update_annotations(font={"size": 13, "color": INK})
    _style(fig, height=300 * rows + 40, legend=False)
    fig.update_layout(margin={"l": 150, "r": 24, "t": 48, "b": 24})
    fig.update_xaxes(showgrid=False, showticklabels=False, ticks="")
    return fig


def forecast_bars(view: ForecastView) -> go.Figure | None:
    if not view.series:
        return None
    fig = go.Figure()
    shades = ("#9cc3ee", "#5b95dc", BLUE, "#27478f", "#142a5c")
    for i, (name, per_cohort) in enumerate(view.series.items()):
        fig.add_bar(x=[_esc(c) for c in per_cohort], y=list(per_cohort.values()), name=_esc(name),
                    marker={"color": shades[i % len(shades)]},
                    hovertemplate="%{x}<br>%{y:$,.0f}<extra>" + _esc(name) + "</extra>")
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickprefix="$", tickformat="~s")
    return _style(fig, height=340, y_title="forecast expansion ARR")


def calls_by_run(health: SyncHealth) -> go.Figure | None:
    if not health.calls_by_run:
        return None
    runs = list(health.calls_by_run)
    systems = sorted({s for per_run in health.calls_by_run.values() for s in per_run})
    colours = segment_colours(systems)
    fig = go.Figure()
    for system in systems:
        fig.add_bar(x=runs, y=[health.calls_by_run[r].get(system, 0) for r in runs], name=_esc(system),
                    marker={"color": colours[system]}, hovertemplate="run %{x}<br>%{y:,} calls<extra>" + _esc(system)
                    + "</extra>")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(type="category")
    return _style(fig, height=300, x_title="run", y_title="API calls")


def runs_timeline(health: SyncHealth) -> go.Figure | None:
    runs = [r for r in reversed(health.runs) if r.duration_s is not None]
    if not runs:
        return None
    fig = go.Figure()
    for status in sorted({r.status for r in runs}):
        picked = [r for r in runs if r.status == status]
        fig.add_bar(x=[f"#{r.id}" for r in picked], y=[r.duration_s for r in picked], name=status,
                    marker={"color": STATUS_COLOURS.get(status, GREY)},
                    customdata=[[r.kind, r.started_at] for r in picked],
                    hovertemplate="run %{x} (%{customdata[0]})<br>started %{customdata[1]}<br>%{y:.1f} s<extra>"
                    + status + "</extra>")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=[f"#{r.id}" for r in runs])
    return _style(fig, height=260, x_title="run", y_title="duration (s)")


def direction_colour(direction: str | None) -> str:
    return DIRECTION_COLOURS.get(direction or "", GREY)


def quadrant_colour(quadrant: str | None) -> str:
    return QUADRANT_COLOURS.get(quadrant or "", GREY)


def status_colour(status: str | None) -> str:
    return STATUS_COLOURS.get(status or "", GREY)


def _esc(text: str) -> str:
    """Plotly renders a small HTML subset in SVG text; escape data so a name shows as typed, never as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
