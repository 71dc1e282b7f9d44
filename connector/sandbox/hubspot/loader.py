"""Load the part of the synthetic World that lives in HubSpot: owners, companies with a HubSpot id, contacts.

The customer's own company properties (segment, contract dates, ARR, ERP number, NPS …) are defined the
way an admin would have set them up, in a ``customer_data`` group; the connector's source reads them
through the names in ``mappings/hubspot.toml`` ``[source]``, so the two must agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from connector.sandbox.world import Company, World

if TYPE_CHECKING:
    from connector.sandbox.hubspot.backend import HubSpotBackend

CUSTOMER_GROUP = "customer_data"
#: (name, label, type, fieldType, options) of the portal's customer-defined company properties.
CUSTOMER_PROPERTIES: list[tuple[str, str, str, str, list[str]]] = [
    ("customer_segment", "Customer segment", "enumeration", "select", ["Enterprise", "Mid-Market", "SMB"]),
    ("contract_start_date", "Contract start", "date", "date", []),
    ("renewal_date", "Renewal date", "date", "date", []),
    ("arr", "ARR", "number", "number", []),
    ("erp_id", "ERP number", "string", "text", []),
    ("nps_score", "Latest NPS", "number", "number", []),
    ("training_completed", "Trainings completed", "number", "number", []),
    ("services_purchased", "Professional services bought", "bool", "booleancheckbox", ["true", "false"]),
    ("upsells_taken", "Upsells taken", "number", "number", []),
    ("advocacy", "Reference / case study given", "bool", "booleancheckbox", ["true", "false"]),
    ("churned", "Churned", "bool", "booleancheckbox", ["true", "false"]),
    ("churn_reason", "Churn reason", "string", "textarea", []),
    ("champion_changed_date", "Champion changed on", "date", "date", []),
]


def define_customer_properties(backend: HubSpotBackend) -> None:
    """The customer-defined properties and their group (idempotent)."""
    if CUSTOMER_GROUP not in backend.groups["companies"]:
        backend.create_group("companies", {"name": CUSTOMER_GROUP, "label": "Customer data"})
    for name, label, ptype, ftype, options in CUSTOMER_PROPERTIES:
        if name in backend.properties["companies"]:
            continue
        backend.create_property("companies", {
            "name": name, "label": label, "type": ptype, "fieldType": ftype, "groupName": CUSTOMER_GROUP,
            "hasUniqueValue": name == "erp_id",
            "options": [{"label": o, "value": o, "displayOrder": i} for i, o in enumerate(options)]})


def load_world(backend: HubSpotBackend, world: World) -> None:
    define_customer_properties(backend)
    for owner in world.owners:
        first, _, last = owner.name.partition(" ")
        backend.add_owner(owner.email, first, last or first, owner_id=owner.hubspot_id)
    erp_seen: set[str] = set()
    for company in world.companies:
        if company.hubspot_id is None:
            continue
        props = company_properties(company)
        if props.get("erp_id") in erp_seen:  # erp_id is unique in the portal, as HubSpot enforces
            props.pop("erp_id")
        erp_seen.add(props.get("erp_id") or "")
        created = datetime.combine(company.contract_start, time(9), UTC)
        obj = backend.insert("companies", props, when=created, object_id=company.hubspot_id)
        # Spread modification times over the last week so incremental reads see a realistic history.
        backend.stamp(obj, max(created, world.generated_at - timedelta(minutes=company.index % 10_080)))
        for contact in company.contacts:
            if contact.hubspot_id:
                backend.insert("contacts", {"email": contact.email, "firstname": contact.first_name,
                                            "lastname": contact.last_name,
                                            "hs_email_optout": "true" if contact.email_opt_out else "false",
                                            "associatedcompanyid": company.hubspot_id},
                               when=created, object_id=contact.hubspot_id)


def company_properties(c: Company) -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": c.name, "domain": c.domain, "hubspot_owner_id": c.owner.hubspot_id,
        "customer_segment": c.segment if c.segment in ("Enterprise", "Mid-Market", "SMB") else None,
        "contract_start_date": _day(c.contract_start), "renewal_date": _day(c.renewal_date),
        "arr": round(c.arr, 2), "erp_id": c.external_id, "nps_score": c.nps,
        "training_completed": c.training_completed, "services_purchased": c.services_purchased,
        "upsells_taken": c.upsells_taken, "advocacy": c.advocacy, "churned": c.churned,
        "churn_reason": c.churn_reason, "champion_changed_date": _day(c.champion_changed_at),
    }
    return {k: v for k, v in props.items() if v is not None}


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None
