"""HubSpot's error shapes, in one place, so every route answers exactly as the real API does.

Shapes follow https://developers.hubspot.com/docs/api-reference/error-handling: a top-level
``{"status": "error", "message", "correlationId", "category", "context"?, "errors"?}`` for whole-request
failures, and per-record ``StandardError`` objects (``status, category, message, context, errors, links``)
inside the ``errors[]`` of a 207 batch answer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PropertyProblem:
    """One invalid property value, as HubSpot lists them in "Property values were not valid"."""

    name: str
    code: str  # PROPERTY_DOESNT_EXIST | INVALID_DECIMAL | INVALID_DATE | INVALID_OPTION | REQUIRED | READ_ONLY_VALUE
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"isValid": False, "message": self.message, "error": self.code, "name": self.name,
                "localizedErrorMessage": self.message}


def property_message(problems: list[PropertyProblem]) -> str:
    return "Property values were not valid: " + json.dumps([p.as_json() for p in problems])


@dataclass
class HubSpotError(Exception):
    """A whole-request failure; :meth:`body` is the JSON the real API sends with ``status``."""

    status: int
    category: str
    message: str
    context: dict[str, list[str]] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.category}: {self.message}"

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": "error", "message": self.message,
                                "correlationId": str(uuid.uuid4()), "category": self.category}
        if self.context:
            data["context"] = self.context
        if self.errors:
            data["errors"] = self.errors
        data.update(self.extra)
        return data


def validation(message: str, **context: list[str]) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", message, context or None)


def invalid_properties(problems: list[PropertyProblem]) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", property_message(problems),
                        errors=[{"message": p.message, "code": p.code, "context": {"propertyName": [p.name]}}
                                for p in problems])


def record_error(category: str, message: str, context: dict[str, list[str]],
                 problems: Sequence[PropertyProblem] = ()) -> dict[str, Any]:
    """One entry of a 207 answer's ``errors[]`` (HubSpot's ``StandardError``)."""
    return {"status": "error", "category": category, "message": message, "context": context,
            "errors": [{"message": p.message, "code": p.code, "context": {"propertyName": [p.name]}}
                       for p in problems],
            "links": {}}
