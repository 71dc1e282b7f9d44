"""Loading the success model: the default is valid, and bad models are refused with key and fix."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from connector.config import ConfigError
from connector.scoring import default_model_path, load_model, model_from_dict
from connector.scoring.conditions import AllOf, Leaf, parse_condition

RAW: dict[str, Any] = tomllib.loads(default_model_path().read_text(encoding="utf-8"))


def problems_of(mutate: Any) -> list[tuple[str, str]]:
    data = copy.deepcopy(RAW)
    mutate(data)
    with pytest.raises(ConfigError) as info:
        model_from_dict(data, "model.toml")
    return info.value.problems


def test_default_model_loads_with_three_segments_and_a_fallback() -> None:
    model = load_model(default_model_path())
    assert len(model.segments) >= 3
    assert model.fallback_segment in model.segments
    assert {s.touch for s in model.segments.values()} == {"high", "low", "none"}
    assert model.inputs["nps"].effective_max_share() is not None


def test_unknown_signal_in_a_milestone_condition_names_the_key_and_suggests() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["segments"]["smb"]["milestones"][0]["when"] = {"signal": "activ_users", "op": ">=", "value": 1}

    [(key, msg)] = problems_of(mutate)
    assert key == "segments.smb.milestones[0].when"
    assert "activ_users" in msg and "active_users" in msg


def test_facts_are_not_allowed_in_milestone_conditions() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["segments"]["smb"]["milestones"][0]["when"] = {"signal": "success_vector", "op": ">=", "value": 50}

    assert problems_of(mutate)[0][0] == "segments.smb.milestones[0].when"


@pytest.mark.parametrize("weight", [0, -1])
def test_weights_must_be_positive(weight: float) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["inputs"]["nps"]["weight"] = weight

    [(key, msg)] = problems_of(mutate)
    assert key == "inputs.nps.weight" and "greater than 0" in msg


def test_segment_weight_override_must_be_positive_and_name_an_input() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["segments"]["smb"]["weights"] = {"npz": 1.0}

    [(key, msg)] = problems_of(mutate)
    assert key == "segments.smb.weights" and "'nps'" in msg


def test_play_template_without_reason_is_a_model_error() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["plays"]["renewal"]["body"] = "Next milestone: {next_milestone}. Bring: {bring}"

    problems = problems_of(mutate)
    assert problems[0][0] == "plays.renewal.body"
    assert "{reason}" in problems[0][1] and "{stage}" in problems[0][1]


def test_empty_reason_and_check_in_subjects_are_refused() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["plays"]["renewal"]["reason"] = " "
        d["plays"]["onboarding"]["subject"] = "Check in with {name}"

    keys = {k for k, _ in problems_of(mutate)}
    assert keys == {"plays.renewal.reason", "plays.onboarding.subject"}


def test_unknown_placeholder_and_unknown_key_get_did_you_mean() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["plays"]["renewal"]["subject"] = "{nmae}: renewal"

    assert "'name'" in problems_of(mutate)[0][1]

    def typo(d: dict[str, Any]) -> None:
        d["plays"]["renewal"]["cooldown_dys"] = 3

    [(key, msg)] = problems_of(typo)
    assert key == "plays.renewal.cooldown_dys" and "cooldown_days" in msg


def test_text_signal_compared_with_a_number_is_refused() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["risk_flags"]["bad"] = {"signal": "subscription_status", "op": "==", "value": 1}

    assert "text" in problems_of(mutate)[0][1]


def test_non_monotone_curve_and_bad_condition_shapes() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["inputs"]["nps"]["curve"] = [[0, 0.0], [5, 1.0], [10, 0.0]]

    assert "monotone" in problems_of(mutate)[0][1]
    with pytest.raises(ValueError, match="op"):
        parse_condition({"signal": "nps", "op": "~=", "value": 1})
    with pytest.raises(ValueError, match="only key"):
        parse_condition({"all": [], "signal": "nps"})
    parsed = parse_condition({"all": [{"signal": "nps", "op": ">=", "value": 8}]})
    assert parsed == AllOf((Leaf("nps", ">=", 8.0),))


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_model(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("version = = 1")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_model(bad)


def test_milestones_need_exactly_one_first_value_and_ordered_due_days() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["segments"]["smb"]["milestones"][0]["first_value"] = True
        d["segments"]["mid_market"]["milestones"][1]["due_days"] = 1

    keys = {k for k, _ in problems_of(mutate)}
    assert keys == {"segments.smb.milestones", "segments.mid_market.milestones"} or keys == {
        "segments.smb", "segments.mid_market"}
