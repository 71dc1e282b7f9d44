"""Field mappings: which canonical output goes to which field of which system, and of what type.

A mapping file (``mappings/salesforce.toml`` …) is the admin's contract with their CRM: only fields listed
there are ever written (field ownership), and ``connector setup`` creates exactly these.  Renaming a field
is a one-line change in the file, never a code change.

File shape::

    [settings]              # system-specific, validated by the sink (object name, property group, …)
    object = "Account"

    [source]                # CRM sources only: which CRM field feeds which signal
    nps = "NPS_Score__c"

    [fields.success_vector] # canonical name from connector.records.OUTPUT_FIELDS
    name = "CS_Success_Vector__c"
    type = "number"         # number | integer | percent | text | textarea | date | datetime | picklist
    label = "Success Vector"
    options = []            # picklist values
    step = 5                # numbers only: sent in multiples of this, rounded down (see FieldMapping.step)
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connector.config import ConfigError, _explain
from connector.records import OUTPUT_FIELDS

FieldType = Literal["number", "integer", "percent", "text", "textarea", "date", "datetime", "picklist"]
NUMBER_TYPES = frozenset({"number", "integer", "percent"})


class FieldMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    type: FieldType
    label: str
    description: str = ""
    options: list[str] = Field(default_factory=list)
    #: Numbers only: the value is sent in multiples of ``step``, rounded down.  For an output that drifts a
    #: little every day with nothing happening, such as the Vector Confidence fading as inputs age: sent to
    #: the decimal, it rewrote every record of the CRM every day (and its field history, and its "last
    #: modified"), for a tenth of a point no one acts on.  Rounded down, so a threshold that is a multiple
    #: of the step reads the same on the field as in the flag made from it (confidence below 50 % shows
    #: 45 %, never 50 %).  None: as precise as the field type allows.
    step: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _step_for_numbers(self) -> FieldMapping:
        if self.step is not None and self.type not in NUMBER_TYPES:
            raise ValueError(f"step applies to number, integer and percent fields, not to {self.type!r}; remove it")
        return self


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: dict[str, Any] = Field(default_factory=dict)
    source: dict[str, Any] = Field(default_factory=dict)  # CRM field → signal, read by the CRM source
    fields: dict[str, FieldMapping]
    path: str = Field(default="", exclude=True)

    @field_validator("fields")
    @classmethod
    def _canonical_names(cls, value: dict[str, FieldMapping]) -> dict[str, FieldMapping]:
        unknown = sorted(set(value) - set(OUTPUT_FIELDS))
        if unknown:
            raise ValueError(f"unknown output field(s) {unknown}; allowed: {sorted(OUTPUT_FIELDS)}")
        names = [f.name for f in value.values()]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"two outputs map to the same field {dupes}")
        return value

    def setting(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)

    def remote_fields(self) -> list[str]:
        return [f.name for f in self.fields.values()]


def load_mapping(path: Path) -> Mapping:
    """Load and validate a mapping file; :class:`ConfigError` names the file, key and fix."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, [("", "mapping file not found; copy the default from mappings/")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [("", f"invalid TOML: {exc}")]) from None
    try:
        return Mapping.model_validate({**data, "path": str(path)})
    except ValidationError as exc:
        raise ConfigError(path, [_explain(e) for e in exc.errors()]) from None


def option_value(field_key: str, option: str) -> str:
    """The tag Zendesk stores for a dropdown option: ``cs_priority_band`` + ``P1`` → ``cs_priority_band_p1``."""
    return f"{field_key}_{re.sub(r'[^a-z0-9]+', '_', option.lower()).strip('_')}"
