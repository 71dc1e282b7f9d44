"""Direction moves on signal, not noise, and the drivers sentence explains exactly that movement.

Runs are chained as the sync chains them: each run reads the state and score history the previous one
left, a week (or a day) later.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_helpers import DEFAULT_MODEL, HEALTHY, NOW, fields, run

from connector.scoring import ScoringResult
from connector.scoring.drivers import named_drivers
from connector.scoring.trend import direction_with_hold

settings.register_profile("direction", max_examples=25, deadline=None)
settings.load_profile("direction")
CFG = DEFAULT_MODEL.vector
BAND = 6.0
FIXED = DEFAULT_MODEL.model_copy(update={"vector": CFG.model_copy(update={"noise_band": BAND})})


def chain(weeks: list[dict[str, dict[str, Any]]], *, step: timedelta = timedelta(days=7),
          model: Any = DEFAULT_MODEL, start: datetime = NOW) -> list[ScoringResult]:
    """Score each week's signals in turn, carrying state and history like the sync does."""
    state: dict[str, dict[str, Any]] = {}
    history: dict[str, list[tuple[datetime, float]]] = {}
    out = []
    for k, signals in enumerate(weeks):
        now = start + k * step
        result = run(signals, now=now, state=state, history=history, model=model)
        state = dict(result.states())
        for row, account in enumerate(result.inputs.account_ids):
            if not np.isnan(result.vector.magnitude[row]):
                history.setdefault(str(account), []).append((now, float(result.vector.magnitude[row])))
        out.append(result)
    return out


# -- direction ---------------------------------------------------------------------------------------------


@given(st.lists(st.floats(min_value=-BAND, max_value=BAND), min_size=1, max_size=30))
def test_flat_stays_flat_while_velocity_stays_inside_the_band(velocities: list[float]) -> None:
    direction, candidate, since = np.zeros(1, np.int8), np.zeros(1, np.int8), np.full(1, np.nan)
    for day, v in enumerate(velocities):
        direction, candidate, since = direction_with_hold(np.array([v]), np.array([BAND]), direction, candidate,
                                                          since, float(day * 7), 7.0, 0.5)
        assert direction[0] == 0


@given(st.lists(st.tuples(st.floats(min_value=-50, max_value=50), st.booleans()), min_size=1, max_size=30))
def test_direction_never_changes_before_the_velocity_held_outside_the_band(steps: list[tuple[float, bool]]) -> None:
    """Daily runs: a change of direction needs the same out-of-band sign on every run of the hold period."""
    direction, candidate, since = np.zeros(1, np.int8), np.zeros(1, np.int8), np.full(1, np.nan)
    raw_history: list[int] = []
    for day, (v, _) in enumerate(steps):
        before = int(direction[0])
        direction, candidate, since = direction_with_hold(np.array([v]), np.array([BAND]), direction, candidate,
                                                          since, float(day), 7.0, 0.5)
        raw_history.append(1 if v > BAND else -1 if v < -BAND else 0)
        if int(direction[0]) != before and int(direction[0]) != 0:
            assert len(raw_history) >= 8 and set(raw_history[-8:]) == {int(direction[0])}


@given(st.lists(st.integers(min_value=58, max_value=64), min_size=3, max_size=6))
def test_direction_stable_under_score_noise_below_the_band(active: list[int]) -> None:
    """Weekly scores wobbling by well under a point (seat use 58–64 %) never leave Flat."""
    weeks = [{"A": {**HEALTHY, "active_users": a}} for a in active]
    for result in chain(weeks, model=FIXED):
        assert fields(result, "A")["vector_direction"] == "Flat"


def test_a_steady_slide_turns_negative_after_the_hold_period_and_says_why() -> None:
    weeks = [{"A": {**HEALTHY, "active_users": 80 - 12 * k, "payments_failed_90d": min(k, 3)}} for k in range(6)]
    results = chain(weeks, model=FIXED)
    directions = [fields(r, "A")["vector_direction"] for r in results]
    assert directions[:2] == ["Flat", "Flat"]  # the first week out of the band only makes it a candidate
    assert directions[-1] == "Negative"
    text = fields(results[-1], "A")["vector_drivers"]
    assert text.startswith("Falling ") and "failed payments (−" in text and "seat utilisation (−" in text


def test_the_sentence_counts_down_the_hold_and_the_direction_turns_when_it_says() -> None:
    """Daily runs of a steady slide: the first day outside the band says the whole hold, each later day
    one day less, and the direction turns the day after "1 more day" — so Monday's sentence is not
    Thursday's, and what it promises happens."""
    days = [{"A": {**HEALTHY, "active_users": 90 - 3 * k}} for k in range(16)]
    results = chain(days, step=timedelta(days=1), model=FIXED)
    said = [(fields(r, "A")["vector_direction"], fields(r, "A")["vector_drivers"]) for r in results]
    waiting = [k for k, (direction, text) in enumerate(said) if "outside the" in text and direction == "Flat"]
    assert len(waiting) == CFG.hold_days, said
    hold = f"{CFG.hold_days:g}"
    left = range(int(CFG.hold_days) - 1, 0, -1)
    expected = [f"direction changes if it holds {hold} days"] + [
        f"direction changes if it holds {n} more day{'' if n == 1 else 's'}" for n in left]
    for k, phrase in zip(waiting, expected, strict=True):
        assert phrase in said[k][1], (k, said[k][1])
    assert waiting == list(range(waiting[0], waiting[0] + len(waiting))), "one day less each day"
    assert said[waiting[-1] + 1][0] == "Negative", "turns the day after '1 more day'"


def test_a_same_day_rerun_changes_nothing() -> None:
    weeks = [{"A": {**HEALTHY, "active_users": 80 - 9 * k}} for k in range(4)]
    results = chain(weeks, model=FIXED)
    state = dict(results[-1].states())
    history = {"A": [(NOW + timedelta(days=7 * k), float(r.vector.magnitude[0])) for k, r in enumerate(results)]}
    again = run(weeks[-1], now=NOW + timedelta(days=21, hours=5), state=state, history=history, model=FIXED)
    first, second = fields(results[-1], "A"), fields(again, "A")
    for key in ("vector_velocity", "vector_direction", "vector_drivers"):
        assert first[key] == second[key], key


@given(st.lists(st.integers(0, 100), min_size=2, max_size=6), st.integers(1, 14))  # NOW is 09:00: same day
def test_a_same_day_rerun_gives_bit_identical_velocities(users: list[int], hours: int) -> None:
    """Not just equal after rounding for display: a velocity on a rounding boundary (2.75) must read the
    same in the run that stored the trend and in its re-run, which reads the stored (rounded) sums."""
    weeks = [{"A": {**HEALTHY, "active_users": u}, "B": {**HEALTHY, "active_users": 100 - u}} for u in users]
    results = chain(weeks)
    history = {str(a): [(NOW + timedelta(days=7 * k), float(r.vector.magnitude[i])) for k, r in enumerate(results)]
               for i, a in enumerate(results[-1].inputs.account_ids)}  # the store holds the last run's point too
    again = run(weeks[-1], now=NOW + timedelta(days=7 * (len(weeks) - 1), hours=hours),
                state=dict(results[-1].states()), history=history, model=DEFAULT_MODEL)
    np.testing.assert_array_equal(results[-1].vector.velocity, again.vector.velocity)
    np.testing.assert_array_equal(results[-1].vector.drivers, again.vector.drivers)


# -- drivers -----------------------------------------------------------------------------------------------

signal_names = ["active_users", "meaningful_events_30d", "payments_failed_90d", "tickets_open",
                "resolution_hours_median", "competitor_detected", "champion_changed_90d", "features_adopted"]
week = st.fixed_dictionaries({}, optional={
    "active_users": st.integers(0, 100), "meaningful_events_30d": st.integers(0, 400),
    "payments_failed_90d": st.integers(0, 4), "tickets_open": st.integers(0, 30),
    "resolution_hours_median": st.floats(1, 300), "competitor_detected": st.integers(0, 1),
    "champion_changed_90d": st.integers(0, 1), "features_adopted": st.integers(0, 10),
})
NUMBER = re.compile(r"\(([+−])(\d+\.\d)\)")


@given(st.lists(week, min_size=2, max_size=5), st.sampled_from([1, 3, 7]))
def test_drivers_sum_to_the_velocity_and_the_sentence_agrees_with_the_direction(
    weeks: list[dict[str, Any]], every: int
) -> None:
    base = {"licensed_seats": 100, "key_features_total": 10}
    for result in chain([{"A": {**base, **w}} for w in weeks], step=timedelta(days=every)):
        v = result.vector
        velocity = float(v.velocity[0])
        if np.isnan(velocity) or np.isnan(v.magnitude[0]):
            continue
        assert abs(v.drivers[0].sum() + v.unattributed[0] - velocity) < 1e-6
        f = fields(result, "A")
        text, direction = f["vector_drivers"], f["vector_direction"]
        assert "strongest" not in text
        head = text.split(" ")[0].rstrip(",")
        assert head == {"Positive": "Rising", "Negative": "Falling", "Flat": "Steady"}[direction], text
        named = named_drivers(result.movement(0))
        assert all(abs(d.points) >= CFG.min_driver_points for d in named)
        sign = {"Positive": "+", "Negative": "−", "Flat": None}[direction]
        listed = NUMBER.findall(text.split(";")[0].split(", offset by")[0])
        assert all(s == sign for s, _ in listed), text
        assert all(float(x) >= CFG.min_driver_points for _, x in listed), text


def test_an_absent_risk_is_never_called_a_strength() -> None:
    weeks = [{"A": {**HEALTHY, "payments_failed_90d": 3 - k, "active_users": 40 + 10 * k}} for k in range(4)]
    text = fields(chain(weeks, model=FIXED)[-1], "A")["vector_drivers"]
    assert "strongest" not in text
    assert text.startswith("Rising") and "no failed payments now (+" in text


def test_a_recovery_task_says_how_the_vector_moves_as_the_drivers_field_does() -> None:
    """Daily runs: a slide turns the direction Negative and opens the recovery plan, then eases and turns
    up while the hold keeps the direction.  Every day the open task's reason agrees with the drivers
    field: falling while it falls, levelling off (never "sliding +0.3/30 days") once it has eased, and it
    claims the noise band only when the velocity is past it."""
    days = [{"A": {**HEALTHY, "active_users": max(90 - 4 * k, 30) if k < 20 else 30 + 2 * (k - 20)}}
            for k in range(40)]
    seen = set()
    for result in chain(days, step=timedelta(days=1), model=FIXED):
        f = fields(result, "A")
        [task] = [t for t in result.tasks(include_unchanged=True) if "vector_negative" in t.plays] or [None]
        if task is None:
            assert f["vector_direction"] != "Negative"
            continue
        reason = task.body.split("\n")[0]
        assert "Negative" in task.subject and "sliding" not in task.subject + reason
        velocity, drivers = f["vector_velocity"], f["vector_drivers"]
        if drivers.startswith("Falling, levelling off"):
            assert "levelling off" in reason and f"{abs(velocity):.1f} points/30 days, inside" in reason, reason
            seen.add("levelling off" if velocity < 0 else "turned up")
        else:
            assert drivers.startswith(f"Falling {abs(velocity):.1f}")
            assert f"falling {abs(velocity):.1f} points/30 days" in reason, reason
            assert ("past its" in reason) == (abs(velocity) > BAND), reason
            seen.add("past the band" if abs(velocity) > BAND else "falling inside the band")
    assert seen == {"past the band", "falling inside the band", "levelling off", "turned up"}
