"""What the CLI commands (and the daemon) do, as plain functions returning plain data.

Kept apart from ``cli.py`` so the daemon, the demo and the tests call exactly the same code paths the admin
does, without going through argument parsing or terminal rendering.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from connector import registry
from connector.config import Config, ConfigError
from connector.http import HttpLayer, RetryPolicy
from connector.observe import RunObserver
from connector.probes import describe_failure, source_probes
from connector.registry import sinks_for
from connector.sinks.base import SinkContext
from connector.store import Store
from connector.store.store import utcnow
from connector.sync import SyncResult, SyncRunner


def state_url(config: Config) -> str:
    """The state store URL; a relative SQLite path resolves against the config file's directory."""
    section = config.connector
    if section.state_url_env:
        url = os.environ.get(section.state_url_env)
        if not url:
            raise ConfigError(
                "<config>", [("connector.state_url_env", f"environment variable {section.state_url_env} is not set")]
            )
        return url
    url = section.state_url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str(config.resolve(Path(url[len(prefix) :])))
    return url


def file_problems(config: Config, config_path: Path | str) -> list[ConfigError]:
    """The mapping files and the success model, loaded and validated before anything connects.

    The sinks and the scorer read them when they start work; a missing or broken one used to surface
    mid-run as a traceback and exit 1.  Each problem names the file, the key and the fix (the CLI exits 2).
    """
    from connector.mappings import load_mapping
    from connector.scoring.model import load_model

    files: list[tuple[str, Path, Callable[[Path], object]]] = [
        (f"{name}.mapping", getattr(config, name).mapping, load_mapping)
        for name in ("salesforce", "hubspot", "zendesk") if name in config.enabled_systems()]
    files.append(("connector.success_model", config.connector.success_model, load_model))
    errors: list[ConfigError] = []
    for key, relative, load in files:
        path = config.resolve(relative)
        if not path.is_file():
            errors.append(ConfigError(config_path, [(key, f"{path} does not exist; fix the path, or copy the "
                                                         "default from the repository's mappings/ "
                                                         "(`connector init` writes them)")]))
            continue
        try:
            load(path)
        except ConfigError as exc:
            errors.append(exc)
    return errors


def open_store(config: Config) -> Store:
    return Store(state_url(config))


def http_layer(config: Config) -> HttpLayer:
    """An HttpLayer with each system's configured rate limit and retry budget."""
    layer = HttpLayer()
    for name in config.enabled_systems():
        section = config.section(name)
        policy = RetryPolicy(max_retries=getattr(section, "max_retries", 6))
        if window_of := registry.SYSTEMS[name].rate_window:
            attr, window = window_of
            layer.configure(name, limit=getattr(section, attr), window=window, policy=policy)
        elif getattr(section, "requests_per_second", None):
            layer.configure(name, limit=max(1, int(section.requests_per_second)), window=1.0, policy=policy)
        else:
            layer.configure(name, policy=policy)
    return layer


def run_sync(
    config: Config,
    *,
    dry_run: bool = False,
    full: bool = False,
    now: datetime | None = None,
    only_accounts: list[str] | None = None,
    only_sources: list[str] | None = None,
    pull_only: bool = False,
    kind: str | None = None,
    http: HttpLayer | None = None,
    observer: RunObserver | None = None,
) -> SyncResult:
    """One run (see :meth:`SyncRunner.run`); the daemon passes its own ``http`` layer to meter the calls,
    a terminal its ``observer`` to draw progress."""
    store = open_store(config)
    try:
        clock: Callable[[], datetime] | None = (lambda: now) if now else None
        runner = SyncRunner(config, store, http=http or http_layer(config), now=clock, observer=observer)
        return runner.run(
            dry_run=dry_run,
            full=full,
            only_accounts=only_accounts,
            only_sources=only_sources,
            pull_only=pull_only,
            kind=kind,
        )
    finally:
        store.close()


def run_setup(config: Config, *, dry_run: bool) -> dict[str, Any]:
    store = open_store(config)
    ctx = SinkContext(store, http_layer(config), config, utcnow(), None, dry_run)
    created: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    access: dict[str, Any] = {}
    try:
        for sink in sinks_for(config):
            try:
                created[sink.name] = [c.as_json() for c in sink.setup(ctx, dry_run)]
            except Exception as exc:
                errors[sink.name] = describe_failure(sink.name, config, exc)
        if not errors:  # permissions name the fields: grant them once the fields exist
            from connector.field_access import grant_access

            try:
                access = grant_access(config, ctx.http, dry_run)
            except Exception as exc:
                errors["access"] = describe_failure("salesforce", config, exc)
    finally:
        store.close()
    return {"dry_run": dry_run, "created": created, "access": access, "errors": errors}


def run_checks(config: Config) -> dict[str, Any]:
    """Config is valid (we got here); now fields per sink, and identity match rates from the store."""
    from connector.identity import IdentityResolver, MatchReport
    from connector.identity_overrides import load_for as load_overrides
    from connector.identity_overrides import overrides_path

    store = open_store(config)
    ctx = SinkContext(store, http_layer(config), config, utcnow(), None, True)
    systems: dict[str, Any] = {}
    ok = True
    try:
        for sink in sinks_for(config):
            try:
                problems = sink.check(ctx)
                systems[sink.name] = {"reachable": True, "field_problems": [p.__dict__ for p in problems]}
                ok = ok and not problems
            except Exception as exc:
                systems[sink.name] = {"reachable": False, "error": describe_failure(sink.name, config, exc)}
                ok = False
        for name, probe in source_probes(config, ctx.http).items():
            try:
                probe()
                systems[name] = {"reachable": True, "field_problems": []}
            except Exception as exc:
                systems[name] = {"reachable": False, "error": describe_failure(name, config, exc)}
                ok = False
        accounts = store.accounts()
        names = {a.account_id: a.name for a in accounts}
        resolver = IdentityResolver(accounts, config.identity, load_overrides(config))
        report = MatchReport()
        ambiguous: list[dict[str, Any]] = []
        for row in store.observations():
            match = resolver.resolve(row.source, row.entity, row.entity_id, row.keys)
            report.add(match)
            if match.status == "ambiguous":
                ambiguous.append(_ambiguous(match, names))
        identity = {
            "rates": report.rates(),
            "top_unmatched": {s: [m.__dict__ for m in ms[:10]] for s, ms in report.examples.items()},
            "ambiguous": ambiguous,
            "overrides_file": str(overrides_path(config)),
        }
    finally:
        store.close()
    return {"ok": ok, "systems": systems, "identity": identity, "enabled": config.enabled_systems()}


def _ambiguous(match: Any, names: dict[str, str]) -> dict[str, Any]:
    """An ambiguous match with one ready-to-paste ``link`` line per candidate account."""
    from connector.identity_overrides import render_entry

    why = f"ambiguous by {match.key}"
    return {
        "source": match.source, "entity": match.entity, "entity_id": match.entity_id, "key": match.key,
        "candidates": [{"account_id": c, "name": names.get(c)} for c in match.candidates],
        "paste": [render_entry(match.source, match.entity, match.entity_id, c, f"{names.get(c, '')} ({why})")
                  for c in match.candidates],
    }


def explain_account(config: Config, account: str, now: datetime) -> dict[str, Any] | None:
    store = open_store(config)
    try:
        accounts = store.accounts()
        match = [a for a in accounts if a.account_id == account] or [a for a in accounts if a.name == account]
        if not match:
            return None
        runner = SyncRunner(config, store, sources=[], sinks=[], now=lambda: now)
        result = runner.evaluate(now, only=[match[0].account_id])
        data: dict[str, Any] = result.explain(match[0].account_id)
        return data
    finally:
        store.close()
