"""Read the Risk Flags back through Salesforce's and HubSpot's own APIs and compare with what was scored.

An empty Risk Flags field on an account whose latest score has a flag is the bug of issue 16 (item 2): the
sink wrote '' once, the CRM answered null, drift detection took that for a person's edit and never wrote
the field again.  Used by the demo test (60 accounts) and by ``bench/risk_flags_readback.py`` (500).
"""

from __future__ import annotations

from typing import Any

from connector.clients.hubspot import HubSpotClient
from connector.clients.salesforce import SalesforceClient
from connector.config import Config
from connector.http import HttpLayer
from connector.runtime import open_store
from connector.sandbox.cluster import Cluster


def blank_risk_flags(cluster: Cluster, config: Config) -> dict[str, list[str]]:
    """Per CRM, the records whose scored risk flags are set but whose Risk Flags field reads back empty."""
    del cluster  # the sandbox must be running; everything is read through the configured APIs
    store = open_store(config)
    try:
        flagged = {r.account_id for r in store.latest_scores() if (r.outputs or {}).get("risk_flags")}
        companies = store.matched_entities("hubspot", "company")
    finally:
        store.close()
    http = HttpLayer()
    blank: dict[str, list[str]] = {}
    assert config.salesforce is not None and config.hubspot is not None
    sf = SalesforceClient(config.salesforce, http)
    rows = sf.query_iter("SELECT Id, CS_Risk_Flags__c FROM Account")
    sf_values = {row["Id"]: row.get("CS_Risk_Flags__c") for row in rows}
    blank["salesforce"] = sorted(a for a in flagged if a in sf_values and not sf_values[a])
    hs = HubSpotClient(config.hubspot, http)
    hs_values: dict[str, Any] = {}
    after: str | None = None
    while True:
        page = hs.call("list companies", hs.crm.companies.basic_api.get_page, limit=100,
                       properties=["cs_risk_flags"], after=after)
        hs_values.update({c.id: (c.properties or {}).get("cs_risk_flags") for c in page.results})
        if not (page.paging and page.paging.next):
            break
        after = page.paging.next.after
    blank["hubspot"] = sorted(c for a in flagged for c in companies.get(a, []) if c in hs_values
                              and not hs_values[c])
    blank["flagged accounts"] = sorted(flagged)  # the denominator, for the report
    return blank
