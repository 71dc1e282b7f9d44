"""The toy CRM's client: its config section and an in-memory API (accounts, custom fields, tasks).

A real client would speak HTTP through :class:`~connector.http.HttpLayer`; this one keeps the "server" in
a dict per ``base_url`` so the test can look at what was written.  ``calls`` counts write requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.config import SystemBase
from connector.http import HttpLayer


class ToyCrmConfig(SystemBase):
    """``[toycrm]`` in the connector config."""

    mapping: str = "mapping.toml"
    requests_per_second: float = 10.0


@dataclass
class ToyBackend:
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    fields: set[str] = field(default_factory=set)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: int = 0


BACKENDS: dict[str, ToyBackend] = {}


class ToyCrmClient:
    def __init__(self, config: ToyCrmConfig, http: HttpLayer):
        self.backend = BACKENDS.setdefault(config.base_url, ToyBackend())

    def list_accounts(self) -> list[dict[str, Any]]:
        return [{"id": rid, **values} for rid, values in sorted(self.backend.accounts.items())]

    def read(self, ids: list[str], names: list[str]) -> dict[str, dict[str, Any]]:
        return {i: {n: self.backend.accounts[i].get(n) for n in names} for i in ids if i in self.backend.accounts}

    def update(self, rows: dict[str, dict[str, Any]]) -> dict[str, str]:
        """Record id → error for the rows refused (unknown record or field); the others are written."""
        self.backend.writes += 1
        errors = {}
        for rid, values in rows.items():
            unknown = sorted(set(values) - self.backend.fields)
            if rid not in self.backend.accounts or unknown:
                errors[rid] = f"no such record or field {unknown}"
            else:
                self.backend.accounts[rid].update(values)
        return errors

    def upsert_tasks(self, rows: list[dict[str, Any]]) -> list[tuple[str, bool]]:
        """(task id, created) per row, upserted on ``key``."""
        self.backend.writes += 1
        out = []
        for row in rows:
            existing = next((tid for tid, t in self.backend.tasks.items() if t["key"] == row["key"]), None)
            tid = existing or f"T{len(self.backend.tasks) + 1}"
            self.backend.tasks[tid] = {**self.backend.tasks.get(tid, {}), **row}
            out.append((tid, existing is None))
        return out

    def find_tasks(self, keys: list[str]) -> dict[str, str]:
        return {t["key"]: tid for tid, t in self.backend.tasks.items() if t["key"] in keys}
