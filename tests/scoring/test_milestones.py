"""Milestone status per account: achieved with date, on track, at risk, overdue; stage, next, TTFV."""

from __future__ import annotations

from datetime import date, timedelta

from scoring_helpers import HEALTHY, NOW, fields, run


def test_healthy_enterprise_is_at_adoption_and_expansion_is_not_yet_never_overdue() -> None:
    result = run({"A": HEALTHY})
    f = fields(result, "A")
    assert f["current_stage"] == "Adoption"
    assert f["next_milestone"] == "Expansion-ready"
    assert f["next_milestone_due"] == date(2024, 6, 1) + timedelta(days=240)  # long past: still not late
    assert f["next_milestone_status"] == "Not yet"
    assert "milestone_overdue" not in f["risk_flags"] and f["priority_band"] == "P4"


def test_a_first_run_dates_what_the_sources_date_and_leaves_the_rest_unknown() -> None:
    result = run({"A": {**HEALTHY, "subscription_started": 19_900.0}})  # 2024-06-26
    f, saved = fields(result, "A"), result.state_for("A")["milestones"]
    assert saved["kickoff"] == "2024-06-26"  # from billing history, not the install day
    assert saved["first_value"] == saved["adoption"] == "unknown"
    assert f["ttfv_days"] is None  # no made-up time to first value
    again = run({"A": HEALTHY}, now=NOW + timedelta(days=7), state=dict(result.states()))
    assert again.state_for("A")["milestones"] == saved  # unknown stays unknown, reached stays reached
    assert fields(again, "A")["current_stage"] == "Adoption"


def test_a_milestone_reached_after_the_first_run_is_dated_that_day() -> None:
    early = {"active_users": 1, "licensed_seats": 100}
    first = run({"A": early}, accounts={"A": {"contract_start": (NOW - timedelta(days=20)).date()}})
    later = NOW + timedelta(days=7, hours=5)
    second = run({"A": {**HEALTHY}}, now=later, state=dict(first.states()),
                 accounts={"A": {"contract_start": (NOW - timedelta(days=20)).date()}})
    assert second.state_for("A")["milestones"]["first_value"] == later.date().isoformat()
    assert fields(second, "A")["ttfv_days"] == 27


def test_on_track_when_the_pace_reaches_the_next_milestone_before_its_due_date() -> None:
    start = (NOW - timedelta(days=10)).date()
    f = fields(run({"A": {"active_users": 1}}, accounts={"A": {"contract_start": start}}), "A")
    assert (f["current_stage"], f["next_milestone"], f["next_milestone_status"]) == (
        "Kickoff done", "Onboarded and integrated", "On track")


def test_at_risk_when_the_pace_lands_after_the_due_date() -> None:
    start = (NOW - timedelta(days=40)).date()
    seen_before = {"A": {"scored_at": (NOW - timedelta(days=7)).isoformat(), "milestones": {}}}
    result = run({"A": {"active_users": 1}}, accounts={"A": {"contract_start": start}}, state=seen_before)
    f = fields(result, "A")
    assert f["next_milestone_status"] == "At risk"
    eta = result.explain("A")["milestones"]["next_eta"]
    assert eta > f["next_milestone_due"].isoformat()


def test_achievement_is_sticky_dated_and_implies_earlier_milestones() -> None:
    state = {"A": {"scored_at": "2025-03-01T09:00:00+00:00", "milestones": {"first_value": "2024-07-11"}}}
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
    stuck = fields(run({"A": {**HEALTHY, "meaningful_events_30d": 0, "active_users": 30}}), "A")  # onboarding
    assert stuck["next_milestone_status"] == "Overdue"
    assert "milestone_overdue" in stuck["risk_flags"].split(";")
