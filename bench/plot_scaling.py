"""How a cycle's cost grows with accounts, and with changed accounts: SVG line charts (log–log) from
``bench_scoring.py --json``.

    .venv/bin/python bench/bench_scoring.py 1000 10000 100000 --shares 0.001 0.003 0.03 0.1 0.2 --json /tmp/s.json
    .venv/bin/python bench/plot_scaling.py /tmp/s.json docs/images/scaling.svg docs/images/scaling_changed.svg

The second chart (when asked for) is a same-day cycle's cost against how many accounts changed, one line
per size, with each size's full pass as a flat reference.

One line per kind of cycle (process CPU seconds of resolve + check + load + kernel + persist + diff), and a
dotted guide of slope 1: a line parallel to it grows linearly in accounts, a steeper one faster.  Written
as plain SVG so the docs need no plotting library (none is a dependency).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

CYCLES = (("first", "first sync (every account new)", "#1f77b4"),
          ("new_day", "a new UTC day's first cycle (full pass)", "#9467bd"),
          ("unchanged_full", "full pass the same day (sync --full)", "#ff7f0e"),
          ("changed_1pct", "1 % of accounts changed", "#2ca02c"),
          ("unchanged", "unchanged, same day (settled: skipped)", "#d62728"))
W, H, LEFT, RIGHT, TOP, BOTTOM = 720, 420, 70, 250, 30, 50


def svg(rows: list[dict]) -> str:
    rows = sorted(rows, key=lambda r: r["n"])
    series = [([(r["n"], max(r[key]["cpu_total"], 1e-3)) for r in rows if key in r], label, colour, "")
              for key, label, colour in CYCLES]
    series = [s for s in series if s[0]]  # runs from before the new_day cycle was measured lack it
    return chart(series, "accounts")


def svg_changed(rows: list[dict]) -> str:
    """Cost of a same-day cycle against changed accounts (``--shares``), per size; full pass as reference."""
    rows = sorted((r for r in rows if r.get("by_changed")), key=lambda r: r["n"])
    colours = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b")
    series = []
    for i, r in enumerate(rows):
        points = sorted((c["changed"], max(c["cpu_total"], 1e-3)) for c in [*r["by_changed"]])
        colour = colours[i % len(colours)]
        series.append((points, f"{r['n']:,} accounts", colour, ""))
        full = max(r["unchanged_full"]["cpu_total"], 1e-3)
        series.append(([(points[0][0], full), (points[-1][0], full)], f"{r['n']:,}: full pass", colour,
                       ' stroke-dasharray="2 3"'))
    return chart(series, "accounts changed since the last complete cycle (same UTC day)")


def chart(series: list[tuple[list[tuple[float, float]], str, str, str]], x_label: str) -> str:
    """A log–log line chart with a dotted slope-1 guide from the first series' first point."""
    xs = sorted({x for points, _, _, _ in series for x, _ in points})
    ys = [y for points, _, _, _ in series for _, y in points]
    x0, x1 = math.log10(min(xs)), math.log10(max(xs))
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))

    def at(n: float, y: float) -> tuple[float, float]:
        px = LEFT + (math.log10(n) - x0) / max(x1 - x0, 1e-9) * (W - LEFT - RIGHT)
        py = H - BOTTOM - (math.log10(y) - y0) / max(y1 - y0, 1e-9) * (H - TOP - BOTTOM)
        return px, py

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
           f'font-size="12"><rect width="{W}" height="{H}" fill="white"/>']
    for e in range(y0, y1 + 1):
        _, py = at(xs[0], 10.0 ** e)
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{py:.1f}" y2="{py:.1f}" stroke="#ddd"/>'
                   f'<text x="{LEFT - 8}" y="{py + 4:.1f}" text-anchor="end">{10.0 ** e:g} s</text>')
    ticks = xs if len(xs) <= 6 else [10.0 ** e for e in range(math.ceil(x0), math.floor(x1) + 1)]
    for n in ticks:
        px, _ = at(n, 10.0 ** y0)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="#ddd"/>'
                   f'<text x="{px:.1f}" y="{H - BOTTOM + 18}" text-anchor="middle">{n:,.0f}</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2:.0f}" y="{H - 12}" text-anchor="middle">{x_label}</text>'
               f'<text x="16" y="{TOP + (H - TOP - BOTTOM) / 2:.0f}" transform="rotate(-90 16 '
               f'{TOP + (H - TOP - BOTTOM) / 2:.0f})" text-anchor="middle">process CPU seconds per cycle</text>')
    gx, gy = series[0][0][-1]
    guide = [at(xs[0], gy * xs[0] / gx), at(gx, gy)]
    out.append(f'<line x1="{guide[0][0]:.1f}" y1="{guide[0][1]:.1f}" x2="{guide[1][0]:.1f}" y2="{guide[1][1]:.1f}" '
               'stroke="#999" stroke-dasharray="4 4"/>')
    for i, (points, label, colour, dash) in enumerate(series):
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in (at(n, y) for n, y in points))
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        out += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in
                (at(n, y) for n, y in points)]
        ly = TOP + 10 + 22 * i
        out.append(f'<line x1="{W - RIGHT + 15}" x2="{W - RIGHT + 35}" y1="{ly}" y2="{ly}" stroke="{colour}" '
                   f'stroke-width="2"{dash}/><text x="{W - RIGHT + 40}" y="{ly + 4}">{label}</text>')
    ly = TOP + 10 + 22 * len(series)
    out.append(f'<line x1="{W - RIGHT + 15}" x2="{W - RIGHT + 35}" y1="{ly}" y2="{ly}" stroke="#999" '
               f'stroke-dasharray="4 4"/><text x="{W - RIGHT + 40}" y="{ly + 4}">linear (slope 1)</text>')
    return "\n".join([*out, "</svg>"]) + "\n"


def main(argv: list[str]) -> None:
    sources = [a for a in argv if a.endswith(".json")]
    targets = [a for a in argv if a.endswith(".svg")]
    rows = [r for name in sources for r in json.loads(Path(name).read_text())]
    Path(targets[0]).write_text(svg(rows))
    print(f"wrote {targets[0]} from {len(rows)} sizes")
    if len(targets) > 1:
        Path(targets[1]).write_text(svg_changed(rows))
        print(f"wrote {targets[1]}")


if __name__ == "__main__":
    main(sys.argv[1:])
