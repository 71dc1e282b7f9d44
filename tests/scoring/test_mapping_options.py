"""Every value the engine can write into a picklist is an option of that picklist in every mapping.

A value missing from a restricted picklist is refused by the CRM on every record that carries it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.mappings import load_mapping
from connector.scoring.engine import NEXT_STATUSES
from connector.scoring.model import DIRECTIONS
from connector.scoring.quadrant import QUADRANTS

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
VALUES = {"next_milestone_status": NEXT_STATUSES, "vector_direction": DIRECTIONS, "quadrant": QUADRANTS,
          "priority_band": ("P1", "P2", "P3", "P4")}


@pytest.mark.parametrize("system", ["salesforce", "hubspot", "zendesk"])
def test_picklists_hold_every_value_the_engine_writes(system: str) -> None:
    mapping = load_mapping(MAPPINGS / f"{system}.toml")
    for name, values in VALUES.items():
        field = mapping.fields.get(name)
        if field is not None and field.type == "picklist":
            assert set(values) <= set(field.options), (system, name)
