"""The emulator driven by zenpy 2.0.57 (unmodified) over TLS through our HttpLayer session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from zenpy import Zenpy
from zenpy.lib.api_objects import Organization, OrganizationField
from zenpy.lib.exception import APIException, TooManyValuesException

from connector.clients.zendesk import ZendeskApiError, build_client, zenpy_host
from connector.config import ConfigError
from connector.sandbox.core import SandboxClock

from .zd_kit import StartZendesk, company, make_world, ticket


def test_host_split_rejoins_to_the_configured_netloc() -> None:
    assert zenpy_host("https://acme.zendesk.com") == ("acme", "zendesk.com")
    assert zenpy_host("https://127.0.0.1:8443") == ("127", "0.0.1:8443")
    with pytest.raises(ConfigError, match="https"):
        zenpy_host("http://127.0.0.1:8443")


def test_token_auth_works_and_password_auth_is_refused(start_zendesk: StartZendesk, clock: SandboxClock) -> None:
    zd = start_zendesk(make_world(clock.now(), [company(1, 11)], []))
    client = build_client(zd.config, zd.http)
    assert [o.id for o in client.zenpy.organizations()] == [11]
    subdomain, domain = zenpy_host(zd.server.url)
    password_client = Zenpy(subdomain=subdomain, domain=domain, email="agent@vendor.example", password="hunter2",
                            session=zd.http.session("zendesk", verify=str(zd.tls.ca_path)))
    with pytest.raises(APIException, match="Couldn't authenticate you"):
        list(password_client.organizations())


def test_org_lookups_paging_and_external_id_search(start_zendesk: StartZendesk, clock: SandboxClock) -> None:
    zd = start_zendesk(make_world(clock.now(), [company(i, 100 + i) for i in range(150)], []))
    client = build_client(zd.config, zd.http)
    assert len(list(client.zenpy.organizations())) == 150  # two cursor pages of 100
    assert len(zd.calls("GET", "/organizations.json")) == 2
    assert client.zenpy.organizations(id=105).external_id == "ERP-5"
    found = client.get_json("organizations/search.json", {"external_id": "ERP-7"})
    assert [o["id"] for o in found["organizations"]] == [107]
    with pytest.raises(ZendeskApiError, match="404 RecordNotFound"):
        client.get_json("organizations/999.json")


def test_update_many_limit_job_polling_and_field_rules(start_zendesk: StartZendesk, clock: SandboxClock) -> None:
    zd = start_zendesk(make_world(clock.now(), [company(i, 100 + i) for i in range(3)], []), limits={"job_polls": 2})
    zenpy = build_client(zd.config, zd.http).zenpy
    with pytest.raises(TooManyValuesException):
        zenpy.organizations.update([Organization(id=i) for i in range(101)])

    job = zenpy.organizations.update([Organization(id=100, organization_fields={"cs_score": 70.5})])
    assert job.status == "queued"
    assert zenpy.job_status(id=job.id).status == "working"
    done = zenpy.job_status(id=job.id)
    assert done.status == "completed"
    assert done.results[0].status == "Failed" and "does not exist" in done.results[0].details  # unknown key

    zenpy.organization_fields.create(OrganizationField(key="cs_score", title="Score", type="decimal"))
    zenpy.organization_fields.create(OrganizationField(
        key="cs_band", title="Band", type="dropdown", custom_field_options=[{"name": "P1", "value": "cs_band_p1"}]))
    job = zenpy.organizations.update([Organization(id=100, organization_fields={"cs_score": 70.5}),
                                      Organization(id=101, organization_fields={"cs_band": "P9"}),
                                      Organization(id=102, organization_fields={"cs_score": "high"})])
    for _ in range(2):
        job = zenpy.job_status(id=job.id)
    outcome = {r.id: r.status for r in job.results}
    assert outcome == {100: "Updated", 101: "Failed", 102: "Failed"}
    assert zd.backend.orgs[100]["organization_fields"]["cs_score"] == 70.5
    assert zd.backend.orgs[101]["organization_fields"]["cs_band"] is None


def test_rate_limit_429_with_retry_after_is_waited_out(start_zendesk: StartZendesk, clock: SandboxClock) -> None:
    zd = start_zendesk(make_world(clock.now(), [company(1, 11)], []),
                       limits={"requests_per_minute": 3, "rate_window_seconds": 1.0})
    zenpy = build_client(zd.config, zd.http).zenpy
    for _ in range(5):
        assert zenpy.organizations(id=11).id == 11
    assert any(e.status == 429 for e in zd.calls())
    summary = zd.http.ledger.summary()["zendesk"]
    assert summary["status"].get("429", 0) >= 1 and summary["rate_limit_wait_seconds"] > 0
    assert summary["status"]["200"] == 5


def test_incremental_ticket_export_pages_and_its_own_rate_limit(start_zendesk: StartZendesk,
                                                                 clock: SandboxClock) -> None:
    now = clock.now()
    tickets = [ticket(i, 11, now, updated_days=1 + i / 100) for i in range(1, 8)]
    tickets.append(ticket(99, 11, now, updated_days=0.0001))  # changed in the last minute: not exported yet
    zd = start_zendesk(make_world(now, [company(1, 11)], tickets),
                       limits={"export_page_size": 3, "export_requests_per_minute": 4}, max_retries=0)
    client = build_client(zd.config, zd.http)
    page = client.get_json("incremental/tickets/cursor.json", {"start_time": 0, "include": "metric_sets"})
    seen = [t["id"] for t in page["tickets"]]
    assert [t["metric_set"]["ticket_id"] for t in page["tickets"]] == [t["id"] for t in page["tickets"]]
    assert len(page["tickets"]) == 3 and page["end_of_stream"] is False
    while not page["end_of_stream"]:
        page = client.get_json(page["after_url"])
        seen += [t["id"] for t in page["tickets"]]
    assert seen == [7, 6, 5, 4, 3, 2, 1]  # oldest change first
    probe = client.get_json("incremental/tickets/cursor.json", {"cursor": page["after_cursor"]})
    assert probe["tickets"] == [] and probe["end_of_stream"] is True
    with pytest.raises(ZendeskApiError, match="429"):  # 5th export call within the minute
        client.get_json("incremental/tickets/cursor.json", {"cursor": page["after_cursor"]})


def test_many_jobs_are_polled_in_one_show_many_call(start_zendesk: StartZendesk, clock: SandboxClock) -> None:
    zd = start_zendesk(make_world(clock.now(), [company(i, 100 + i) for i in range(3)], []), limits={"job_polls": 2})
    zenpy = build_client(zd.config, zd.http).zenpy
    jobs = [zenpy.organizations.update([Organization(id=100 + i, organization_fields={})]) for i in range(3)]
    ids = [j.id for j in jobs]
    first = {j.id: j.status for j in zenpy.job_status(ids=ids)["job_statuses"]}  # zenpy's shape for show_many
    assert first == dict.fromkeys(ids, "working")
    done = zenpy.job_status(ids=[*ids, "unknown-job"])["job_statuses"]  # unknown ids are left out
    assert [(j.id, j.status, len(j.results)) for j in done] == [(i, "completed", 1) for i in ids]
    assert len(zd.calls("GET", "/job_statuses/show_many.json")) == 2
    with pytest.raises(APIException):
        zenpy.job_status(ids=[f"job{i}" for i in range(101)])


def test_zenpy_export_with_a_fractional_start_time_as_the_api_answers(start_zendesk: StartZendesk,
                                                                       clock: SandboxClock) -> None:
    """zenpy passes a float ``start_time`` through as text (``1793001600.5``), as tap-zendesk sends one: Zendesk
    takes it; each ticket carries ``fields`` beside ``custom_fields``, and its metric set inside."""
    now = clock.now()
    zd = start_zendesk(make_world(now, [company(1, 11)], [ticket(1, 11, now, status="solved", solved_hours=5),
                                                          ticket(2, 11, now)]))
    zenpy = build_client(zd.config, zd.http).zenpy
    start = (now - timedelta(days=30)).timestamp() + 0.5
    tickets = list(zenpy.tickets.incremental(start_time=start, include=["metric_sets"]))
    assert sorted(t.id for t in tickets) == [1, 2]
    for t in tickets:
        assert t.fields == t.custom_fields == []
        assert t.to_dict()["metric_set"]["ticket_id"] == t.id
    client = build_client(zd.config, zd.http)
    with pytest.raises(ZendeskApiError, match="400"):
        client.get_json("incremental/tickets/cursor.json", {"start_time": "soon"})
