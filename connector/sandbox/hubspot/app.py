"""Starlette routes speaking HubSpot's CRM v3/v4, owners and OAuth wire format over the backend.

Thin by design: parse the request, call the backend, serialise its answer.  Every route except the token
endpoint requires a bearer token; every answer carries ``X-HubSpot-RateLimit-*`` headers, and a call over
a limit gets HubSpot's 429 body with ``Retry-After`` (secondly policy) before it reaches a route.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connector.sandbox.hubspot.auth import RateLimits
from connector.sandbox.hubspot.backend import HubSpotBackend
from connector.sandbox.hubspot.errors import HubSpotError, validation
from connector.sandbox.hubspot.schema import OBJECT_TYPE_IDS

_TYPE_ALIASES = {**{v: k for k, v in OBJECT_TYPE_IDS.items()}, "company": "companies", "contact": "contacts",
                 "task": "tasks"}

Handler = Callable[[Request], Awaitable[Any]]


def rate_limit_response(policy: str, retry_after: float | None, limits: RateLimits) -> Response:
    """HubSpot's 429: ``errorType: RATE_LIMIT`` with the policy that was hit."""
    body = {"status": "error", "message": "You have reached your secondly limit." if policy == "SECONDLY"
            else "You have reached your daily limit.", "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()), "policyName": policy, "groupName": "api-calls"}
    headers = limits.headers()
    if retry_after is not None:
        headers["Retry-After"] = str(math.ceil(retry_after))  # whole seconds, as HTTP defines it
    return JSONResponse(body, status_code=429, headers=headers)


def object_type(request: Request) -> str:
    raw = request.path_params.get("object_type") or request.path_params.get("from_type") or ""
    return _TYPE_ALIASES.get(raw, raw)


def _properties(request: Request) -> list[str] | None:
    names = [n for v in request.query_params.getlist("properties") for n in v.split(",") if n]
    return names or None


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise validation("Invalid input JSON on line 1: the body is not valid JSON.") from None


def build_routes(backend: HubSpotBackend, limits: RateLimits) -> list[BaseRoute]:
    def endpoint(handler: Handler, *, auth: bool = True) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                if auth:
                    backend.tokens.check(request.headers.get("authorization"))
                result = await handler(request)
            except HubSpotError as exc:
                return JSONResponse(exc.body(), status_code=exc.status, headers=limits.headers())
            status, body = result if isinstance(result, tuple) else (200, result)
            if status == 204:
                return Response(status_code=204, headers=limits.headers())
            return JSONResponse(body, status_code=status, headers=limits.headers())
        return run

    async def list_or_create(request: Request) -> Any:
        if request.method == "POST":
            request.state.records = 1
            return 201, backend.create(object_type(request), await _json(request))
        limit = int(request.query_params.get("limit", 10))
        return backend.list_page(object_type(request), limit, request.query_params.get("after"), _properties(request))

    async def get_or_update(request: Request) -> Any:
        oid = request.path_params["object_id"]
        if request.method == "PATCH":
            request.state.records = 1
            return backend.update(object_type(request), oid, await _json(request))
        return backend.get(object_type(request), oid, _properties(request))

    async def batch(request: Request) -> Any:
        body = await _json(request)
        request.state.records = len(body.get("inputs") or [])
        return backend.batch(object_type(request), request.path_params["op"], body)

    async def search(request: Request) -> Any:
        return backend.search(object_type(request), await _json(request))

    async def properties(request: Request) -> Any:
        if request.method == "POST":
            return 201, backend.create_property(object_type(request), await _json(request))
        return backend.list_properties(object_type(request))

    async def one_property(request: Request) -> Any:
        return backend.get_property(object_type(request), request.path_params["name"])

    async def groups(request: Request) -> Any:
        if request.method == "POST":
            return 201, backend.create_group(object_type(request), await _json(request))
        return backend.list_groups(object_type(request))

    async def associate(request: Request) -> Any:
        p = request.path_params
        specs = await _json(request)
        return 201, backend.associate(_TYPE_ALIASES.get(p["from_type"], p["from_type"]), p["from_id"],
                                      _TYPE_ALIASES.get(p["to_type"], p["to_type"]), p["to_id"], specs or [])

    async def batch_associate(request: Request) -> Any:
        p, body = request.path_params, await _json(request)
        request.state.records = len(body.get("inputs") or [])
        return backend.batch_associate(_TYPE_ALIASES.get(p["from_type"], p["from_type"]),
                                       _TYPE_ALIASES.get(p["to_type"], p["to_type"]), body)

    async def owners(request: Request) -> Any:
        q = request.query_params
        return backend.list_owners(q.get("email"), int(q.get("limit", 100)), q.get("after"))

    async def token(request: Request) -> Any:
        # x-www-form-urlencoded, parsed here so the sandbox needs no python-multipart
        return backend.tokens.refresh(dict(parse_qsl((await request.body()).decode())))

    objects = "/crm/v3/objects/{object_type}"
    props = "/crm/v3/properties/{object_type}"
    return [
        Route(f"{objects}/batch/{{op}}", endpoint(batch), methods=["POST"]),
        Route(f"{objects}/search", endpoint(search), methods=["POST"]),
        Route(objects, endpoint(list_or_create), methods=["GET", "POST"]),
        Route(f"{objects}/{{object_id}}", endpoint(get_or_update), methods=["GET", "PATCH"]),
        Route(f"{props}/groups", endpoint(groups), methods=["GET", "POST"]),
        Route(props, endpoint(properties), methods=["GET", "POST"]),
        Route(f"{props}/{{name}}", endpoint(one_property), methods=["GET"]),
        Route("/crm/v4/objects/{from_type}/{from_id}/associations/{to_type}/{to_id}", endpoint(associate),
              methods=["PUT"]),
        Route("/crm/v4/associations/{from_type}/{to_type}/batch/create", endpoint(batch_associate),
              methods=["POST"]),
        Route("/crm/v3/owners/", endpoint(owners), methods=["GET"]),
        Route("/crm/v3/owners", endpoint(owners), methods=["GET"]),
        Route("/oauth/v1/token", endpoint(token, auth=False), methods=["POST"]),
    ]
