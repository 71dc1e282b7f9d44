"""The report in a real browser: headless Chromium, with no network, draws every chart.

Skipped when the Debian ``chromium`` package is not installed (``.ci/run`` installs it).  The screenshot
is kept in ``test-artifacts/report.png`` so a reviewer can look at the page CI rendered.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from connector.report import build_report
from connector.store import Store

from .report_kit import fill_store
from .test_report import CHARTS, make_config

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARTIFACT = REPO / "test-artifacts" / "report.png"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium): browser render not checked"
)


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with networking refused, so a chart that needed a CDN would fail to draw."""
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def chart_markup(dom: str, name: str) -> str:
    """The DOM of one chart container: from its id up to the next chart's (or the end of the page)."""
    start = dom.index(f'id="chart-{name}"')
    following = dom.find('id="chart-', start + 1)
    return dom[start: following if following > 0 else len(dom)]


def test_chromium_draws_every_chart(store: Store, tmp_path: Path) -> None:
    fill_store(store)
    page = build_report(make_config(tmp_path), store, tmp_path / "report.html")

    dumped = chromium(tmp_path / "profile-dom", "--dump-dom", page.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    for name in CHARTS:
        markup = chart_markup(dom, name)
        assert 'class="main-svg"' in markup, f"chart {name} was not drawn"
        assert re.search(r'class="trace[ "]', markup), f"chart {name} was drawn without any trace"
    assert "<script>alert(" not in dom

    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    shot = chromium(tmp_path / "profile-shot", f"--screenshot={ARTIFACT}", "--window-size=1400,3000", page.as_uri())
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert ARTIFACT.stat().st_size > 50_000  # a blank page compresses to a few KB
