"""The one catalog of systems: each entry says what a system is and which modules implement it.

Everything that used to list systems by hand reads this table: the config's sections and ``primary_crm``
choices (:mod:`connector.config`), ``Account.system`` and the systems that receive tasks (the CRMs), the
HTTP layer's rate-limit windows (:mod:`connector.runtime`), the sources and sinks of a run, and the
sandbox's emulators.  Adding a CRM is one :class:`System` entry plus its own modules — a client, a source,
a sink and a mapping file (``docs/architecture.md`` walks through it; ``tests/toycrm`` does it).

Modules are named, not imported, so a config using only Salesforce never imports the HubSpot client, a
broken optional dependency (pyarrow for Parquet) only matters to the admin who configured it, and this
module stays at the bottom of the import graph (the config reads it).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.config import Config


@dataclass(frozen=True)
class System:
    """One external system.  ``source``, ``sink`` and ``settings`` are ``"module:Class"`` paths."""

    name: str
    source: str | None = None
    sink: str | None = None
    #: The config section's model when the config does not declare it (a plug-in system); the built-in
    #: systems' sections are typed attributes of :class:`~connector.config.Config`.
    settings: str | None = None
    #: A CRM holds the accounts (``Account.system``), may be ``primary_crm`` and receives the tasks.
    crm: bool = False
    #: ``(section attribute, window seconds)`` of a windowed rate limit; without one the section's
    #: ``requests_per_second`` (if any) is the limit.
    rate_window: tuple[str, float] | None = None
    #: The sandbox emulator standing in for it (``connector.sandbox.<emulator>``), if any.
    emulator: str | None = None


_BUILT_IN = (
    System("salesforce", "connector.sources.salesforce:SalesforceSource", "connector.sinks.salesforce:SalesforceSink",
           crm=True, emulator="salesforce"),
    System("hubspot", "connector.sources.hubspot:HubSpotSource", "connector.sinks.hubspot:HubSpotSink",
           crm=True, rate_window=("requests_per_10s", 10.0), emulator="hubspot"),
    System("zendesk", "connector.sources.zendesk:ZendeskSource", "connector.sinks.zendesk:ZendeskSink",
           rate_window=("requests_per_minute", 60.0), emulator="zendesk"),
    System("stripe", "connector.sources.stripe:StripeSource", emulator="stripe"),
    System("usage", "connector.sources.usage:UsageSource"),
    System("enrichment", "connector.sources.enrichment:EnrichmentSource", emulator="techlookup"),
)

#: name → system, in pull order after the primary CRM (see :func:`sources_for`): sources that look
#: accounts up (enrichment reads account domains) come after the CRMs.
SYSTEMS: dict[str, System] = {s.name: s for s in _BUILT_IN}


def register(system: System) -> None:
    """Add (or replace) a system: how a plug-in — or a test's toy CRM — joins every list above."""
    SYSTEMS[system.name] = system


def names() -> tuple[str, ...]:
    return tuple(SYSTEMS)


def crms() -> tuple[str, ...]:
    """The systems that may be ``primary_crm``; the primary one also receives the tasks."""
    return tuple(s.name for s in SYSTEMS.values() if s.crm)


def emulators() -> tuple[str, ...]:
    return tuple(s.emulator for s in SYSTEMS.values() if s.emulator)


def load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def sources_for(config: Config) -> list[Any]:
    enabled = config.enabled_systems()
    primary = config.connector.primary_crm
    order = [primary, *(s for s in SYSTEMS if s != primary)]
    return [load(path)(config) for s in order if s in enabled and (path := SYSTEMS[s].source)]


def sinks_for(config: Config) -> list[Any]:
    enabled = config.enabled_systems()
    return [load(path)(config) for s, system in SYSTEMS.items()
            if (path := system.sink) and s in enabled and getattr(config.section(s), "write", True)]
