"""Plays → the account plan: each play fires on its trigger; one task per account merges them; escalation
only on evidence; closes carry a reason; conflict rules; suppression; keys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from scoring_helpers import DEFAULT_MODEL, HEALTHY, NOW, fields, open_plays
from scoring_helpers import run as run_any

from connector.records import TaskEvidence
from connector.scoring import ScoringResult
from connector.scoring.plan import task_key

#: A state left by an earlier run: milestones reached now were reached since then (dated today).
SEEN = {"A": {"scored_at": (NOW - timedelta(days=7)).isoformat(), "direction": "Positive", "milestones": {}}}
#: Seven months in: HEALTHY has reached Adoption and its next milestone is not due yet (no overdue play).
CALM_START = (NOW - timedelta(days=200)).date()


def run(signals: Any, accounts: dict[str, dict[str, Any]] | None = None, **kw: Any) -> ScoringResult:
    given = accounts or {}
    return run_any(signals, accounts={a: {"contract_start": CALM_START, **given.get(a, {})} for a in signals}, **kw)


def trend(now: datetime, start: float, per_30d: float) -> list[tuple[datetime, float]]:
    return [(now - timedelta(days=d), start - per_30d * d / 30) for d in (56, 42, 28, 14, 7)]


def plays_for(result: ScoringResult, account: str = "A") -> set[str]:
    return {p for a, p, _ in open_plays(result) if a == account}


def sliding(now: datetime) -> dict[str, Any]:
    return {"history": {"A": trend(now, 60, -25)}}


def test_vector_turning_negative_opens_a_plan_task_that_says_why_where_next_and_what_to_bring() -> None:
    result = run({"A": HEALTHY}, **sliding(NOW))
    assert result.fields(0)["vector_direction"] == "Negative"
    [task] = result.tasks()
    assert task.key == "A:plan:0" and task.play == "vector_negative" and task.channel == "email"
    assert task.priority == "High" and task.plays == ("vector_negative",)
    for part in ("Why:", "Where they are: Adoption", "Next milestone: Expansion-ready", "Bring:"):
        assert part in task.body
    assert "check in" not in (task.subject + task.body).lower()
    assert "no result" not in task.body


def test_the_body_says_the_trend_in_the_drivers_words_and_gives_an_opportunity_no_past_due_day() -> None:
    """One source: the body's trend is the drivers sentence (a Flat vector's +13/30 days comes with its noise
    band); a vendor opportunity that is "Not yet" shows no due day (it is never overdue)."""
    result = run({"A": HEALTHY}, **sliding(NOW))
    [task] = result.tasks()
    assert f"Trend: {fields(result, 'A')['vector_drivers']}" in task.body
    assert fields(result, "A")["next_milestone"] == "Expansion-ready"
    assert "Next milestone: Expansion-ready (our opportunity, not yet reached; never overdue)." in task.body
    assert ", due " not in task.body.split("Next milestone:")[1].split("\n")[0]


def test_concurrent_plays_merge_into_one_task_whose_body_ranks_the_reasons() -> None:
    signals = {**HEALTHY, "payments_failed_90d": 1, "competitor_detected": 1, "competitor_names": "Intercom"}
    result = run({"A": signals}, accounts={"A": {"renewal_date": (NOW + timedelta(days=30)).date()}})
    [task] = result.tasks()
    assert task.key == "A:plan:0"
    assert task.plays[0] == "payment_failed" and set(task.plays) == {"payment_failed", "competitor_detected",
                                                                     "renewal"}
    assert task.plays.index("renewal") > task.plays.index("competitor_detected")  # High before Normal
    assert "(+2 more on this account's plan)" in task.subject
    assert "Also on this account's plan, most important first:\n2. " in task.body and "Intercom" in task.body


def test_a_new_reason_updates_the_open_task_in_place() -> None:
    first = run({"A": {**HEALTHY, "card_expiring_30d": 1}})
    later = NOW + timedelta(days=1)
    second = run({"A": {**HEALTHY, "card_expiring_30d": 1, "payments_failed_90d": 1}}, now=later,
                 state=dict(first.states()))
    [task] = second.tasks()
    assert task.key == "A:plan:0" and task.status == "open" and task.play == "payment_failed"
    assert "payment failed joined" in task.body or "payment failed now leads" in task.body


def test_no_expansion_or_advocacy_ask_while_billing_is_red() -> None:
    ready = {**HEALTHY, "active_users": 90, "features_adopted": 7}
    rising = run({"A": ready}, history={"A": trend(NOW, 70, 20)}, state=SEEN)
    assert "expansion_upsell" in plays_for(rising)
    red = run({"A": {**ready, "payments_failed_90d": 1}}, history={"A": trend(NOW, 70, 20)}, state=SEEN)
    assert plays_for(red) == {"payment_failed"}
    assert red.plays.held[list(DEFAULT_MODEL.plays).index("expansion_upsell"), 0]


def _evidence(state: str, **kw: Any) -> TaskEvidence:
    return TaskEvidence(key="A:plan:0", account_id="A", state=state, **kw)  # type: ignore[arg-type]


def test_no_escalation_without_evidence_before_the_due_date_passes() -> None:
    first = run({"A": HEALTHY}, **sliding(NOW))
    later = NOW + timedelta(days=4)  # due in 2 days + 3 days grace: not yet overdue
    second = run({"A": HEALTHY}, now=later, state=dict(first.states()), **sliding(later))
    assert second.tasks() == []


def test_an_overdue_untouched_step_escalates_in_place_and_says_why() -> None:
    first = run({"A": HEALTHY}, **sliding(NOW))
    later = NOW + timedelta(days=6)
    second = run({"A": HEALTHY}, now=later, state=dict(first.states()), **sliding(later))
    [task] = second.tasks()
    assert (task.key, task.status, task.step, task.channel) == ("A:plan:0", "open", 1, "email_other_sender")
    assert "nobody touched it" in task.body and "no result" not in task.body


def test_a_touched_task_does_not_escalate_when_overdue() -> None:
    first = run({"A": HEALTHY}, **sliding(NOW))
    later = NOW + timedelta(days=6)
    second = run({"A": HEALTHY}, now=later, state=dict(first.states()), **sliding(later),
                 evidence=[_evidence("open", touched=True)])
    assert second.tasks() == []


def test_a_completed_step_moves_on_only_while_the_reason_holds_and_gives_the_customer_time() -> None:
    failing = {"A": {**HEALTHY, "payments_failed_90d": 1}}
    first = run(failing)
    done = _evidence("completed", at=NOW + timedelta(days=1))
    day2 = NOW + timedelta(days=2)
    second = run(failing, now=day2, state=dict(first.states()), evidence=[done])
    [task] = second.tasks()
    assert (task.key, task.step, task.channel) == ("A:plan:1", 1, "email_other_sender")
    assert task.due_date == (day2 + timedelta(days=3)).date()  # high touch: 3 days to answer first
    assert "step 1 completed in the CRM" in task.body and "reason still holds" in task.body
    healed = run({"A": HEALTHY}, now=day2, state=dict(first.states()), evidence=[done])
    assert healed.tasks() == []  # the payment went through after her step: nothing to escalate
    assert run(failing, now=day2 + timedelta(hours=2), state=dict(second.states()), evidence=[done]).tasks() == []


def test_the_connector_never_completes_a_task_it_closes_with_a_reason() -> None:
    first = run({"A": {**HEALTHY, "payments_failed_90d": 1}})
    cleared_at = NOW + timedelta(days=1)
    second = run({"A": HEALTHY}, now=cleared_at, state=dict(first.states()))
    [closed] = second.tasks()
    assert (closed.key, closed.status, closed.close_reason) == ("A:plan:0", "closed", "cleared")
    again = run({"A": {**HEALTHY, "payments_failed_90d": 1}}, now=cleared_at + timedelta(days=2),
                state=dict(second.states()))
    assert "payment_failed" not in plays_for(again)  # cooldown 7 days
    later = run({"A": {**HEALTHY, "payments_failed_90d": 1}}, now=cleared_at + timedelta(days=8),
                state=dict(second.states()))
    assert [t.key for t in later.tasks()] == ["A:plan:1"]


def test_a_task_the_csm_deleted_is_not_recreated_inside_the_cooldown() -> None:
    failing = {"A": {**HEALTHY, "payments_failed_90d": 1}}
    first = run(failing)
    gone = [_evidence("dismissed", at=NOW + timedelta(hours=5))]
    day1 = NOW + timedelta(days=1)
    second = run(failing, now=day1, state=dict(first.states()), evidence=gone)
    assert second.tasks() == []
    day5 = NOW + timedelta(days=5)
    third = run(failing, now=day5, state=dict(second.states()), evidence=gone)
    assert third.tasks() == []
    after = NOW + timedelta(days=9)  # payment_failed cooldown: 7 days
    assert [t.key for t in run(failing, now=after, state=dict(third.states()), evidence=gone).tasks()] == ["A:plan:1"]


def test_a_csm_owner_and_due_date_change_survive_the_next_update() -> None:
    first = run({"A": {**HEALTHY, "card_expiring_30d": 1}})
    later = NOW + timedelta(days=1)
    moved = _evidence("open", touched=True, owner="005JANE", due=(NOW + timedelta(days=20)).date())
    second = run({"A": {**HEALTHY, "card_expiring_30d": 1, "payments_failed_90d": 1}}, now=later,
                 state=dict(first.states()), evidence=[moved])
    [task] = second.tasks()
    assert task.owner_id == "005JANE" and task.due_date == (NOW + timedelta(days=20)).date()


def test_rerunning_the_same_day_creates_nothing_new() -> None:
    first = run({"A": {**HEALTHY, "payments_failed_90d": 1}})
    second = run({"A": {**HEALTHY, "payments_failed_90d": 1}}, now=NOW + timedelta(hours=1),
                 state=dict(first.states()))
    assert second.tasks() == []
    assert {t.key for t in second.tasks(include_unchanged=True)} == {t.key for t in first.tasks()}


def test_a_rerun_later_the_same_day_decides_the_same() -> None:
    renewing = {"A": {"renewal_date": (NOW + timedelta(days=91)).date()}}
    morning = NOW.replace(hour=0, minute=1) + timedelta(days=5)
    evening = morning.replace(hour=23, minute=59)
    first = run({"A": HEALTHY}, accounts=renewing, **sliding(NOW))
    escalated = run({"A": HEALTHY}, now=morning, accounts=renewing, state=dict(first.states()), **sliding(morning))
    assert [t.step for t in escalated.tasks()] == [1]
    again = run({"A": HEALTHY}, now=evening, accounts=renewing, state=dict(escalated.states()), **sliding(evening))
    assert again.tasks() == []  # no due date, wait or renewal window flips at some hour of the day


def test_another_reason_opens_the_next_task_in_the_run_that_retires_a_finished_ladder() -> None:
    """The run that sees the last step completed must also open the task for a reason that holds now:
    deciding it one run later would make an unchanged, same-day re-run create a task."""
    expiring = {"A": {**HEALTHY, "card_expiring_30d": 1}}
    first = run(expiring)
    day2 = NOW + timedelta(days=2)
    second = run(expiring, now=day2, state=dict(first.states()),
                 evidence=[_evidence("completed", at=NOW + timedelta(days=1))])
    assert [(t.key, t.step) for t in second.tasks()] == [("A:plan:1", 1)]  # card_expiring: two steps
    day9 = NOW + timedelta(days=9)
    last_done = [TaskEvidence(key="A:plan:1", account_id="A", state="completed", at=day9 - timedelta(days=1))]
    both = {"A": {**HEALTHY, "card_expiring_30d": 1, "payments_failed_90d": 1}}
    third = run(both, now=day9, state=dict(second.states()), evidence=last_done)
    [task] = third.tasks()
    assert (task.key, task.play, task.status) == ("A:plan:2", "payment_failed", "open")
    again = run(both, now=day9 + timedelta(hours=3), state=dict(third.states()), evidence=last_done)
    assert again.tasks() == []


def test_after_the_state_store_is_lost_the_plan_continues_after_the_tasks_the_crm_holds() -> None:
    """No plan in the state, but the read-back adopted A:plan:0..2 from the CRM: the next task is A:plan:3,
    never a rewrite of A:plan:0 (which a CSM completed); an adopted open task is updated in place."""
    failing = {"A": {**HEALTHY, "payments_failed_90d": 1}}
    done = [TaskEvidence(key=f"A:plan:{i}", account_id="A", state="completed", at=NOW - timedelta(days=9 - i))
            for i in range(3)]
    assert [(t.key, t.status) for t in run(failing, evidence=done).tasks()] == [("A:plan:3", "open")]
    still_open = [*done[:2], TaskEvidence(key="A:plan:2", account_id="A", state="open", touched=True)]
    [task] = run(failing, evidence=still_open).tasks()
    assert (task.key, task.status) == ("A:plan:2", "open")
    assert run({"A": HEALTHY}, evidence=still_open).tasks()[0].close_reason == "cleared"


def test_old_per_play_tasks_are_closed_as_merged_into_the_plan() -> None:
    state = {"A": {"plays": {"payment_failed": {"first": NOW.isoformat(), "step": 1, "last": NOW.isoformat()}}}}
    result = run({"A": {**HEALTHY, "payments_failed_90d": 1}}, now=NOW + timedelta(days=1), state=state)
    by_key = {t.key: t for t in result.tasks()}
    assert by_key["A:payment_failed:1"].status == "closed" and by_key["A:payment_failed:1"].close_reason == "merged"
    assert by_key["A:plan:0"].status == "open"


EVENTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("payment_failed", {"subscription_status": "past_due"}, {}),
    ("card_expiring", {"card_expiring_30d": 1}, {}),
    ("champion_changed", {"champion_changed_90d": 1}, {}),
    ("competitor_detected", {"competitor_detected": 1, "competitor_names": "Intercom"}, {}),
    ("competitor_detected", {"own_widget_removed": 1}, {}),
    ("renewal", {}, {"renewal_date": (NOW + timedelta(days=30)).date()}),
    ("onboarding", {"active_users": 0, "meaningful_events_30d": 0},
     {"contract_start": (NOW - timedelta(days=10)).date()}),
    ("milestone_overdue", {"meaningful_events_30d": 0, "active_users": 30},
     {"contract_start": (NOW - timedelta(days=300)).date()}),
]

def test_each_event_and_time_play_fires_on_its_trigger() -> None:
    for play, signals, account in EVENTS:
        result = run({"A": {**HEALTHY, **signals}}, accounts={"A": account})
        assert play in plays_for(result), play
        calm = run({"A": HEALTHY}, accounts={"A": {"contract_start": (NOW - timedelta(days=100)).date()}})
        assert play not in plays_for(calm)


def test_self_serve_accounts_get_a_digital_next_action_not_a_human_task() -> None:
    smb = {"segment": "SMB", "renewal_date": (NOW + timedelta(days=30)).date(),
           "contract_start": (NOW - timedelta(days=50)).date()}
    result = run({"A": {**HEALTHY, "payments_failed_90d": 1}}, accounts={"A": smb})
    assert result.tasks() == []
    assert result.fields(0)["next_action"] == "payment_failed: step 1 of 3 (email); also renewal"
    calm = run({"A": HEALTHY}, accounts={"A": {"segment": "SMB", "renewal_date": None,
                                              "contract_start": (NOW - timedelta(days=50)).date()}})
    assert calm.fields(0)["next_action"] is None


def test_competitor_task_names_the_competitor() -> None:
    result = run({"A": {**HEALTHY, "competitor_detected": 1, "competitor_names": "Intercom"}})
    [task] = [t for t in result.tasks() if t.play == "competitor_detected"]  # High: it leads the plan
    assert "Intercom" in task.subject


def test_upsell_when_an_offer_milestone_is_reached_on_a_positive_vector() -> None:
    ready = {**HEALTHY, "active_users": 90, "features_adopted": 7}
    rising = run({"A": ready}, history={"A": trend(NOW, 70, 20)}, state=SEEN)
    [task] = [t for t in rising.tasks() if "expansion_upsell" in t.plays]
    assert "+25 seats" in task.body and task.channel == "email"
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


def test_the_cap_keeps_a_share_for_proactive_plays_and_reports_the_backlog() -> None:
    failing = {f"F{i:02d}": {**HEALTHY, "payments_failed_90d": 1} for i in range(25)}
    renewing = {f"R{i:02d}": dict(HEALTHY) for i in range(10)}
    accounts = {aid: {"arr": 1000.0 * (i + 1), "renewal_date": None} for i, aid in enumerate(failing)}
    accounts |= {aid: {"renewal_date": (NOW + timedelta(days=40)).date()} for aid in renewing}
    result = run({**failing, **renewing}, accounts=accounts)
    opened = [t for t in result.tasks() if t.status == "open"]
    assert len(opened) == 20
    assert sum(t.play == "renewal" for t in opened) == 8  # 40 % of 20 kept for proactive plays
    assert sum(t.play == "payment_failed" for t in opened) == 12
    assert "F00" not in {t.account_id for t in opened}  # the lowest ARR waits
    assert result.plays.deferred == 15
    backlog = {(b["play"], b["owner"]): b["deferred"] for b in result.plays.plan.backlog}
    assert backlog == {("payment_failed", "005OWNER"): 13, ("renewal", "005OWNER"): 2}


def test_escalations_of_open_tasks_do_not_consume_new_task_capacity() -> None:
    model = DEFAULT_MODEL.model_copy(update={"orchestration": DEFAULT_MODEL.orchestration.model_copy(
        update={"proactive_share": 0.0})})
    signals = {f"A{i:02d}": {**HEALTHY, "payments_failed_90d": 1} for i in range(20)}
    first = run(signals, model=model)
    assert len(first.tasks()) == 20
    later = NOW + timedelta(days=8)  # every task overdue and untouched (due in 1 day, 3 days' grace)
    more = {**signals, "B": {**HEALTHY, "payments_failed_90d": 1}}
    second = run(more, now=later, state=dict(first.states()), model=model)
    assert len([t for t in second.tasks() if t.step == 1]) == 20
    assert "B" in {t.account_id for t in second.tasks()}


def test_suppression_window_freezes_new_tasks_for_its_segment_only() -> None:
    christmas = datetime(2025, 12, 26, 9, 0, tzinfo=NOW.tzinfo)
    signals = {"E": {**HEALTHY, "payments_failed_90d": 1}, "M": {**HEALTHY, "payments_failed_90d": 1}}
    result = run(signals, now=christmas, accounts={"M": {"segment": "Mid-Market"}})
    assert plays_for(result, "E") == set()
    assert "payment_failed" in plays_for(result, "M")
    after = run(signals, now=christmas + timedelta(days=9), state=dict(result.states()),
                accounts={"M": {"segment": "Mid-Market"}})
    assert "payment_failed" in plays_for(after, "E")


def test_two_slots_split_the_most_important_play_from_the_rest() -> None:
    model = DEFAULT_MODEL.model_copy(update={"orchestration": DEFAULT_MODEL.orchestration.model_copy(
        update={"max_open_tasks_per_account": 2})})
    signals = {**HEALTHY, "payments_failed_90d": 1, "card_expiring_30d": 1, "champion_changed_90d": 1}
    result = run({"A": signals}, model=model)
    keys = {t.key: t.plays for t in result.tasks()}
    assert keys == {"A:plan:0": ("payment_failed",), "A:plan2:0": ("champion_changed", "card_expiring")}


def test_task_keys_are_stable_and_fit_an_external_id() -> None:
    assert task_key("001A", "plan", 2) == "001A:plan:2"
    long_key = task_key("x" * 300, "plan", 2)
    assert len(long_key) <= 255 and long_key == task_key("x" * 300, "plan", 2)


def test_a_sliding_vector_task_says_its_movers_once() -> None:
    """The body's trend line carries the drivers sentence; the play's reason must not repeat it."""
    [task] = run({"A": HEALTHY}, **sliding(NOW)).tasks()
    assert task.play == "vector_negative"
    drivers = task.body.split("Trend: ")[1].split("\n")[0]
    assert task.body.count(drivers) == 1


def test_a_complete_path_reads_as_their_next_outcome_never_as_a_milestone_called_path_complete() -> None:
    """Every milestone reached (Advocate), the vector sliding: the recovery task heads toward their next Desired
    Outcome and says to agree it — "recovery plan toward path complete" is not a sentence a CSM acts on."""
    done = {**HEALTHY, "active_users": 90, "features_adopted": 7, "advocacy": 1}
    result = run({"A": done}, **sliding(NOW))
    assert fields(result, "A")["next_milestone"] is None and fields(result, "A")["current_stage"] == "Advocate"
    [task] = result.tasks()
    assert task.subject.endswith("recovery plan toward their next Desired Outcome")
    assert ("Next milestone: their next Desired Outcome (every milestone on their path is reached: agree the next "
            "outcome with them).") in task.body
    assert "path complete" not in task.subject + task.body


def test_the_advocacy_ask_says_how_the_vector_moves_as_the_trend_line_does() -> None:
    """A Positive the hold keeps while the rise has eased must not read "and rising" beside "Rising, levelling
    off" — the reason takes the drivers sentence's own shape."""
    rising = {"A": trend(NOW, 60, 20)}
    result = run({"A": HEALTHY}, history=rising, accounts={"A": {"arr": 200_000}})
    from connector.scoring.drivers import movement_phrase

    [task] = [t for t in result.tasks() if "advocacy_ask" in t.plays]
    why = task.body.split("Why:")[1].split("\n")[0]
    assert f", {movement_phrase(result.movement(0))}. The right moment" in why
    assert "and rising" not in task.body


def test_a_task_shows_the_score_the_trend_line_shows() -> None:
    """82.54 read "Success Vector 82" (rounded to 82.5, then half to even) beside "Steady at 83": every
    whole-number score comes from the exact value; a plain {vector} is the field's tenth."""
    from connector.scoring.context import Shown

    assert f"{Shown(82.54):.0f}" == "83" and f"{Shown(82.54)}" == "82.5" and Shown(82.54) == 82.5
    result = run({"A": HEALTHY}, **sliding(NOW))
    result.vector.magnitude[0] = 82.54
    [task] = result.tasks()
    assert "Success Vector 83," in task.body
