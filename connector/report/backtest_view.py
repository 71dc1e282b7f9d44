"""The report's backtest section: :func:`connector.backtest.run_backtest`'s figures as table rows.

The page shows the headline — adverse outcomes (churn or downgrade), per signal — and the lift table;
``connector backtest`` prints every outcome kind, and ``--json`` carries all of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BacktestView:
    history: dict[str, Any]
    horizon_days: float
    outcomes: dict[str, int]
    signals: list[dict[str, Any]]  # signal, warned, hits, precision, recall, lift, lead_days_median
    lift: dict[str, Any]


def backtest_view(data: dict[str, Any], kind: str = "adverse") -> BacktestView | None:
    """None when there is nothing to replay (no score row yet)."""
    if not data["history"]["runs_rows"]:
        return None
    rows = [{"signal": s["signal"].removeprefix("flag:"), **s["by_outcome"][kind]} for s in data["signals"]]
    rows.sort(key=lambda r: (-(r["lift"] or 0.0), r["signal"]))
    return BacktestView(data["history"], data["parameters"]["horizon_days"], data["outcomes"], rows,
                        data["lift_table"])
