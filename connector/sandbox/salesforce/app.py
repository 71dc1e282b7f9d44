"""Starlette routes speaking Salesforce's REST wire format, thin over :class:`SalesforceBackend`.

Everything under ``/services/data/vXX.X/`` goes through one dispatcher so trailing slashes (which
simple-salesforce adds to ``query/`` and ``limits/``) behave as in Salesforce.  Order of checks per call:
session (401 ``INVALID_SESSION_ID``), then daily allocation (403 ``REQUEST_LIMIT_EXCEEDED``), then the
resource.  Collections limits: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/
resources_composite_sobjects_collections.htm (≤ 200 records per request); Composite (up to 25
subrequests, 5 of them Collections or queries, in one call) in :mod:`.composite`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from connector.sandbox.core import CONTROL_PREFIX
from connector.sandbox.salesforce.backend import ApiError, SalesforceBackend
from connector.sandbox.salesforce.bulk import BulkIngest
from connector.sandbox.salesforce.composite import CompositeHandler

COLLECTION_LIMIT = 200
Handler = Callable[[Request, list[str]], Awaitable[Response]]


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse([{"message": message, "errorCode": code}], status_code=status, headers=headers)


def fault_response(kind: str) -> Response:
    """Injected faults in Salesforce's error-array shape."""
    if kind == "429":
        return error_response(429, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.",
                              {"Retry-After": "1"})
    return error_response(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable, please retry")


class SalesforceRoutes:
    def __init__(self, backend: SalesforceBackend, bulk: BulkIngest):
        self.backend, self.bulk = backend, bulk
        self.composite = CompositeHandler(backend, self._route)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/services/oauth2/token", self.token, methods=["POST"]),
            Route("/services/data", self.versions, methods=["GET"]),
            Route("/services/data/", self.versions, methods=["GET"]),
            Route("/services/data/{version}/{rest:path}", self.dispatch,
                  methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
            Route(f"{CONTROL_PREFIX}/expire-sessions", self.expire_sessions, methods=["POST"]),
        ]

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8")))  # x-www-form-urlencoded
        try:
            return JSONResponse(self.backend.oauth_refresh(form, str(request.base_url).rstrip("/")))
        except ApiError as exc:
            return JSONResponse({"error": exc.code, "error_description": exc.message}, status_code=exc.status)

    async def versions(self, request: Request) -> Response:
        v = self.backend.api_version
        return JSONResponse([{"label": "Winter '24", "url": f"/services/data/v{v}", "version": v}])

    async def expire_sessions(self, request: Request) -> Response:
        return JSONResponse({"expired": self.backend.expire_sessions()})

    async def dispatch(self, request: Request) -> Response:
        version = request.path_params["version"]
        parts = [p for p in request.path_params["rest"].split("/") if p]
        try:
            if version != f"v{self.backend.api_version}":
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            request.state.user = self.backend.authenticate(request.headers.get("authorization"))
            if parts != ["limits"]:
                self.backend.charge()
            return await self._route(request, parts)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message)

    async def _route(self, request: Request, parts: list[str]) -> Response:
        method, n = request.method, len(parts)
        head = parts[0] if parts else ""
        if parts == ["limits"]:
            return JSONResponse(self.backend.limits())
        if head in ("query", "queryAll") and method == "GET":
            return self._query(request, parts, tooling=False)
        if head == "tooling":
            return await self._tooling(request, parts[1:])
        if head == "sobjects" and n >= 2:
            return await self._sobject(request, parts[1:])
        if parts[:2] == ["composite", "sobjects"]:
            return await self._collection(request, parts[2:])
        if parts == ["composite"] and method == "POST":
            return await self.composite(request, await _json(request))
        if parts[:2] == ["jobs", "ingest"]:
            return await self._ingest(request, parts[2:])
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    def _query(self, request: Request, parts: list[str], tooling: bool) -> Response:
        if len(parts) == 2:
            locator, _, offset = parts[1].partition("-")
            return JSONResponse(self.backend.query_page(locator, int(offset or 0)))
        text = request.query_params.get("q")
        if not text:
            raise ApiError(400, "MALFORMED_QUERY", "query parameter q is required")
        return JSONResponse(self.backend.query(text, tooling=tooling, include_deleted=parts[0] == "queryAll",
                                               user_id=request.state.user))

    async def _tooling(self, request: Request, parts: list[str]) -> Response:
        if parts and parts[0] == "query" and request.method == "GET":
            return self._query(request, parts, tooling=True)
        if parts == ["sobjects", "CustomField"] and request.method == "POST":
            field_id = self.backend.create_custom_field(await _json(request))
            return JSONResponse({"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []},
                                status_code=201)
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    async def _sobject(self, request: Request, parts: list[str]) -> Response:
        obj, method = parts[0], request.method
        if parts[1:] == ["describe"] and method == "GET":
            return JSONResponse(self.backend.describe(obj, request.state.user))
        if len(parts) == 1 and method == "POST":
            request.state.records = 1
            result = self.backend.create(obj, await _json(request))
            return _single(result, 201, JSONResponse(result, status_code=201))
        if len(parts) == 2 and method == "GET":
            return JSONResponse(self.backend.get(obj, parts[1], request.state.user))
        if len(parts) == 2 and method == "PATCH":
            request.state.records = 1
            self.backend.get(obj, parts[1])
            result = self.backend.update(obj, {**await _json(request), "Id": parts[1]})
            return _single(result, 204, Response(status_code=204))
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    async def _collection(self, request: Request, parts: list[str]) -> Response:
        body = await _json(request)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise ApiError(400, "JSON_PARSER_ERROR", "records must be a list")
        request.state.records = len(records)
        if len(records) > COLLECTION_LIMIT:
            raise ApiError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records "
                           "into this call")
        all_or_none = bool(body.get("allOrNone", False))
        if request.method == "POST" and not parts:
            return JSONResponse(self.backend.collection("create", records, all_or_none))
        if request.method == "PATCH" and not parts:
            return JSONResponse(self.backend.collection("update", records, all_or_none))
        if request.method == "PATCH" and len(parts) == 2:
            self.backend.object_fields(parts[0])
            return JSONResponse(self.backend.collection("upsert", records, all_or_none, parts[0], parts[1]))
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    async def _ingest(self, request: Request, parts: list[str]) -> Response:
        method = request.method
        if not parts and method == "POST":
            return JSONResponse(self.bulk.create(await _json(request)))
        if len(parts) == 1 and method == "GET":
            return JSONResponse(self.bulk.job(parts[0]).info(self.backend.api_version))
        if len(parts) == 1 and method == "PATCH":
            return JSONResponse(self.bulk.set_state(parts[0], str((await _json(request)).get("state"))))
        if parts[1:] == ["batches"] and method == "PUT":
            data = await request.body()
            request.state.records = max(0, data.count(b"\n") - 1)
            self.bulk.upload(parts[0], data)
            return Response(status_code=201)
        if len(parts) == 2 and parts[1] in ("successfulResults", "failedResults") and method == "GET":
            return PlainTextResponse(self.bulk.results_csv(parts[0], parts[1]), media_type="text/csv")
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def _single(result: dict[str, Any], status: int, ok: Response) -> Response:
    if result["success"]:
        return ok
    return JSONResponse([{"message": e["message"], "errorCode": e["statusCode"], "fields": e["fields"]}
                         for e in result["errors"]], status_code=400)


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"{}")
    except ValueError:
        raise ApiError(400, "JSON_PARSER_ERROR", "request body is not valid JSON") from None
