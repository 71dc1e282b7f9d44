"""HTML rendering: one Jinja2 template, plotly.js inlined once, each figure as an inert JSON block.

The page must open from a file on a laptop with no network, so the plotly.js bundle that ships with the
plotly package is written into the page once, and nothing is loaded from elsewhere.  Account names are
untrusted text (CRM users type them; the synthetic data includes ``<script>``), so autoescaping is on for
the whole template, and figure JSON has ``<``, ``>`` and ``&`` written as ``\\u003c``-style escapes: the
browser's JSON parser reads them back as the same characters, but the HTML parser can never see a
closing ``</script>`` inside the data.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from connector.report.charts import direction_colour, quadrant_colour, status_colour

TEMPLATES = Path(__file__).parent / "templates"
EMPTY = "–"


def script_safe_json(fig: go.Figure) -> Markup:
    text = pio.to_json(fig, validate=False, engine="json")
    return Markup(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))


def render_html(context: dict[str, Any], figures: dict[str, go.Figure | None]) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=fmt_num, money=fmt_money, pct=fmt_pct, secs=fmt_secs, when=fmt_when, signed=fmt_signed)
    env.globals.update(direction_colour=direction_colour, quadrant_colour=quadrant_colour, status_colour=status_colour)
    charts = {name: script_safe_json(fig) for name, fig in figures.items() if fig is not None}
    template = env.get_template("report.html.j2")
    return template.render(**context, charts=charts, plotly_js=Markup(get_plotlyjs()))


def fmt_num(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return EMPTY
    return f"{value:,.{digits}f}"


def fmt_signed(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return EMPTY
    return f"{value:+,.{digits}f}"


def fmt_money(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return EMPTY
    return f"-${-value:,.0f}" if value < 0 else f"${value:,.0f}"


def fmt_pct(value: Any, digits: int = 0) -> str:
    if value is None:
        return EMPTY
    return f"{value * 100:.{digits}f} %"


def fmt_secs(value: Any) -> str:
    if value is None:
        return EMPTY
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s"


def fmt_when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") + (" UTC" if value.tzinfo is None else value.strftime(" %Z"))
    return EMPTY if value is None else str(value)
