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
                           "Adoption", "Overdue" if overdue else "On track")
    assert text.startswith(f"P{band}: ") and len(text) <= 255
    if band < 4:
        assert "on track" not in text
    if direction < 0:
        assert "vector falling 6/30d" in text
