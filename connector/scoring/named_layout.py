"""The named layouts of packed rows (engine states, signal packs): saved once as versioned JSON, keyed by
a digest of that JSON, so each packed row names its layout in 16 characters.

Why one helper: both packed forms must read a layout back exactly, treat another version or a damaged one
as absent (their rows are then rebuilt, never misread), and key identical layouts identically."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Protocol


def layout_json(version: int, parts: Mapping[str, Sequence[str]]) -> str:
    """The compact JSON saved for a layout: its version and each named tuple of names."""
    return json.dumps({"version": version, **{k: tuple(v) for k, v in parts.items()}}, separators=(",", ":"))


def layout_parts(raw: str | None, version: int, keys: Sequence[str]) -> tuple[tuple[str, ...], ...] | None:
    """The tuples of names under ``keys`` in a saved layout, or None when it is absent, unreadable or of
    another version."""
    try:
        data = json.loads(raw) if raw else None
        if not isinstance(data, dict) or data.get("version") != version:
            return None
        return tuple(tuple(str(x) for x in data[k]) for k in keys)
    except (ValueError, KeyError, TypeError):
        return None


def layout_key(saved: str) -> str:
    """The key a packed row names its layout by."""
    return hashlib.sha256(saved.encode()).hexdigest()[:16]


class Layout(Protocol):
    @property
    def key(self) -> str: ...

    def to_json(self) -> str: ...


class UnderLayout:
    """A block of packed rows under one ``layout``: the key and JSON the store saves beside them."""

    layout: Layout

    @property
    def layout_key(self) -> str:
        return self.layout.key

    @property
    def layout_json(self) -> str:
        return self.layout.to_json()
