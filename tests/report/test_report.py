"""``connector report``: sections, self-containment, escaping and chart data, on a small fixture store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from connector.config import Config, config_from_dict
from connector.report import build_report, report_context
from connector.report.model_view import load_model_view
from connector.report.queries import score_columns, scored_run_ids
from connector.report.render import render_html
from connector.report.sections import forecast_view, quadrant_sample
from connector.store import Store

from .report_kit import HOSTILE_NAME, UNICODE_NAME, fill_store

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "mappings" / "success_model.toml"
SECTIONS = ("vector", "quadrant", "milestones", "forecast", "at-risk", "attention", "sync")
CHARTS = ("vector", "change", "quadrant", "funnel", "forecast", "calls", "runs")


def make_config(tmp_path: Path, model: Path = MODEL) -> Config:
    data = {
        "connector": {"success_model": str(model), "output_dir": "out"},
        "salesforce": {"base_url": "https://example.my.salesforce.com", "session_id_env": "SF_TOKEN"},
    }
    return config_from_dict(data, tmp_path / "connector.toml")


def chart_payloads(html: str) -> dict[str, dict]:
    pattern = r'<script type="application/json" class="chart-data" data-target="chart-([\w-]+)">(.*?)</script>'
    blocks = re.findall(pattern, html, re.S)
    return {name: json.loads(body) for name, body in blocks}


@pytest.fixture
def report_html(store: Store, tmp_path: Path) -> str:
    fill_store(store)
    path = build_report(make_config(tmp_path), store, None)
    assert path == tmp_path / "out" / "report.html"
    return path.read_text(encoding="utf-8")


def test_report_has_every_section_and_chart(report_html: str) -> None:
    for section in SECTIONS:
        assert f'<section class="card" id="{section}">' in report_html
    payloads = chart_payloads(report_html)
    assert set(payloads) == set(CHARTS)
    for name in CHARTS:
        assert f'id="chart-{name}"' in report_html, name
        assert payloads[name]["data"], f"chart {name} has no traces"


def test_report_is_self_contained(report_html: str) -> None:
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", report_html, re.I)
    for tag in tags:
        assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", tag, re.I), tag
    assert report_html.count("Plotly.newPlot") == 1
    assert len(re.findall(r"<script>", report_html)) == 2  # plotly.js once, then the loader


def test_account_names_are_escaped(report_html: str) -> None:
    assert HOSTILE_NAME not in report_html
    assert "&lt;script&gt;alert(" in report_html  # the at-risk table shows the name as text
    assert UNICODE_NAME in report_html
    scripts = re.findall(r"<script\b", report_html, re.I)
    assert len(scripts) == len(CHARTS) + 2  # chart data blocks + plotly.js + loader; no injected one
    hover = json.dumps(chart_payloads(report_html)["quadrant"])
    assert "&lt;script&gt;alert(" in hover  # plotly shows entities as text, never as markup


def test_numbers_match_the_fixture(any_store: Store) -> None:
    """On SQLite and PostgreSQL: the JSON field extraction and grouping run in the database."""
    store = any_store
    accounts = fill_store(store, n=60)
    context, figures = report_context(store, load_model_view(MODEL))
    assert context["accounts"] == len(accounts) and context["scored"] == len(accounts)
    dist = context["distribution"]
    assert sum(dist.direction_counts.values()) == len(accounts)
    assert sum(sum(c) for c in dist.by_segment.values()) == len(accounts)
    assert set(dist.by_segment) == {"Enterprise", "Mid-Market", "SMB / self-serve"}  # CRM text mapped to the model
    change = context["change"]
    assert change.compared == len(accounts) and change.previous_run == 1
    assert change.improved + change.unchanged + change.declined == len(accounts)
    assert len(context["at_risk"]) == 25
    negative_first = [a["direction"] == "Negative" for a in context["at_risk"]]
    assert negative_first == sorted(negative_first, reverse=True)
    funnel = next(f for f in context["funnels"] if f.segment == "SMB / self-serve")
    assert funnel.stages[0] == "Signed up and set up" and funnel.ordered_by_model
    assert funnel.reached == sorted(funnel.reached, reverse=True)  # cumulative along the path
    assert funnel.ttfv_median is not None and 10 <= funnel.ttfv_median <= 90
    assert context["quarantine"].total == 3
    assert context["quarantine"].by_reason[0][2] == 2
    assert context["forecast"].totals == {"≤ 30 days": 84600.0, "≤ 60 days": 136200.0, "≤ 90 days": 214000.0}
    assert [s.system for s in context["health"].systems] == ["hubspot", "salesforce", "zendesk"]
    assert context["health"].last_run.status == "partial"
    assert not context["sample"].y_is_profit  # outputs carry no cost_to_serve: the chart says ARR
    assert figures["quadrant"] is not None


def test_scatter_is_sampled_and_the_page_says_so(store: Store) -> None:
    fill_store(store, n=80)
    cols = score_columns(store, scored_run_ids(store)[0])
    sample = quadrant_sample(cols, ["SMB"] * cols.n, limit=10)
    assert len(sample.x) == 10 and sample.total == 80
    assert sample.x == quadrant_sample(cols, ["SMB"] * cols.n, limit=10).x  # fixed seed: stable reports
    assert sum(sample.counts.values()) == 80  # the counts cover every account, not only the sample
    context, figures = report_context(store, load_model_view(MODEL))
    context["sample"] = sample
    assert "Showing a fixed random sample of 10 of 80 accounts" in render_html(context, figures)


def test_report_renders_without_a_model_or_scores(store: Store, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    html = render_html(*report_context(store, load_model_view(missing)))
    assert "No scores in the store yet" in html
    assert f"success model {missing} not found" in html
    fill_store(store)
    html = build_report(make_config(tmp_path, missing), store, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "listed by frequency" in html
    assert chart_payloads(html)["funnel"]["data"]


def test_forecast_of_unknown_shape_is_still_shown() -> None:
    view = forecast_view({"q1_cohort": {"arr": 1200.0, "accounts": 3}, "note": "beta"}, load_model_view(MODEL))
    assert view is not None
    assert view.series == {"arr": {"q1_cohort": 1200.0}, "accounts": {"q1_cohort": 3.0}}
    assert ["note", "beta"] in view.rows
    assert forecast_view({}, load_model_view(MODEL)) is None
    assert forecast_view(["not", "a", "dict"], load_model_view(MODEL)) is None


def test_attention_section_shows_the_status_view(store: Store, tmp_path: Path) -> None:
    fill_store(store)
    latest = store.runs(limit=1)[0]
    drifted = {**latest.stats, "sinks": {"salesforce": {**latest.stats["sinks"]["salesforce"], "drift": [
        {"system": "salesforce", "object": "Account", "record_id": "001A00003", "action": "drift",
         "field": "CS_Next_Milestone__c", "old": "Onboarding", "new": "<b>set by hand</b>",
         "account_id": "001A00003"}]}}}
    store.finish_run(latest.id, latest.status, drifted)
    html = build_report(make_config(tmp_path), store, None).read_text(encoding="utf-8")
    section = html.split('<section class="card" id="attention">', 1)[1].split("</section>", 1)[0]
    assert "CS_Next_Milestone__c" in section and "&lt;b&gt;set by hand&lt;/b&gt;" in section
    assert ">sync<" in section and "partial" in section  # the newest sync run, its outcome
    assert "Quarantined records: 3" in section
