"""Invariants of the Success Vector, checked with hypothesis over arbitrary signal combinations."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_helpers import DEFAULT_MODEL, run

CURVED = {k: s for k, s in DEFAULT_MODEL.inputs.items() if s.curve is not None}
SIGNALS = sorted({s.signal for s in CURVED.values()})
RISING = sorted({s.signal for s in CURVED.values() if s.curve and s.curve[-1][1] > s.curve[0][1]})

values = st.floats(min_value=0, max_value=500, allow_nan=False)
signal_sets = st.dictionaries(st.sampled_from(SIGNALS), values, max_size=len(SIGNALS))
segments = st.sampled_from(["Enterprise", "Mid-Market", "SMB", None, "unheard of"])
settings.register_profile("scoring", max_examples=60, deadline=None)
settings.load_profile("scoring")


def magnitude(signals: dict[str, Any], segment: str | None = "Enterprise") -> tuple[float, float]:
    result = run({"A": signals}, accounts={"A": {"segment": segment}})
    return float(result.vector.magnitude[0]), float(result.vector.confidence[0])


@given(signal_sets, segments)
def test_score_is_in_range_and_confidence_a_share(signals: dict[str, float], segment: str | None) -> None:
    mag, conf = magnitude(signals, segment)
    assert 0.0 <= conf <= 1.0
    if set(signals) - {"nps"}:
        assert 0.0 <= mag <= 100.0
    else:  # nothing, or only the capped NPS: no score rather than a made-up one
        assert np.isnan(mag)


@given(signal_sets, st.sampled_from(RISING), values, st.floats(min_value=0, max_value=300))
def test_raising_a_positive_input_never_lowers_the_score(
    signals: dict[str, float], name: str, base: float, extra: float
) -> None:
    low, _ = magnitude({**signals, name: base})
    high, _ = magnitude({**signals, name: base + extra})
    if np.isnan(low):  # only capped inputs (NPS) present: no score either way, by design
        assert np.isnan(high)
    else:
        assert high >= low - 1e-4


@given(signal_sets, st.sampled_from(SIGNALS))
def test_adding_an_input_at_its_best_value_never_lowers_the_score(signals: dict[str, float], name: str) -> None:
    signals.pop(name, None)
    spec = next(s for s in CURVED.values() if s.signal == name)
    assert spec.curve is not None
    best = max(spec.curve, key=lambda p: p[1])[0]
    before, conf_before = magnitude(signals)
    after, conf_after = magnitude({**signals, name: best})
    if not np.isnan(before):
        assert after >= before - 1e-4
    assert conf_after >= conf_before


@given(signal_sets.filter(lambda s: len(s) >= 2), st.data())
def test_missing_inputs_lower_confidence_not_the_range(signals: dict[str, float], data: st.DataObject) -> None:
    dropped = data.draw(st.sampled_from(sorted(signals)))
    full_mag, full_conf = magnitude(signals)
    rest = {k: v for k, v in signals.items() if k != dropped}
    part_mag, part_conf = magnitude(rest)
    assert part_conf < full_conf
    assert 0.0 <= full_mag <= 100.0
    assert 0.0 <= part_mag <= 100.0 if set(rest) - {"nps"} else np.isnan(part_mag)


def test_stale_inputs_drop_out_and_weights_renormalise() -> None:
    fresh = run({"A": {"nps": 10, "payments_failed_90d": 3}})
    stale = run({"A": {"nps": 10, "payments_failed_90d": 3}}, ages={"payments_failed_90d": 30})
    assert stale.vector.confidence[0] < fresh.vector.confidence[0]
    # NPS alone is capped to nothing: it may never decide the score on its own.
    assert np.isnan(stale.vector.magnitude[0])


def test_nps_share_is_capped() -> None:
    result = run({"A": {"nps": 10, "meaningful_events_30d": 0}})
    j = list(DEFAULT_MODEL.inputs).index("nps")
    assert result.vector.share[0, j] <= 0.08 + 1e-6
