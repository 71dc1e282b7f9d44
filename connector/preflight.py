"""Pre-flight: before a sync pulls anything, check that every destination has the fields it will write.

Why: a first sync pulls every source (many minutes against real rate limits for a large CRM) before its
first write.  Without this check an admin who skipped ``connector setup`` learns about it only at the end,
from thousands of refused records and a "partial" run.  Each sink's ``check`` costs one describe/list call
per object it writes (Salesforce: describe of the account object and of Task; HubSpot: the property list
of companies and of tasks; Zendesk: the organization fields), so the whole pre-flight is a handful of
calls, made before the first pull.

Two outcomes stop a sync: *field problems* (missing, not writable, wrong type, missing options) are
definite and need ``connector setup`` or a mapping fix; a destination that cannot be *checked* (refused
credentials, unreachable) stops a manual sync too, since its writes would fail the same way after the
whole pull.  ``--skip-preflight`` is the way past both for an admin who knows better.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog

from connector.config import Config
from connector.http import HttpLayer, RetryPolicy
from connector.observe import RunObserver
from connector.registry import sinks_for
from connector.secrets import redact
from connector.sinks.base import FieldProblem, SinkContext
from connector.store import Store
from connector.store.store import utcnow

log = structlog.get_logger(__name__)

FIX = "run `connector setup` to create the missing fields (or `connector sync --skip-preflight` to sync anyway)"
UNCHECKED_FIX = ("check the destination's base_url and credentials with `connector check` "
                 "(or `connector sync --skip-preflight` to sync anyway)")


@dataclass(frozen=True)
class PreflightReport:
    """What the pre-flight found: field problems per destination, and destinations it could not check."""

    problems: list[FieldProblem] = field(default_factory=list)
    unchecked: dict[str, str] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unchecked

    def headline(self) -> str:
        """``38 field problems, hubspot not checked``: what stopped the sync, in one line."""
        parts = [f"{len(self.problems)} field problem{'s' if len(self.problems) != 1 else ''}"] if self.problems else []
        parts += [f"{', '.join(self.unchecked)} not checked"] if self.unchecked else []
        return ", ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "headline": self.headline(),
            "checked": self.checked,
            "problems": [p.__dict__ for p in self.problems],
            "unchecked": self.unchecked,
            "fix": FIX if self.problems else UNCHECKED_FIX if self.unchecked else None,
        }


def preflight(store: Store, http: HttpLayer, config: Config) -> PreflightReport:
    """Run every destination's field check; nothing is pulled and nothing is written."""
    ctx = SinkContext(store, http, config, utcnow(), None, dry_run=True)
    problems: list[FieldProblem] = []
    unchecked: dict[str, str] = {}
    checked: list[str] = []
    for sink in sinks_for(config):
        try:
            problems.extend(sink.check(ctx))
            checked.append(sink.name)
        except Exception as exc:  # an unreachable destination is reported, the others are still checked
            unchecked[sink.name] = redact(f"{type(exc).__name__}: {exc}")
    return PreflightReport(problems, unchecked, checked)


def run_preflight(config: Config, http: HttpLayer | None = None, observer: RunObserver | None = None
                  ) -> PreflightReport:
    """:func:`preflight` with the config's own store and HTTP layer, as the first stage of a run."""
    from connector.runtime import http_layer, open_store

    http, observer = http or http_layer(config), observer or RunObserver()
    store = open_store(config)
    http.subscribe(observer)
    try:
        with observer.stage("preflight") as stage:
            report = preflight(store, http, config)
            stage.advance(len(report.checked))
            if not report.ok:
                stage.fail(report.headline())
        return report
    finally:
        http.unsubscribe(observer)
        store.close()


def daemon_preflight(config: Config) -> bool:
    """The daemon's check before its first cycle: ``False`` (and an error log) when fields are missing.

    A destination that cannot be reached only warns: a daemon outlives outages, its jobs record the failure
    and retry on schedule.  One retry per call keeps a down destination from delaying the start.
    """
    from connector.runtime import http_layer

    layer = http_layer(config)
    for name in config.enabled_systems():
        layer.configure(name, policy=RetryPolicy(max_retries=min(1, layer.policy(name).max_retries)))
    report = run_preflight(config, layer)
    for system, error in report.unchecked.items():
        log.warning("preflight.unchecked", system=system, error=error)
    if report.problems:
        log.error("preflight.failed", fix=FIX.replace("connector sync", "connector run"),
                  problems=[f"{p.system} {p.object}.{p.field}: {p.problem}" for p in report.problems])
    return not report.problems
