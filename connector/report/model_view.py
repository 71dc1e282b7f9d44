"""What the report needs from the success model file: segment labels, stage order, the happy line.

Read with ``tomllib`` and never validated: the report must still render when the model file is missing,
half-edited or from another version (that is precisely when an admin wants to look at the data), so
every lookup here falls back to "unknown" instead of raising.  ``connector.scoring.model`` is the strict
reader the engine uses; this module only borrows names and order for presentation.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UNSEGMENTED = "(no segment)"


@dataclass(frozen=True)
class SegmentView:
    key: str
    label: str
    aliases: tuple[str, ...]
    stages: tuple[str, ...]  # milestone names in path order


@dataclass(frozen=True)
class ModelView:
    """Presentation facts from the success model; ``present`` is False when the file could not be read."""

    present: bool = False
    source: str = ""
    segments: tuple[SegmentView, ...] = ()
    fallback: str | None = None
    happy_min_vector: float | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def source_name(self) -> str:
        return Path(self.source).name

    def segment_labeller(self) -> SegmentLabeller:
        return SegmentLabeller(self)

    def stages_of(self, label: str) -> tuple[str, ...] | None:
        return next((s.stages for s in self.segments if s.label == label), None)


class SegmentLabeller:
    """CRM segment text → the model segment's label, matched the way the engine matches it.

    Key, label and ``match`` aliases compared case-insensitively; anything else falls to the model's
    ``fallback_segment`` (as in ``scoring.engine.segment_rows``).  Without a model the CRM text is kept.
    """

    def __init__(self, view: ModelView):
        self._lookup: dict[str, str] = {}
        for seg in view.segments:
            for alias in (seg.key, seg.label, *seg.aliases):
                self._lookup.setdefault(alias.strip().casefold(), seg.label)
        fallback = next((s.label for s in view.segments if s.key == view.fallback), None)
        self._fallback = fallback

    def __call__(self, crm_segment: str | None) -> str:
        found = self._lookup.get((crm_segment or "").strip().casefold())
        if found:
            return found
        if self._fallback:
            return self._fallback
        return crm_segment.strip() if crm_segment and crm_segment.strip() else UNSEGMENTED

    def labels(self, values: Iterable[str | None]) -> list[str]:
        """Label many values, matching each distinct CRM text once (100k accounts share a few segments)."""
        cache: dict[str | None, str] = {}
        out = []
        for value in values:
            if value not in cache:
                cache[value] = self(value)
            out.append(cache[value])
        return out


def load_model_view(path: Path) -> ModelView:
    """Read the model file for presentation; a missing or unreadable file gives an empty view with a reason."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return ModelView(source=str(path), problems=(f"success model {path} not found",))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return ModelView(source=str(path), problems=(f"success model {path} unreadable: {exc}",))
    segments = tuple(_segments(_table(data.get("segments"))))
    happy = _table(data.get("quadrant")).get("happy_min_vector")
    fallback = data.get("fallback_segment")
    return ModelView(
        present=bool(segments),
        source=str(path),
        segments=segments,
        fallback=fallback if isinstance(fallback, str) else None,
        happy_min_vector=float(happy) if isinstance(happy, int | float) else None,
        problems=() if segments else (f"success model {path} defines no segments",),
    )


def _segments(raw: dict[str, Any]) -> Iterable[SegmentView]:
    for key, value in raw.items():
        seg = _table(value)
        label = seg.get("label")
        aliases = tuple(a for a in _list(seg.get("match")) if isinstance(a, str))
        names = (_table(m).get("name") or _table(m).get("key") for m in _list(seg.get("milestones")))
        stages = tuple(str(n) for n in names if n)
        yield SegmentView(str(key), label if isinstance(label, str) else str(key), aliases, stages)


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
