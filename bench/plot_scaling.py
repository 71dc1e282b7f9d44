"""How a cycle's cost grows with accounts: an SVG line chart (log–log) from ``bench_scoring.py --json``.

    .venv/bin/python bench/bench_scoring.py 1000 10000 100000 --json /tmp/stage.json
    .venv/bin/python bench/plot_scaling.py /tmp/stage.json docs/images/scaling.svg

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
          ("unchanged_full", "full pass (a new UTC day, sync --full)", "#ff7f0e"),
          ("changed_1pct", "1 % of accounts changed", "#2ca02c"),
          ("unchanged", "unchanged, same day (settled: skipped)", "#d62728"))
W, H, LEFT, RIGHT, TOP, BOTTOM = 720, 420, 70, 250, 30, 50


def svg(rows: list[dict]) -> str:
    rows = sorted(rows, key=lambda r: r["n"])
    points = {key: [(r["n"], max(r[key]["cpu_total"], 1e-3)) for r in rows] for key, _, _ in CYCLES}
    xs = [n for n, _ in points["first"]]
    ys = [y for series in points.values() for _, y in series]
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
    for n in xs:
        px, _ = at(n, 10.0 ** y0)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="#ddd"/>'
                   f'<text x="{px:.1f}" y="{H - BOTTOM + 18}" text-anchor="middle">{n:,}</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2:.0f}" y="{H - 12}" text-anchor="middle">accounts</text>'
               f'<text x="16" y="{TOP + (H - TOP - BOTTOM) / 2:.0f}" transform="rotate(-90 16 '
               f'{TOP + (H - TOP - BOTTOM) / 2:.0f})" text-anchor="middle">process CPU seconds per cycle</text>')
    first = points["first"][0]
    guide = [at(first[0], first[1]), at(xs[-1], first[1] * xs[-1] / first[0])]
    out.append(f'<line x1="{guide[0][0]:.1f}" y1="{guide[0][1]:.1f}" x2="{guide[1][0]:.1f}" y2="{guide[1][1]:.1f}" '
               'stroke="#999" stroke-dasharray="4 4"/>')
    for i, (key, label, colour) in enumerate(CYCLES):
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in (at(n, y) for n, y in points[key]))
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in
                (at(n, y) for n, y in points[key])]
        ly = TOP + 10 + 22 * i
        out.append(f'<line x1="{W - RIGHT + 15}" x2="{W - RIGHT + 35}" y1="{ly}" y2="{ly}" stroke="{colour}" '
                   f'stroke-width="2"/><text x="{W - RIGHT + 40}" y="{ly + 4}">{label}</text>')
    ly = TOP + 10 + 22 * len(CYCLES)
    out.append(f'<line x1="{W - RIGHT + 15}" x2="{W - RIGHT + 35}" y1="{ly}" y2="{ly}" stroke="#999" '
               f'stroke-dasharray="4 4"/><text x="{W - RIGHT + 40}" y="{ly + 4}">linear (slope 1)</text>')
    return "\n".join([*out, "</svg>"]) + "\n"


def main(argv: list[str]) -> None:
    rows = [r for name in argv[:-1] for r in json.loads(Path(name).read_text())]
    Path(argv[-1]).write_text(svg(rows))
    print(f"wrote {argv[-1]} from {len(rows)} sizes")


if __name__ == "__main__":
    main(sys.argv[1:])
