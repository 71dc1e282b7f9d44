"""A read-only web view of the sandbox: what a CSM sees in the CRM and what an agent sees in Zendesk.

It reads the emulators' backends directly (never through the connector), so it shows what was really
written: the Account page a CSM would open in Salesforce (Success Vector fields and open tasks), the same
for HubSpot companies, and the Zendesk queue an agent sorts by priority band.  Field names come from the
mapping files, so a renamed field shows up here as it would in the real CRM.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from connector.mappings import Mapping, load_mapping, option_value

if TYPE_CHECKING:
    from connector.sandbox.cluster import Cluster

TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                        autoescape=select_autoescape(["html", "j2"]))
MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
BAND_ORDER = {"P1": 0, "P2": 1, "P3": 2, "P4": 3}


#: What a list view shows (a CSM scans these); the record page shows every mapped field.
LIST_OUTPUTS = ("success_vector", "vector_velocity", "vector_direction", "current_stage", "next_milestone",
                "next_milestone_due", "next_milestone_status", "quadrant", "priority_band", "vector_drivers")


def _columns(mapping: Mapping, only: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """(remote field name, label) of each mapped output, in mapping order (or ``only``'s order)."""
    names = only or tuple(mapping.fields)
    return [(mapping.fields[n].name, mapping.fields[n].label) for n in names if n in mapping.fields]


def _zendesk_display(mapping: Mapping) -> dict[str, dict[str, str]]:
    """Dropdown values are stored as option tags (``cs_priority_band_p1``); show the option instead."""
    return {fm.name: {option_value(fm.name, o): o for o in fm.options}
            for fm in mapping.fields.values() if fm.type == "picklist"}


def _vector(row: dict[str, Any], field: str) -> float:
    try:
        return float(row.get(field) or -1)
    except (TypeError, ValueError):
        return -1.0


def create_web_app(cluster: Cluster, mappings_dir: Path = MAPPINGS) -> Starlette:
    sf_map = load_mapping(mappings_dir / "salesforce.toml")
    hs_map = load_mapping(mappings_dir / "hubspot.toml")
    zd_map = load_mapping(mappings_dir / "zendesk.toml")
    sf_vector, hs_vector = sf_map.fields["success_vector"].name, hs_map.fields["success_vector"].name
    display = _zendesk_display(zd_map)

    def page(template: str, **context: Any) -> HTMLResponse:
        return HTMLResponse(TEMPLATES.get_template(template).render(now=cluster.clock.now(), **context))

    async def index(request: Request) -> Response:
        return page("index.html.j2", servers={k: v.url for k, v in cluster.servers.items()})

    async def salesforce(request: Request) -> Response:
        rows = sorted(cluster.emulators["salesforce"].backend.accounts_view(), key=lambda r: _vector(r, sf_vector))
        return page("crm_list.html.j2", system="Salesforce", rows=rows, columns=_columns(sf_map, LIST_OUTPUTS),
                    id_key="Id", name_key="Name", link="/salesforce/")

    async def salesforce_account(request: Request) -> Response:
        backend = cluster.emulators["salesforce"].backend
        account_id = request.path_params["account_id"]
        row = next((r for r in backend.accounts_view() if r["Id"] == account_id), None)
        if row is None:
            return HTMLResponse("no such account", status_code=404)
        tasks = [{"subject": t.get("Subject"), "due": t.get("ActivityDate"), "priority": t.get("Priority"),
                  "status": t.get("Status"), "body": t.get("Description")} for t in backend.open_tasks(account_id)]
        return page("crm_record.html.j2", system="Salesforce", name=row.get("Name"), row=row,
                    columns=_columns(sf_map), tasks=tasks, back="/salesforce")

    async def hubspot(request: Request) -> Response:
        rows = sorted(cluster.emulators["hubspot"].backend.companies_view(), key=lambda r: _vector(r, hs_vector))
        return page("crm_list.html.j2", system="HubSpot", rows=rows, columns=_columns(hs_map, LIST_OUTPUTS),
                    id_key="id", name_key="name", link="/hubspot/")

    async def hubspot_company(request: Request) -> Response:
        backend = cluster.emulators["hubspot"].backend
        company_id = request.path_params["company_id"]
        row = next((r for r in backend.companies_view() if str(r["id"]) == company_id), None)
        if row is None:
            return HTMLResponse("no such company", status_code=404)
        tasks = [{"subject": t.get("hs_task_subject"), "due": str(t.get("hs_timestamp") or "")[:10],
                  "priority": t.get("hs_task_priority"), "status": t.get("hs_task_status"),
                  "body": t.get("hs_task_body")}
                 for t in backend.open_tasks() if company_id in [str(c) for c in t.get("companies", [])]]
        return page("crm_record.html.j2", system="HubSpot", name=row.get("name"), row=row,
                    columns=_columns(hs_map), tasks=tasks, back="/hubspot")

    async def zendesk(request: Request) -> Response:
        band_key = zd_map.fields["priority_band"].name if "priority_band" in zd_map.fields else None
        vector_key = zd_map.fields["success_vector"].name
        queue = cluster.emulators["zendesk"].backend.ticket_queue()
        for ticket in queue:
            ticket["cs_fields"] = {k: display.get(k, {}).get(v, v) for k, v in ticket["cs_fields"].items()}
        queue.sort(key=lambda t: (BAND_ORDER.get(str(t["cs_fields"].get(band_key)), 9),
                                  _vector(t["cs_fields"], vector_key)))
        return page("zendesk_queue.html.j2", tickets=queue[:500], total=len(queue), columns=_columns(zd_map))

    return Starlette(routes=[
        Route("/", index), Route("/salesforce", salesforce), Route("/salesforce/{account_id}", salesforce_account),
        Route("/hubspot", hubspot), Route("/hubspot/{company_id}", hubspot_company), Route("/zendesk", zendesk),
    ])
