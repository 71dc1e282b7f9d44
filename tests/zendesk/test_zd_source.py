"""The Zendesk source: incremental exports, cursor safety, signals, quarantine."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.http import Call, HttpLayer
from connector.sandbox.core import SandboxClock, SandboxTLS
from connector.sandbox.zendesk.backend import iso
from connector.sources.base import SourceContext
from connector.sources.zendesk import ZendeskSource, ticket_row, ticket_signals
from connector.store import Store

from .zd_kit import StartZendesk, company, make_config, make_world, ticket

#: One export page in Zendesk's own shape (fields as in Zendesk's API reference and Singer tap-zendesk's
#: ticket/ticket_metrics schemas): ``include=metric_sets`` puts each metric set *inside* its ticket.
RECORDED_PAGE = Path(__file__).with_name("recorded") / "incremental_tickets_metric_sets.json"

EXPORT = "/incremental/tickets/cursor.json"


def _by_entity(observations: list) -> dict[str, dict]:
    return {o.entity_id: dict(o.signals) for o in observations}


def test_first_run_pages_through_the_export_and_keeps_org_keys(start_zendesk: StartZendesk,
                                                               clock: SandboxClock) -> None:
    now = clock.now()
    tickets = [ticket(i, 11 if i % 2 else 12, now, updated_days=2 + i / 100) for i in range(1, 8)]
    zd = start_zendesk(make_world(now, [company(1, 11), company(2, 12)], tickets),
                       limits={"export_page_size": 3})
    observations = zd.pull()
    assert len(zd.calls("GET", EXPORT)) == 3  # 3 + 3 + 1 tickets, the last page says end_of_stream
    assert sum(1 for _ in zd.store.replica("zendesk", "tickets")) == 7
    orgs = {o.entity_id: o for o in observations}
    assert orgs["11"].keys.external_id == "ERP-1" and orgs["11"].keys.domain == "customer1.example"
    assert orgs["11"].signals["tickets_open"] == 4 and orgs["12"].signals["tickets_open"] == 3


def test_second_run_without_changes_is_one_probe_per_export(start_zendesk: StartZendesk,
                                                             clock: SandboxClock) -> None:
    now = clock.now()
    zd = start_zendesk(make_world(now, [company(1, 11)], [ticket(i, 11, now) for i in range(1, 5)]))
    zd.pull()
    zd.reset_calls()
    assert zd.pull() == []  # nothing dirty, same day: nothing recomputed
    assert [(e.method, e.path.removeprefix("/api/v2")) for e in zd.calls()] == [
        ("GET", "/incremental/organizations.json"), ("GET", EXPORT)]
    assert zd.store.get_cursor("zendesk", "tickets")


def test_changed_ticket_shows_up_in_the_signals(start_zendesk: StartZendesk, clock: SandboxClock) -> None:
    now = clock.now()
    zd = start_zendesk(make_world(now, [company(1, 11)], [ticket(1, 11, now), ticket(2, 11, now)]))
    assert _by_entity(zd.pull())["11"]["tickets_open"] == 2
    zd.backend.edit_ticket(1, status="solved", priority="urgent", updated_at=iso(now - timedelta(minutes=2)))
    zd.backend.metrics[1].update(solved_at=iso(now - timedelta(minutes=2)),
                                 full_resolution_time_in_minutes={"calendar": 600, "business": 300})
    signals = _by_entity(zd.pull())["11"]
    assert signals["tickets_open"] == 1 and signals["resolution_hours_median"] == 10.0
    assert signals["tickets_escalated_90d"] == 1  # priority raised to urgent


def test_cursor_resumes_after_a_crash_without_loss_or_double_count(start_zendesk: StartZendesk,
                                                                    clock: SandboxClock) -> None:
    now = clock.now()
    tickets = [ticket(i, 11, now, updated_days=2 + i / 100) for i in range(1, 11)]
    zd = start_zendesk(make_world(now, [company(1, 11)], tickets), limits={"export_page_size": 3}, max_retries=0)

    def crash_after_first_page(call: Call) -> None:
        if call.endpoint.endswith("cursor.json") and call.status == 200:
            zd.emulator.ctx.faults.update({"rate_5xx": 1.0})

    zd.http.ledger.listeners.append(crash_after_first_page)
    with pytest.raises(Exception, match="503"):
        zd.pull()
    assert sum(1 for _ in zd.store.replica("zendesk", "tickets")) == 3  # page 1 kept, with its cursor
    zd.http.ledger.listeners.clear()
    zd.emulator.ctx.faults.update({"rate_5xx": 0.0})
    zd.reset_calls()
    signals = _by_entity(zd.pull())["11"]
    assert signals["tickets_open"] == 10 and signals["tickets_created_90d"] == 10
    exports = zd.calls("GET", EXPORT)
    assert len(exports) == 3  # resumed at ticket 4: pages 4-6, 7-9, 10


def test_tickets_without_organization_become_requester_domain_observations(start_zendesk: StartZendesk,
                                                                             clock: SandboxClock) -> None:
    now = clock.now()
    tickets = [ticket(1, None, now, email="ann@startup.example"), ticket(2, None, now, email="bo@startup.example")]
    zd = start_zendesk(make_world(now, [], tickets))
    (obs,) = zd.pull()
    assert (obs.entity, obs.entity_id, obs.keys.email_domain) == ("requester_domain", "startup.example",
                                                                   "startup.example")
    assert obs.signals["tickets_open"] == 2


def test_bad_tickets_are_quarantined_and_the_run_goes_on(start_zendesk: StartZendesk, clock: SandboxClock) -> None:
    now = clock.now()
    zd = start_zendesk(make_world(now, [company(1, 11)], [ticket(i, 11, now) for i in range(1, 4)]))
    zd.backend.tickets[2]["subject"] = "x" * 100_000
    zd.backend.tickets[3]["status"] = "exploded"
    signals = _by_entity(zd.pull())["11"]
    assert signals["tickets_open"] == 1
    reasons = {q.entity_id: q.reason for q in zd.quarantined}
    assert "100,000 characters" in reasons["2"] and "unknown status" in reasons["3"]
    assert len(zd.quarantined[0].payload.get("subject", "")) <= 200


@pytest.mark.parametrize(("raw", "reason"), [
    ({"subject": "no id"}, "without a valid id"),
    ({"id": 5, "created_at": "yesterday", "updated_at": "2026-11-01T00:00:00Z", "status": "open"},
     "created_at 'yesterday' is not an ISO-8601 timestamp"),
    ({"id": 6, "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z", "status": "open",
      "organization_id": None, "requester_id": 1}, "no organization and no requester email"),
])
def test_ticket_row_reasons(raw: dict, reason: str) -> None:
    assert reason in str(ticket_row(raw, None, {}))


def test_signal_arithmetic_on_a_hand_made_set(clock: SandboxClock) -> None:
    now = clock.now()

    def t(status: str, created_days: float, priority: str = "normal", hours: float | None = None,
          solved_days: float = 5, tags: tuple[str, ...] = ()) -> dict:
        return {"status": status, "priority": priority, "tags": list(tags),
                "created_at": (now - timedelta(days=created_days)).isoformat(),
                "solved_at": iso(now - timedelta(days=solved_days)) if hours is not None else None,
                "resolution_minutes": hours * 60 if hours is not None else None}

    tickets = [t("solved", 20, hours=h) for h in (1, 2, 3, 4, 10)]
    tickets += [t("closed", 200, hours=500, solved_days=150)]  # solved outside the window: ignored
    tickets += [t("open", 10, "urgent"), t("pending", 2, "high"), t("hold", 30, tags=("escalated",)),
                t("new", 1), t("open", 120, "urgent"), t("deleted", 1, "urgent")]
    s = ticket_signals(tickets, now, unresolved_after_days=7, resolution_window_days=90)
    assert s["resolution_hours_median"] == 3.0
    assert s["resolution_hours_p90"] == 7.6  # linear interpolation: 4 + 0.6 × (10 − 4)
    assert s["tickets_open"] == 5 and s["tickets_unresolved_over_n_days"] == 3
    assert s["tickets_urgent_open"] == 2
    assert s["tickets_escalated_90d"] == 3  # urgent 10d, high 2d, tagged 30d (the 120-day one is outside)
    assert s["tickets_created_90d"] == 9
    assert ticket_signals([], now, 7, 90)["resolution_hours_median"] is None


def test_requests_error_names_no_secret(start_zendesk: StartZendesk, clock: SandboxClock) -> None:
    zd = start_zendesk(make_world(clock.now(), [], []), config={"base_url": "https://127.0.0.1:1"}, max_retries=0)
    with pytest.raises(requests.ConnectionError) as err:
        zd.pull()
    assert "sandbox-zendesk-token" not in str(err.value)


def test_generated_world_loads_and_pulls_cleanly(start_zendesk: StartZendesk, clock: SandboxClock) -> None:
    from connector.sandbox.dataset import generate_world

    world = generate_world(40, seed=3, now=clock.now())
    zd = start_zendesk(world)
    observations = zd.pull()
    with_org = {str(c.zendesk_org_id) for c in world.companies if c.zendesk_org_id is not None}
    assert with_org <= {o.entity_id for o in observations if o.entity == "organization"}
    exported = sum(1 for _ in zd.store.replica("zendesk", "tickets")) + len(zd.quarantined)
    assert exported == sum(1 for t in world.tickets if t.updated_at <= clock.now() - timedelta(minutes=1))
    queue = zd.backend.ticket_queue()
    assert all(row["status"] in ("new", "open", "pending", "hold") for row in queue)


class _RecordedExport:
    """Answers the source's two export calls: no organization changes, and the recorded ticket page."""

    def __init__(self, page: dict[str, Any]):
        self.page = page

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if path.startswith("incremental/organizations"):
            return {"organizations": [], "end_time": 0, "end_of_stream": True}
        return self.page


def test_recorded_page_with_embedded_metric_set_fills_the_resolution_signals(
        clock: SandboxClock, sandbox_tls: SandboxTLS, store: Store) -> None:
    page = json.loads(RECORDED_PAGE.read_text(encoding="utf-8"))
    assert "metric_sets" not in page and all("metric_set" in t for t in page["tickets"])
    config = make_config("https://acme.zendesk.com", sandbox_tls)
    source = ZendeskSource(config, client=_RecordedExport(page))  # type: ignore[arg-type]
    items = list(source.pull(SourceContext(store, HttpLayer(), config, clock.now())))
    [observation] = [i for i in items if getattr(i, "entity_id", None) == "509974"]
    signals = observation.signals
    assert signals["resolution_hours_median"] == round((1548 / 60 + 120 / 60) / 2, 2)  # 25.8 h and 2 h
    assert signals["tickets_open"] == 1 and signals["tickets_urgent_open"] == 1


def test_sandbox_export_serves_the_metric_set_inside_each_ticket(start_zendesk: StartZendesk,
                                                                clock: SandboxClock) -> None:
    """The emulator answers in the same shape as the recorded page, and the source reads it."""
    now = clock.now()
    solved = ticket(1, 11, now, status="solved", age_days=5, updated_days=2, solved_hours=30)
    zd = start_zendesk(make_world(now, [company(1, 11)], [solved, ticket(2, 11, now)]))
    from connector.clients.zendesk import build_client

    page = build_client(zd.config, zd.http).get_json(EXPORT.lstrip("/"), {"start_time": 0, "include": "metric_sets"})
    assert "metric_sets" not in page
    shape = {"id", "status", "priority", "organization_id", "requester_id", "tags", "created_at", "updated_at",
             "generated_timestamp", "custom_fields", "fields", "metric_set"}
    for served in page["tickets"]:
        assert shape <= set(served), sorted(shape - set(served))
        assert served["metric_set"]["ticket_id"] == served["id"] and served["fields"] == served["custom_fields"]
    assert _by_entity(zd.pull())["11"]["resolution_hours_median"] == 30.0
