"""Milestone status per account: achieved with date, on track, at risk, overdue; stage, next, TTFV."""

from __future__ import annotations

from datetime import date, timedelta

from scoring_helpers import HEALTHY, NOW, fields, run


def test_healthy_enterprise_is_at_adoption_and_late_for_expansion_readiness() -> None:
    f = fields(run({"A": HEALTHY}), "A")
    assert f["current_stage"] == "Adoption"
    assert f["next_milestone"] == "Expansion-ready"
    assert f["next_milestone_due"] == date(2024, 6, 1) + timedelta(days=240)
    assert f["next_milestone_status"] == "Overdue"


def test_on_track_when_the_pace_reaches_the_next_milestone_before_its_due_date() -> None:
    start = (NOW - timedelta(days=10)).date()
    f = fields(run({"A": {"active_users": 1}}, accounts={"A": {"contract_start": start}}), "A")
    assert (f["current_stage"], f["next_milestone"], f["next_milestone_status"]) == (
        "Kickoff done", "Onboarded and integrated", "On track")


def test_at_risk_when_the_pace_lands_after_the_due_date() -> None:
    start = (NOW - timedelta(days=40)).date()
    result = run({"A": {"active_users": 1}}, accounts={"A": {"contract_start": start}})
    f = fields(result, "A")
    assert f["next_milestone_status"] == "At risk"
    eta = result.explain("A")["milestones"]["next_eta"]
    assert eta > f["next_milestone_due"].isoformat()


def test_achievement_is_sticky_dated_and_implies_earlier_milestones() -> None:
    state = {"A": {"milestones": {"first_value": "2024-07-11"}}}
    result = run({"A": {"active_users": 0}}, state=state)
    f = fields(result, "A")
    assert f["current_stage"] == "First value"
    assert f["ttfv_days"] == 40
    saved = result.state_for("A")["milestones"]
    assert saved["first_value"] == "2024-07-11"
    assert saved["kickoff"] == NOW.date().isoformat()  # implied by the later one, dated when first seen


def test_ttfv_is_empty_until_first_value_and_path_complete_has_no_next() -> None:
    assert fields(run({"A": {"active_users": 1}}), "A")["ttfv_days"] is None
    done = {**HEALTHY, "active_users": 95, "features_adopted": 9, "advocacy": 1}
    f = fields(run({"A": done}), "A")
    assert f["current_stage"] == "Advocate"
    assert f["next_milestone"] is None and f["next_milestone_status"] is None


def test_segments_have_their_own_paths_and_unknown_segments_fall_back() -> None:
    result = run({"S": {"active_users": 1}, "X": {"active_users": 1}},
                 accounts={"S": {"segment": "self-serve"}, "X": {"segment": "¿?"}})
    assert fields(result, "S")["current_stage"] == "Signed up and set up"
    assert result.explain("X")["account"]["segment"] == "mid_market"


def test_overdue_milestones_raise_the_flag() -> None:
    assert "milestone_overdue" in fields(run({"A": HEALTHY}), "A")["risk_flags"].split(";")
