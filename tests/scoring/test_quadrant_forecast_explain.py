"""Quadrant, priority band, expansion forecast, outputs, state round-trip and explain."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
from rich.console import Console
from scoring_helpers import HEALTHY, NOW, fields, run

from connector.records import OUTPUT_FIELDS
from connector.scoring import ScoringInputs, render_explain, score
from connector.scoring.conditions import Categorical

UNHAPPY = {**HEALTHY, "active_users": 5, "features_adopted": 1, "meaningful_events_30d": 2,
           "resolution_hours_median": 200, "payments_failed_90d": 3}


def rising(now: datetime) -> list[tuple[datetime, float]]:
    return [(now - timedelta(days=d), 80 - d / 3) for d in (40, 20, 10)]


def falling(now: datetime) -> list[tuple[datetime, float]]:
    return [(now - timedelta(days=d), 30 + d) for d in (40, 20, 10)]


def test_the_four_quadrants() -> None:
    busy = {"tickets_created_90d": 200, "support_hours_90d": 100}
    result = run(
        {"S": HEALTHY, "P": {**HEALTHY, **busy}, "U": UNHAPPY, "R": {**UNHAPPY, **busy}},
        accounts={"P": {"arr": 9000}, "R": {"arr": 9000}},
    )
    got = {a: fields(result, a)["quadrant"] for a in "SPUR"}
    assert got == {"S": "Success", "P": "Work to keep (unprofitable)", "U": "Work to keep (unhappy)",
                   "R": "Reassess"}


def test_at_risk_low_value_ranks_before_high_value_positive() -> None:
    complete = {**HEALTHY, "active_users": 95, "features_adopted": 9, "advocacy": 1}
    result = run({"risky": UNHAPPY, "rich": complete}, history={"risky": falling(NOW), "rich": rising(NOW)},
                 accounts={"risky": {"arr": 5000}, "rich": {"arr": 500_000}})
    assert (fields(result, "risky")["priority_band"], fields(result, "rich")["priority_band"]) == ("P1", "P4")
    assert fields(result, "risky")["priority_reason"].startswith("P1: payment failed")
    assert "vector falling" in fields(result, "risky")["priority_reason"]
    assert fields(result, "rich")["priority_reason"].startswith("P4: on track")


def test_arr_alone_never_changes_the_band() -> None:
    small = run({"A": UNHAPPY}, accounts={"A": {"arr": 1_000}})
    big = run({"A": UNHAPPY}, accounts={"A": {"arr": 5_000_000}})
    assert fields(small, "A")["priority_band"] == fields(big, "A")["priority_band"] == "P2"
    assert fields(big, "A")["priority_reason"] == fields(small, "A")["priority_reason"]


def test_forecast_counts_accounts_by_eta_times_offer_times_take_rate() -> None:
    # Adoption reached on day 122 of 150 planned → pace 0.81 → expansion-ready ETA ≈ 73 days out.
    now = datetime(2024, 10, 1, tzinfo=NOW.tzinfo)
    seen = {a: {"scored_at": (now - timedelta(days=7)).isoformat(), "direction": d}  # adoption reached since
            for a, d in (("A", "Positive"), ("B", "Flat"))}
    result = run({"A": HEALTHY, "B": HEALTHY}, now=now, history={"A": rising(now)}, state=seen)
    offer = next(o for o in result.forecast()["offers"]
                 if o["segment"] == "enterprise" and o["milestone"] == "expansion_ready")
    h90 = offer["horizons"]["90"]
    assert h90["by_direction"] == {"Negative": 0, "Flat": 1, "Positive": 1}
    assert offer["horizons"]["60"]["accounts"] == 0
    assert h90["forecast_arr"] == 30_000 * (0.9 + 0.4)
    assert result.forecast()["total_arr"]["90"] >= h90["forecast_arr"]


def test_outputs_use_the_contract_field_names_and_types() -> None:
    [out] = list(run({"A": HEALTHY}).outputs())
    assert set(out.fields) == set(OUTPUT_FIELDS)
    f = out.fields
    assert isinstance(f["vector_confidence"], int) and 0 <= f["vector_confidence"] <= 100
    assert len(f["vector_drivers"]) <= 255 and isinstance(f["next_milestone_due"], date)
    assert f["priority_band"] in {"P1", "P2", "P3", "P4"} and f["vector_updated_at"] == NOW
    assert out.owner_id == "005OWNER" and out.name == "Account A"


def test_drivers_say_what_moved_once_the_move_has_held() -> None:
    first = run({"A": HEALTHY})
    assert fields(first, "A")["vector_drivers"].startswith("Steady at")
    worse = {**HEALTHY, "payments_failed_90d": 3, "resolution_hours_median": 150}
    second = run({"A": worse}, now=NOW + timedelta(days=8), state=dict(first.states()))
    assert fields(second, "A")["vector_direction"] == "Flat"
    assert "outside the" in fields(second, "A")["vector_drivers"]  # a candidate, said as such
    third = run({"A": worse}, now=NOW + timedelta(days=15), state=dict(second.states()))
    text = fields(third, "A")["vector_drivers"]
    assert fields(third, "A")["vector_direction"] == "Negative"
    assert text.startswith("Falling") and "failed payments (−" in text and "resolution time (−" in text


def test_state_is_json_and_round_trips() -> None:
    result = run({"A": {**HEALTHY, "payments_failed_90d": 1}})
    state = json.loads(json.dumps(dict(result.states())))
    again = run({"A": {**HEALTHY, "payments_failed_90d": 1}}, state=state)
    assert again.state_for("A")["milestones"] == state["A"]["milestones"]
    assert again.state_for("A")["plays"]["payment_failed"]["step"] == 0


def test_explain_is_json_and_renders() -> None:
    result = run({"A": {**HEALTHY, "competitor_detected": 1}})
    data = result.explain("A")
    json.dumps(data)
    assert data["account"]["segment"] == "enterprise"
    assert {"magnitude", "velocity", "direction", "confidence", "drivers", "inputs"} <= set(data["vector"])
    assert [m["key"] for m in data["milestones"]["path"]][:2] == ["kickoff", "onboarded"]
    assert "competitor_detected" in data["risk_flags"] and data["tasks"]
    console = Console(record=True, width=160)
    console.print(render_explain(data))
    assert "Expansion-ready" in console.export_text()


def test_from_arrays_matches_from_records_for_the_same_account() -> None:
    via_records = run({"A": {"nps": 9, "meaningful_events_30d": 80}})
    inputs = ScoringInputs.from_arrays(
        NOW, np.array(["A"], object), Categorical.from_values(["Enterprise"]),
        contract_start=via_records.inputs.contract_start, arr=np.array([60_000.0]),
        numeric={"nps": np.array([9.0]), "meaningful_events_30d": np.array([80.0])},
        ages={"nps": np.array([1.0]), "meaningful_events_30d": np.array([1.0])},
    )
    direct = score(inputs, via_records.model, NOW)
    assert direct.vector.magnitude[0] == via_records.vector.magnitude[0]
