"""How an output value becomes what a mapped field is sent, and how a diff compares two of them.

Shared by the diff (:mod:`connector.sinks.base`) and the record digest
(:mod:`connector.sinks.record_digest`), which must format and compare exactly alike.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from connector.mappings import FieldMapping
from connector.mappings import Mapping as FieldMap

#: The longest text each text field type is sent with (longer texts are cut).
TEXT_CAPS = {"text": 255, "picklist": 255, "textarea": 32000}
#: Outputs that change on every run by nature: sent only together with a real change, so an unchanged
#: re-sync makes no write call and the field reads "when these values last changed".
VOLATILE_OUTPUTS = frozenset({"vector_updated_at"})


def comparable(encoded: str | None) -> str | None:
    """An encoded value as diff and drift compare it: the empty text and null are the same (no value)."""
    return None if encoded == "" else encoded


def format_value(value: Any, mapping: FieldMapping) -> Any:
    """Canonical output value → what the mapped field type accepts (rounding, dates as ISO, text caps)."""
    if value is None:
        return None
    if mapping.step is not None:  # numbers only (the mapping checks): a multiple of the step, rounded down
        value = _step_down(float(value), mapping.step)
    if mapping.type in ("number", "percent"):
        return round(float(value), 1)
    if mapping.type == "integer":
        return round(float(value))
    if mapping.type == "date":
        return value.isoformat()[:10] if isinstance(value, (date, datetime)) else str(value)[:10]
    if mapping.type == "datetime":
        return value.isoformat() if isinstance(value, datetime) else str(value)
    return str(value)[:TEXT_CAPS.get(mapping.type, TEXT_CAPS["textarea"])]


def _step_down(value: float, step: float) -> float:
    """``value`` rounded down to a multiple of ``step``; a value a hair under a multiple (a float's
    error: 0.7 / 0.1 = 6.999…) counts as that multiple."""
    if not math.isfinite(value):
        return value
    return math.floor(value / step + 1e-9) * step


def volatile_fields(mapping: FieldMap) -> frozenset[str]:
    return frozenset(fm.name for canonical, fm in mapping.fields.items() if canonical in VOLATILE_OUTPUTS)
