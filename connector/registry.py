"""Which module implements each system's source and sink.  Adding a CRM means adding one line here.

Imports are lazy so that a config using only Salesforce never imports the HubSpot client, and so that a
broken optional dependency (pyarrow for Parquet) only matters to the admin who configured it.
"""

from __future__ import annotations

import importlib
from typing import Any

from connector.config import Config

#: system → "module:Class" of its source.  Order matters: the primary CRM runs first (see ``sources_for``)
#: so the account list exists before sources that look accounts up (enrichment reads account domains).
SOURCES = {
    "salesforce": "connector.sources.salesforce:SalesforceSource",
    "hubspot": "connector.sources.hubspot:HubSpotSource",
    "zendesk": "connector.sources.zendesk:ZendeskSource",
    "stripe": "connector.sources.stripe:StripeSource",
    "usage": "connector.sources.usage:UsageSource",
    "enrichment": "connector.sources.enrichment:EnrichmentSource",
}

SINKS = {
    "salesforce": "connector.sinks.salesforce:SalesforceSink",
    "hubspot": "connector.sinks.hubspot:HubSpotSink",
    "zendesk": "connector.sinks.zendesk:ZendeskSink",
}

#: Systems that receive tasks.  Only the primary CRM does: a CSM should get one task, not one per tool.
TASK_SYSTEMS = ("salesforce", "hubspot")


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def sources_for(config: Config) -> list[Any]:
    enabled = config.enabled_systems()
    primary = config.connector.primary_crm
    order = [primary, *(s for s in SOURCES if s != primary)]
    return [_load(SOURCES[s])(config) for s in order if s in enabled]


def sinks_for(config: Config) -> list[Any]:
    enabled = config.enabled_systems()
    return [_load(SINKS[s])(config) for s in SINKS if s in enabled and getattr(getattr(config, s), "write", True)]
