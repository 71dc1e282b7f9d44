"""A mapped number's ``step``: the Vector Confidence fading a little every day, with nothing happening,
rewrites no CRM record until it crosses a step, then it is sent once, rounded down, so a threshold on a
multiple of the step reads the same on the field as in the flag made from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.config import ConfigError
from connector.mappings import FieldMapping, load_mapping
from connector.records import AccountOutput
from connector.sinks.base import record_confirmed, stream_changes
from connector.sinks.field_values import format_value
from connector.store import Store

ROOT = Path(__file__).resolve().parents[2]
SALESFORCE = load_mapping(ROOT / "mappings" / "salesforce.toml")
HUBSPOT = load_mapping(ROOT / "mappings" / "hubspot.toml")
DAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "step", "value", "sent"), [
    ("percent", 5, 73, 70.0),
    ("percent", 5, 70, 70.0),
    ("percent", 5, 49, 45.0),          # below a threshold of 50 never shows 50
    ("percent", 5, 100, 100.0),
    ("percent", 5, 0, 0.0),
    ("integer", 5, 74, 70),
    ("number", 0.1, 0.7, 0.7),          # 0.7 / 0.1 is 6.999… in floats: still seven steps
    ("number", 0.5, 12.74, 12.5),
    ("number", 2.5, -1.0, -2.5),        # rounded down, also below zero
    ("percent", None, 73.46, 73.5),     # no step: as precise as the type allows
])
def test_a_step_rounds_numbers_down_to_its_multiples(kind: str, step: float | None, value: float, sent: Any) -> None:
    fm = FieldMapping(name="F__c", type=kind, label="F", step=step)  # type: ignore[arg-type]
    out = format_value(value, fm)
    assert out == sent and type(out) is type(sent)
    assert format_value(None, fm) is None


def test_the_shipped_crm_mappings_send_confidence_in_ten_point_steps() -> None:
    assert SALESFORCE.fields["vector_confidence"].step == 10
    assert HUBSPOT.fields["vector_confidence"].step == 10
    assert all(fm.step is None for k, fm in SALESFORCE.fields.items() if k != "vector_confidence")


def test_a_step_on_a_text_field_is_a_config_error_naming_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[fields.risk_flags]\nname = "Flags__c"\ntype = "text"\nlabel = "Flags"\nstep = 5\n')
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    text = str(caught.value)
    assert "m.toml" in text and "risk_flags" in text and "step applies to number" in text and "remove it" in text


def _outputs(confidence: int, day: int) -> list[tuple[str, AccountOutput]]:
    fields = {"success_vector": 71.2, "vector_confidence": confidence, "risk_flags": "",
              "vector_updated_at": DAY + timedelta(days=day)}
    return [("001A", AccountOutput(account_id="a1", fields=fields))]


def _sent(store: Store, confidence: int, day: int) -> list[dict[str, Any]]:
    changes = list(stream_changes(store, "salesforce", "Account", SALESFORCE, _outputs(confidence, day), settle=True))
    record_confirmed(store, "salesforce", "Account", changes, None)
    return [c.values for c in changes]


def test_a_daily_fade_within_a_step_rewrites_no_record_and_a_crossing_is_sent_once(store: Store) -> None:
    first = _sent(store, 78, 0)
    assert first and first[0]["CS_Vector_Confidence__c"] == 70.0
    for day, confidence in enumerate((76, 73, 71, 70), start=1):  # older by the day: still "70 %" in the CRM
        assert _sent(store, confidence, day) == [], (day, confidence)
    crossed = _sent(store, 69, 5)
    assert [set(v) for v in crossed] == [{"CS_Vector_Confidence__c", "CS_Vector_Updated_At__c"}]
    assert crossed[0]["CS_Vector_Confidence__c"] == 60.0
    assert _sent(store, 66, 6) == []
    assert _sent(store, 49, 7)[0]["CS_Vector_Confidence__c"] == 40.0  # flagged low confidence: never shows 50
    assert _sent(store, 92, 8)[0]["CS_Vector_Confidence__c"] == 90.0  # fresh readings: sent the same day
