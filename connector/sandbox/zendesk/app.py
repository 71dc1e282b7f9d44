"""Starlette routes speaking the Zendesk Support API v2 wire format over :class:`ZendeskBackend`.

Only what the connector (through zenpy 2.0.57 and plain ``requests``) uses, but exactly: paths, JSON
envelopes (``{"organization": …}``, ``{"organizations": […], "meta", "links"}``, ``{"job_status": …}``),
status codes, error bodies, API-token basic auth (``{email}/token:{token}``; password auth is refused as
Zendesk now does) and the two rate limits: the plan's requests per minute, and 10 per minute on the
incremental export endpoints, both answered with 429 and ``Retry-After`` in whole seconds
(https://developer.zendesk.com/api-reference/introduction/rate-limits/).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connector.sandbox.core import WindowLimiter
from connector.sandbox.zendesk import export
from connector.sandbox.zendesk.backend import MAX_BULK, Job, ZendeskBackend, ZendeskError, not_found

Handler = Callable[[Request], Awaitable[Response]]
API = "/api/v2"
SHOW_MANY_JOBS = 100  # Zendesk keeps the last 100 job statuses


def rate_limited_response(retry_after: float, description: str) -> Response:
    return JSONResponse({"error": "APIRateLimitExceeded", "description": description}, status_code=429,
                        headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


def check_auth(request: Request, token: str) -> None:
    """API-token basic auth only: ``user@example.com/token`` with the token as password."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    try:
        user, _, secret = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, secret = "", ""
    if scheme.lower() != "basic" or not user.endswith("/token") or secret != token:
        raise ZendeskError(401, "Couldn't authenticate you", "Use an API token: {email}/token with the token")


def _json(status: int, body: dict[str, Any]) -> Response:
    return JSONResponse(body, status_code=status)


def _ids(request: Request) -> list[int]:
    raw = request.query_params.get("ids", "")
    try:
        ids = [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise ZendeskError(400, "InvalidValue", "ids must be a comma-separated list of integers") from None
    if len(ids) > MAX_BULK:
        raise ZendeskError(400, "TooManyValues", f"You can only pass up to {MAX_BULK} ids")
    return ids


def _page(request: Request, rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Cursor pagination (``page[size]``/``page[after]``, what zenpy asks for) or offset pagination."""
    params = request.query_params
    if "page[size]" in params or "page[after]" in params:
        size = min(100, int(params.get("page[size]", "100")))
        start = int(params.get("page[after]") or 0)
        chunk, more = rows[start:start + size], start + size < len(rows)
        after = str(start + size) if more else None
        next_url = str(request.url.include_query_params(**{"page[after]": after})) if after else None
        return {key: chunk, "meta": {"has_more": more, "after_cursor": after, "before_cursor": None},
                "links": {"next": next_url, "prev": None}}
    per_page, page = min(100, int(params.get("per_page", "100"))), max(1, int(params.get("page", "1")))
    chunk = rows[(page - 1) * per_page:page * per_page]
    more = page * per_page < len(rows)
    next_url = str(request.url.include_query_params(page=page + 1)) if more else None
    prev_url = str(request.url.include_query_params(page=page - 1)) if page > 1 else None
    return {key: chunk, "count": len(rows), "next_page": next_url, "previous_page": prev_url}


class ZendeskRoutes:
    """The route table; one instance per emulator, holding its backend, token and export limiter."""

    def __init__(self, backend: ZendeskBackend, token: str, export_limiter: WindowLimiter,
                 export_page_size: int):
        self.backend, self.token = backend, token
        self.export_limiter, self.export_page_size = export_limiter, export_page_size

    def _wrap(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                check_auth(request, self.token)
                return await handler(request)
            except ZendeskError as exc:
                return _json(exc.status, exc.body())
            except ValueError:
                return _json(400, {"error": "InvalidValue", "description": "Malformed request parameters"})

        return endpoint

    def routes(self) -> list[BaseRoute]:
        table: list[tuple[str, Handler, list[str]]] = [
            ("/organizations.json", self.list_orgs, ["GET"]),
            ("/organizations.json", self.create_org, ["POST"]),
            ("/organizations/show_many.json", self.show_many_orgs, ["GET"]),
            ("/organizations/search.json", self.search_orgs, ["GET"]),
            ("/organizations/create_many.json", self.create_many_orgs, ["POST"]),
            ("/organizations/update_many.json", self.update_many_orgs, ["PUT"]),
            ("/organizations/{org_id:int}.json", self.org, ["GET", "PUT"]),
            ("/organization_fields.json", self.fields, ["GET", "POST"]),
            ("/organization_fields/{field_id:int}.json", self.field, ["GET", "PUT"]),
            ("/tickets.json", self.list_tickets, ["GET"]),
            ("/tickets/update_many.json", self.update_many_tickets, ["PUT"]),
            ("/tickets/{ticket_id:int}.json", self.ticket, ["GET"]),
            ("/tickets/{ticket_id:int}/tags.json", self.tags, ["GET", "PUT", "POST", "DELETE"]),
            ("/users/{user_id:int}.json", self.user, ["GET"]),
            ("/job_statuses/show_many.json", self.job_statuses, ["GET"]),
            ("/job_statuses/{job_id}.json", self.job_status, ["GET"]),
            ("/incremental/tickets/cursor.json", self.ticket_export, ["GET"]),
            ("/incremental/organizations.json", self.org_export, ["GET"]),
        ]
        return [Route(API + path, self._wrap(handler), methods=methods) for path, handler, methods in table]

    # -- organizations ----------------------------------------------------------------------------------

    async def list_orgs(self, request: Request) -> Response:
        return _json(200, _page(request, self.backend.orgs_sorted(), "organizations"))

    async def create_org(self, request: Request) -> Response:
        body = await request.json()
        request.state.records = 1
        return _json(201, {"organization": self.backend.create_org(body.get("organization") or {})})

    async def show_many_orgs(self, request: Request) -> Response:
        orgs = [self.backend.orgs[i] for i in _ids(request) if i in self.backend.orgs]
        return _json(200, {"organizations": orgs, "count": len(orgs), "next_page": None, "previous_page": None})

    async def search_orgs(self, request: Request) -> Response:
        external_id = request.query_params.get("external_id")
        if not external_id:
            raise ZendeskError(400, "InvalidValue", "external_id is required")
        found = self.backend.search_orgs(external_id)
        return _json(200, {"organizations": found, "count": len(found), "next_page": None, "previous_page": None})

    async def org(self, request: Request) -> Response:
        org_id = request.path_params["org_id"]
        if request.method == "PUT":
            body = await request.json()
            request.state.records = 1
            return _json(200, {"organization": self.backend.update_org(org_id, body.get("organization") or {})})
        return _json(200, {"organization": self.backend.org(org_id)})

    async def create_many_orgs(self, request: Request) -> Response:
        items = (await request.json()).get("organizations") or []
        request.state.records = len(items)
        return self._job(request, self.backend.create_orgs(items))

    async def update_many_orgs(self, request: Request) -> Response:
        body = await request.json()
        if "ids" in request.query_params:
            change = body.get("organization") or {}
            items = [{**change, "id": i} for i in _ids(request)]
        else:
            items = body.get("organizations") or []
        request.state.records = len(items)
        return self._job(request, self.backend.update_orgs(items))

    # -- organization fields ----------------------------------------------------------------------------

    async def fields(self, request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            return _json(201, {"organization_field": self.backend.create_field(body.get("organization_field") or {})})
        rows = sorted(self.backend.org_fields.values(), key=lambda f: f["position"])
        return _json(200, {"organization_fields": rows, "count": len(rows), "next_page": None,
                           "previous_page": None})

    async def field(self, request: Request) -> Response:
        field_id = request.path_params["field_id"]
        if request.method == "PUT":
            body = await request.json()
            return _json(200, {"organization_field": self.backend.update_field(field_id,
                                                                              body.get("organization_field") or {})})
        spec = next((f for f in self.backend.org_fields.values() if f["id"] == field_id), None)
        if spec is None:
            raise not_found()
        return _json(200, {"organization_field": spec})

    # -- tickets and users ------------------------------------------------------------------------------

    async def list_tickets(self, request: Request) -> Response:
        rows = [export.served_ticket(self.backend.tickets[k]) for k in sorted(self.backend.tickets)]
        return _json(200, _page(request, rows, "tickets"))

    async def ticket(self, request: Request) -> Response:
        return _json(200, {"ticket": export.served_ticket(self.backend.ticket(request.path_params["ticket_id"]))})

    async def update_many_tickets(self, request: Request) -> Response:
        body = await request.json()
        if "ids" in request.query_params:
            change = body.get("ticket") or {}
            items = [{**change, "id": i} for i in _ids(request)]
        else:
            items = body.get("tickets") or []
        request.state.records = len(items)
        return self._job(request, self.backend.update_tickets(items))

    async def tags(self, request: Request) -> Response:
        ticket_id = request.path_params["ticket_id"]
        if request.method != "GET":
            tags = list((await request.json()).get("tags") or [])
            if request.method == "PUT":
                self.backend.change_tags(ticket_id, add=tags)
            elif request.method == "POST":
                self.backend.set_tags(ticket_id, tags)
            else:
                self.backend.change_tags(ticket_id, remove=tags)
        return _json(200, {"tags": list(self.backend.ticket(ticket_id)["tags"])})

    async def user(self, request: Request) -> Response:
        user = self.backend.users.get(request.path_params["user_id"])
        if user is None:
            raise not_found()
        return _json(200, {"user": user})

    # -- jobs and exports -------------------------------------------------------------------------------

    def _job(self, request: Request, job: Job) -> Response:
        return _json(200, {"job_status": self._job_body(request, job)})

    def _job_body(self, request: Request, job: Job) -> dict[str, Any]:
        done = job.status == "completed"
        return {"id": job.id, "url": str(request.base_url) + f"api/v2/job_statuses/{job.id}.json",
                "total": job.total, "progress": job.total if done else 0, "status": job.status,
                "message": "Completed" if done else None, "results": job.results if done else None}

    async def job_status(self, request: Request) -> Response:
        return _json(200, {"job_status": self._job_body(request, self.backend.poll_job(request.path_params["job_id"]))})

    async def job_statuses(self, request: Request) -> Response:
        """``show_many?ids=a,b``: many jobs in one call (each counts as a status read); unknown ids are left
        out.  Zendesk keeps the last 100 jobs, so more ids than that in one call are refused."""
        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        if len(ids) > SHOW_MANY_JOBS:
            raise ZendeskError(400, "InvalidValue", f"at most {SHOW_MANY_JOBS} ids per request")
        request.state.records = len(ids)
        jobs = [self._job_body(request, self.backend.poll_job(i)) for i in ids if i in self.backend.jobs]
        return _json(200, {"job_statuses": jobs})

    def _export_refused(self) -> Response | None:
        wait = self.export_limiter.hit()
        if wait is None:
            return None
        return rate_limited_response(wait, "Incremental exports: 10 requests per minute exceeded")

    async def ticket_export(self, request: Request) -> Response:
        if (refused := self._export_refused()) is not None:
            return refused
        params = request.query_params
        per_page = min(self.export_page_size, int(params.get("per_page") or export.MAX_PAGE))
        include = set(filter(None, params.get("include", "").split(",")))
        passthrough = {k: v for k, v in params.items() if k in ("include", "per_page")}
        body = export.ticket_page(
            self.backend, start_time=params.get("start_time"), cursor=params.get("cursor"), per_page=per_page,
            include=include,
            url_for=lambda q: str(request.url.replace_query_params(**passthrough, **q)))
        request.state.records = len(body["tickets"])
        return _json(200, body)

    async def org_export(self, request: Request) -> Response:
        if (refused := self._export_refused()) is not None:
            return refused
        params = request.query_params
        per_page = min(self.export_page_size, int(params.get("per_page") or export.MAX_PAGE))
        passthrough = {k: v for k, v in params.items() if k == "per_page"}
        body = export.organization_page(
            self.backend, start_time=params.get("start_time"), per_page=per_page,
            url_for=lambda q: str(request.url.replace_query_params(**passthrough, **q)))
        request.state.records = len(body["organizations"])
        return _json(200, body)

