"""The demo world exercises the whole model: all four quadrant cells, and outcomes a backtest can measure.

It runs the demo's own world (500 accounts, the demo seed) for the first weeks only, so it is marked slow.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.backtest import run_backtest
from connector.config import load_config
from connector.demo import run_demo
from connector.runtime import open_store
from connector.scoring.quadrant import QUADRANTS
from connector.store.schema import ScoreRow

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("demo_world")
    buffer = io.StringIO()
    code = run_demo(out_dir=out_dir, console=Console(file=buffer, width=200), runs=3, keep_seconds=0)
    assert code == 0, buffer.getvalue()
    return out_dir


def test_every_run_shows_all_four_quadrant_cells(demo_world: Path) -> None:
    store = open_store(load_config(demo_world / "connector.toml"))
    try:
        with Session(store.engine) as s:
            rows = s.execute(select(ScoreRow.run_id, ScoreRow.quadrant)).all()
    finally:
        store.close()
    cells: dict[int, Counter[str]] = {}
    for run_id, quadrant in rows:
        cells.setdefault(run_id, Counter())[quadrant] += 1
    assert cells, "the demo scored accounts"
    for run_id, counts in cells.items():
        assert set(counts) >= set(QUADRANTS), (run_id, counts)


def test_the_world_churns_shrinks_and_grows_and_the_backtest_measures_it(demo_world: Path) -> None:
    """Outcomes come from the world's evolution (health-dependent hazards), read back from the store."""
    store = open_store(load_config(demo_world / "connector.toml"))
    try:
        data = run_backtest(store)
    finally:
        store.close()
    assert all(data["outcomes"][kind] > 0 for kind in ("churn", "downgrade", "expansion")), data["outcomes"]
    rows = data["lift_table"]["rows"]
    assert rows[0]["rate"] > rows[-1]["rate"], rows  # the lowest vectors lose more customers than the highest
    assert any(s["by_outcome"]["adverse"]["hits"] for s in data["signals"])
    assert 'id="backtest"' in (demo_world / "report.html").read_text(encoding="utf-8")
