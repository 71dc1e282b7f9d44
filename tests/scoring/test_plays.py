"""Plays → tasks: one example per play, escalation, auto-close, cooldown, cap, suppression, keys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from scoring_helpers import HEALTHY, NOW, open_plays, run

from connector.scoring import ScoringResult
from connector.scoring.plays import task_key


def trend(now: datetime, start: float, per_30d: float) -> list[tuple[datetime, float]]:
    return [(now - timedelta(days=d), start - per_30d * d / 30) for d in (56, 42, 28, 14, 7)]


def plays_for(result: ScoringResult, account: str = "A") -> set[str]:
    return {p for a, p, _ in open_plays(result) if a == account}


def test_vector_turning_negative_opens_a_task_that_says_why_where_next_and_what_to_bring() -> None:
    result = run({"A": HEALTHY}, history={"A": trend(NOW, 60, -25)})
    assert result.fields(0)["vector_direction"] == "Negative"
    [task] = [t for t in result.tasks() if t.play == "vector_negative"]
    assert task.key == "A:vector_negative:0" and task.channel == "email" and task.priority == "High"
    for part in ("Why:", "Where they are: Adoption", "Next milestone: Expansion-ready", "Bring:"):
        assert part in task.body
    assert "check in" not in (task.subject + task.body).lower()


def test_escalation_ladder_follows_the_touch_model_and_closes_the_superseded_step() -> None:
    first = run({"A": HEALTHY}, history={"A": trend(NOW, 60, -25)})
    later = NOW + timedelta(days=4)
    second = run({"A": HEALTHY}, now=later, history={"A": trend(later, 60, -25)}, state=dict(first.states()))
    tasks = {(t.key, t.status, t.channel) for t in second.tasks() if t.play == "vector_negative"}
    assert tasks == {("A:vector_negative:1", "open", "email_other_sender"),
                     ("A:vector_negative:0", "closed", "email")}
    steps = []
    state, now = dict(second.states()), later
    for _ in range(4):
        now += timedelta(days=4)
        r = run({"A": HEALTHY}, now=now, history={"A": trend(now, 60, -25)}, state=state)
        state = dict(r.states())
        steps += [(t.step, t.channel) for t in r.tasks() if t.play == "vector_negative" and t.status == "open"]
    assert steps == [(2, "sms"), (3, "call")]  # high-touch ladder ends with the CSM's call


def test_task_closes_when_the_trigger_clears_and_cooldown_blocks_an_immediate_reopen() -> None:
    first = run({"A": {**HEALTHY, "payments_failed_90d": 1}})
    assert "payment_failed" in plays_for(first)
    cleared_at = NOW + timedelta(days=1)
    second = run({"A": HEALTHY}, now=cleared_at, state=dict(first.states()))
    closed = [t for t in second.tasks() if t.play == "payment_failed"]
    assert [(t.key, t.status) for t in closed] == [("A:payment_failed:0", "closed")]
    again = run({"A": {**HEALTHY, "payments_failed_90d": 1}}, now=cleared_at + timedelta(days=2),
                state=dict(second.states()))
    assert "payment_failed" not in plays_for(again)  # cooldown 7 days
    later = run({"A": {**HEALTHY, "payments_failed_90d": 1}}, now=cleared_at + timedelta(days=8),
                state=dict(second.states()))
    assert "payment_failed" in plays_for(later)


def test_rerunning_the_same_day_creates_nothing_new() -> None:
    first = run({"A": {**HEALTHY, "payments_failed_90d": 1}})
    second = run({"A": {**HEALTHY, "payments_failed_90d": 1}}, now=NOW + timedelta(hours=1),
                 state=dict(first.states()))
    assert second.tasks() == []
    assert {t.key for t in second.tasks(include_unchanged=True)} == {t.key for t in first.tasks()}


EVENTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("payment_failed", {"subscription_status": "past_due"}, {}),
    ("card_expiring", {"card_expiring_30d": 1}, {}),
    ("champion_changed", {"champion_changed_90d": 1}, {}),
    ("competitor_detected", {"competitor_detected": 1, "competitor_names": "Intercom"}, {}),
    ("competitor_detected", {"own_widget_removed": 1}, {}),
    ("renewal", {}, {"renewal_date": (NOW + timedelta(days=30)).date()}),
    ("onboarding", {"active_users": 0, "meaningful_events_30d": 0},
     {"contract_start": (NOW - timedelta(days=10)).date()}),
    ("milestone_overdue", {"meaningful_events_30d": 0, "active_users": 30}, {}),
]
#: A state left by an earlier run: milestones reached now were reached since then (dated today).
SEEN = {"A": {"scored_at": (NOW - timedelta(days=7)).isoformat(), "direction": "Positive", "milestones": {}}}


def test_each_event_and_time_play_fires_on_its_trigger() -> None:
    for play, signals, account in EVENTS:
        result = run({"A": {**HEALTHY, **signals}}, accounts={"A": account})
        assert play in plays_for(result), play
        calm = run({"A": HEALTHY}, accounts={"A": {"contract_start": (NOW - timedelta(days=100)).date()}})
        assert play not in plays_for(calm)


def test_competitor_task_names_the_competitor() -> None:
    result = run({"A": {**HEALTHY, "competitor_detected": 1, "competitor_names": "Intercom"}})
    [task] = [t for t in result.tasks() if t.play == "competitor_detected"]
    assert "Intercom" in task.subject


def test_upsell_when_an_offer_milestone_is_reached_on_a_positive_vector() -> None:
    ready = {**HEALTHY, "active_users": 90, "features_adopted": 7}
    rising = run({"A": ready}, history={"A": trend(NOW, 70, 20)}, state=SEEN)
    [task] = [t for t in rising.tasks() if t.play == "expansion_upsell"]
    assert "+25 seats" in task.subject and task.channel == "email"
    flat = run({"A": ready})
    assert "expansion_upsell" not in plays_for(flat)


def test_advocacy_ask_only_for_succeeding_customers_without_advocacy() -> None:
    rising = {"A": trend(NOW, 60, 20), "B": trend(NOW, 60, 20)}
    result = run({"A": HEALTHY, "B": {**HEALTHY, "advocacy": 1}}, history=rising,
                 accounts={"A": {"arr": 200_000}, "B": {"arr": 200_000}})
    assert result.fields(0)["quadrant"] == "Success"
    assert "advocacy_ask" in plays_for(result, "A")
    assert "advocacy_ask" not in plays_for(result, "B")


def test_post_churn_follow_up_waits_for_the_cooling_off_and_churned_accounts_get_nothing_else() -> None:
    churned = {**HEALTHY, "churned": 1, "payments_failed_90d": 2}
    first = run({"A": churned})
    assert plays_for(first) == set()
    assert "churned_without_reason" in first.fields(0)["risk_flags"]
    later = run({"A": churned}, now=NOW + timedelta(days=31), state=dict(first.states()))
    assert plays_for(later) == {"post_churn_follow_up"}
    with_reason = run({"A": {**churned, "churn_reason": "budget"}}, now=NOW + timedelta(days=31),
                      state=dict(first.states()))
    assert plays_for(with_reason) == set()


def test_daily_cap_per_owner_keeps_the_highest_value_tasks() -> None:
    signals = {f"A{i:02d}": {**HEALTHY, "payments_failed_90d": 1} for i in range(25)}
    accounts = {aid: {"arr": 1000.0 * (i + 1), "renewal_date": None} for i, aid in enumerate(signals)}
    result = run(signals, accounts=accounts)
    opened = [t for t in result.tasks() if t.status == "open"]
    assert len(opened) == 20 and result.plays.deferred > 0
    assert all(t.play == "payment_failed" for t in opened)  # High priority first
    assert "A00" not in {t.account_id for t in opened}  # the lowest ARR waits for tomorrow


def test_suppression_window_freezes_new_tasks_for_its_segment_only() -> None:
    christmas = datetime(2025, 12, 26, 9, 0, tzinfo=NOW.tzinfo)
    signals = {"E": {**HEALTHY, "payments_failed_90d": 1}, "M": {**HEALTHY, "payments_failed_90d": 1}}
    result = run(signals, now=christmas, accounts={"M": {"segment": "Mid-Market"}})
    assert plays_for(result, "E") == set()
    assert "payment_failed" in plays_for(result, "M")
    after = run(signals, now=christmas + timedelta(days=9), state=dict(result.states()),
                accounts={"M": {"segment": "Mid-Market"}})
    assert "payment_failed" in plays_for(after, "E")


def test_task_keys_are_stable_and_fit_an_external_id() -> None:
    assert task_key("001A", "renewal", 2) == "001A:renewal:2"
    long_key = task_key("x" * 300, "renewal", 2)
    assert len(long_key) <= 255 and long_key == task_key("x" * 300, "renewal", 2)
