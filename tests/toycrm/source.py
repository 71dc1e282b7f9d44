"""The toy CRM's source: every account is an :class:`Account` and an observation of its own signals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from connector.config import Config
from connector.records import Account, IdentityKeys, Observation
from connector.sources.base import SourceContext, SourceItem
from toycrm.client import ToyCrmClient

NAME = "toycrm"
SIGNALS = ("arr", "nps", "training_completed", "services_purchased", "upsells_taken", "seat_utilisation",
           "feature_breadth", "meaningful_events_30d")


class ToyCrmSource:
    name = NAME

    def __init__(self, config: Config):
        self.config = config

    def pull(self, ctx: SourceContext) -> Iterator[SourceItem]:
        for row in ToyCrmClient(ctx.config.section(NAME), ctx.http).list_accounts():
            yield Account(row["id"], NAME, row["name"], row["domain"], owner_id=row.get("owner"),
                          contract_start=date.fromisoformat(row["contract_start"]), arr=row["arr"])
            yield Observation(NAME, "account", row["id"], IdentityKeys(crm_id=row["id"], domain=row["domain"]),
                              {k: row[k] for k in SIGNALS if row.get(k) is not None}, ctx.now)
