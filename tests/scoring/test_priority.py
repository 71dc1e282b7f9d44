"""The support band follows success, not size: an invariant over arbitrary accounts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_helpers import DEFAULT_MODEL

from connector.scoring.priority import priority_levels, priority_reason, queue_order

settings.register_profile("priority", max_examples=200, deadline=None)
settings.load_profile("priority")
FLAGS = ["vector_negative", "milestone_overdue", "low_confidence", *DEFAULT_MODEL.risk_flags]
URGENT = [FLAGS.index(f) for f in DEFAULT_MODEL.priority.urgent_flags]
TIERS = (5_000.0, 25_000.0, 100_000.0)

account = st.tuples(st.floats(0, 100), st.sampled_from([-1, 0, 1]), st.booleans(), st.booleans(),
                    st.lists(st.booleans(), min_size=len(FLAGS), max_size=len(FLAGS)),
                    st.floats(0, 2_000_000))


def tier(arr: float) -> int:
    return sum(arr >= t for t in TIERS)


@given(st.lists(account, min_size=2, max_size=40))
def test_no_positive_account_above_a_negative_one_with_an_urgent_flag(accounts: list[tuple]) -> None:
    mag, direction, at_risk, overdue, flags, arr = (np.array(c) for c in zip(*accounts, strict=True))
    flags = np.array(flags, bool)
    flags[:, 0] = direction < 0
    band = 4 - priority_levels(DEFAULT_MODEL, mag, direction, at_risk, overdue, FLAGS, flags)
    order = queue_order(band, arr, mag)
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    urgent_negative = (direction < 0) & flags[:, URGENT].any(axis=1)
    for b in np.flatnonzero(urgent_negative):
        assert band[b] == 1
        for a in np.flatnonzero(direction > 0):
            assert band[a] > band[b]
            if tier(arr[a]) <= tier(arr[b]):
                assert position[a] > position[b]


@given(account)
def test_the_reason_names_the_band_and_what_put_it_there(acc: tuple) -> None:
    mag, direction, at_risk, overdue, flags, _ = acc
    flags = np.array([flags], bool)
    band = int(4 - priority_levels(DEFAULT_MODEL, np.array([mag]), np.array([direction]), np.array([at_risk]),
                                   np.array([overdue]), FLAGS, flags)[0])
    on = [f for f, o in zip(FLAGS, flags[0], strict=True) if o]
    text = priority_reason(band, on, DEFAULT_MODEL.priority.urgent_flags, direction, -6.0, mag, DEFAULT_MODEL,
                           "Adoption", "Overdue" if overdue else "At risk" if at_risk else "On track", 3.0)
    assert text.startswith(f"P{band}: ") and len(text) <= 255
    if band < 4:
        assert "on track" not in text
    if direction < 0:
        assert "vector falling 6/30d" in text


@given(st.floats(-20, 20), st.floats(0, 10))
def test_a_held_negative_never_reads_falling_at_a_speed_it_is_not_falling(velocity: float, exit_band: float) -> None:
    """The hold keeps a direction Negative after the slide eases (or turns up): the reason must then say it is
    levelling off — "vector falling 0/30d" or "falling 3/30d" of a rising velocity contradicts the drivers
    field beside it ("Falling, levelling off (+3.0 points/30 days …)")."""
    text = priority_reason(2, [], DEFAULT_MODEL.priority.urgent_flags, -1, velocity, 70.0, DEFAULT_MODEL,
                           None, None, exit_band)
    if -velocity >= exit_band:
        assert text == f"P2: vector falling {-velocity:.0f}/30d" or (-velocity <= 0.5 and "falling <1/30d" in text)
    else:
        assert text == "P2: vector Negative but levelling off"
    assert "falling 0/30d" not in text


def test_the_reason_agrees_with_the_drivers_sentence_on_a_held_negative() -> None:
    """One account on one scored world, its velocity set either side of the hysteresis line: the reason says
    "falling" exactly when the drivers sentence does."""
    from state_worlds import world

    from connector.scoring.drivers import drivers_sentence

    result = world(8, 21)
    row = 0
    result.vector.direction[row] = -1
    result.vector.magnitude[row] = 70.0
    result.vector.band[row] = 6.0
    for velocity, falls in ((-6.2, True), (-3.0, True), (-2.9, False), (0.4, False), (3.0, False)):
        result.vector.velocity[row] = velocity
        reason, sentence = result.priority_reason(row), drivers_sentence(result.movement(row))
        assert ("vector falling" in reason) is falls, (velocity, reason)
        assert sentence.startswith("Falling, levelling off") is not falls, (velocity, sentence)
