"""The Composite resource (``POST /services/data/vXX.X/composite``): many subrequests, one API call.

Why the connector uses it: five sObject Collections subrequests of 200 records each write 1,000 records for
one call of the daily allocation, against 200 for a bare Collections call.  What the emulator keeps from
Salesforce (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/
resources_composite_composite_post.htm, requests_composite.htm, responses_composite.htm):

* up to 25 subrequests, at most 5 of them sObject Collections or query operations; beyond either limit
  the answer is 200 with one ``LIMIT_EXCEEDED`` subresult whose ``referenceId`` is null (the body users
  logged, e.g. "The request can’t contain more than 25 operations.");
* each subresult is ``{body, httpHeaders, httpStatusCode, referenceId}`` in request order; a created
  record's subresult carries ``Location``; a 204 has a null body;
* ``@{ref.path}`` in a later subrequest's url or body is replaced by a value of an earlier subresult's body
  (``@{refAccount.id}``, ``@{refUpdate[0].id}``, ``@{refQuery.records[0].Id}``); a reference to a failed or
  unknown subrequest halts that subrequest (``PROCESSING_HALTED``);
* ``allOrNone`` true: one failed subrequest rolls every subrequest back, and the others answer 400
  ``PROCESSING_HALTED`` "The transaction was rolled back since another operation in the same transaction
  failed."; false: independent subrequests keep their effect.  A Collections subrequest's own
  ``allOrNone`` (false by default) decides whether its per-record failures fail the subrequest;
* ``collateSubrequests`` is accepted (true by default from v49.0); the emulator always runs in order, which
  is one of the orders Salesforce may choose.

The whole request spends one call of the daily allocation and is one row of the ledger, whose record count
is the records its Collections subrequests carried.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connector.sandbox.salesforce.backend import ApiError, SalesforceBackend

MAX_SUBREQUESTS = 25
MAX_COLLECTIONS_OR_QUERIES = 5
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_REFERENCE_ID = re.compile(r"^[A-Za-z0-9_]+$")
ROLLED_BACK = "The transaction was rolled back since another operation in the same transaction failed."

Route = Callable[[Request, list[str]], Awaitable[Response]]


class _Halted(Exception):
    """A subrequest that cannot run (bad reference): answered 400 ``PROCESSING_HALTED``."""


def _subresult(reference_id: str | None, status: int, body: Any, headers: dict[str, str] | None = None
               ) -> dict[str, Any]:
    return {"body": body, "httpHeaders": headers or {}, "httpStatusCode": status, "referenceId": reference_id}


def _error_body(code: str, message: str) -> list[dict[str, str]]:
    return [{"errorCode": code, "message": message}]


def _limited(message: str) -> Response:
    return JSONResponse({"compositeResponse": [_subresult(None, 400, _error_body("LIMIT_EXCEEDED", message))]})


def _counts_toward_five(parts: list[str]) -> bool:
    head = parts[0] if parts else ""
    return head in ("query", "queryAll") or parts[:2] == ["composite", "sobjects"]


class CompositeHandler:
    """Runs a composite request's subrequests through the emulator's own router (``route``)."""

    def __init__(self, backend: SalesforceBackend, route: Route):
        self.backend, self.route = backend, route

    async def __call__(self, request: Request, body: Any) -> Response:
        if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
            raise ApiError(400, "JSON_PARSER_ERROR", "compositeRequest must be a list of subrequests")
        subrequests: list[Any] = body["compositeRequest"]
        for flag in ("allOrNone", "collateSubrequests"):
            if not isinstance(body.get(flag, False), bool):
                raise ApiError(400, "JSON_PARSER_ERROR", f"{flag} must be a boolean")
        self._validate(subrequests)
        if len(subrequests) > MAX_SUBREQUESTS:
            return _limited(f"The request can’t contain more than {MAX_SUBREQUESTS} operations.")
        prefix = f"/services/data/v{self.backend.api_version}/"
        heavy = sum(_counts_toward_five(self._parts(s["url"], prefix)) for s in subrequests)
        if heavy > MAX_COLLECTIONS_OR_QUERIES:
            return _limited(f"The request can’t contain more than {MAX_COLLECTIONS_OR_QUERIES} sObject "
                            "Collections or query operations.")
        all_or_none = bool(body.get("allOrNone", False))
        with self.backend.lock:  # one transaction: nothing else interleaves, a rollback restores everything
            snapshot = copy.deepcopy(self.backend.records) if all_or_none else None
            results, records = await self._run(request, subrequests, prefix)
            failed = [r for r in results if r["httpStatusCode"] >= 400]
            if snapshot is not None and failed:
                self.backend.records = snapshot
                first = failed[0]
                results = [r if r is first else _subresult(r["referenceId"], 400, _error_body(
                    "PROCESSING_HALTED", ROLLED_BACK)) for r in results]
        request.state.records = records
        return JSONResponse({"compositeResponse": results})

    @staticmethod
    def _validate(subrequests: list[Any]) -> None:
        seen: set[str] = set()
        for sub in subrequests:
            if not isinstance(sub, dict):
                raise ApiError(400, "JSON_PARSER_ERROR", "each subrequest must be an object")
            missing = [k for k in ("method", "url", "referenceId") if not sub.get(k)]
            if missing:
                raise ApiError(400, "JSON_PARSER_ERROR", f"Required fields are missing: {missing}")
            ref = str(sub["referenceId"])
            if not _REFERENCE_ID.match(ref):
                raise ApiError(400, "JSON_PARSER_ERROR", f"Invalid referenceId: {ref}")
            if ref in seen:
                raise ApiError(400, "JSON_PARSER_ERROR", f"Duplicate referenceId provided in the request: {ref}")
            seen.add(ref)

    @staticmethod
    def _parts(url: str, prefix: str) -> list[str]:
        path = url.split("?", 1)[0]
        return [p for p in path.removeprefix(prefix).split("/") if p] if path.startswith(prefix) else ["?"]

    async def _run(self, request: Request, subrequests: list[dict[str, Any]], prefix: str
                   ) -> tuple[list[dict[str, Any]], int]:
        done: dict[str, dict[str, Any]] = {}
        results: list[dict[str, Any]] = []
        records = 0
        for sub in subrequests:
            ref = str(sub["referenceId"])
            try:
                url = _resolve(str(sub["url"]), done)
                body = _resolve(sub.get("body"), done)
            except _Halted as exc:
                result = _subresult(ref, 400, _error_body("PROCESSING_HALTED", str(exc)))
            else:
                result, carried = await self._one(request, str(sub["method"]).upper(), url, body, ref, prefix)
                records += carried
            results.append(result)
            done[ref] = result
        return results, records

    async def _one(self, parent: Request, method: str, url: str, body: Any, ref: str, prefix: str
                   ) -> tuple[dict[str, Any], int]:
        path, _, query = url.partition("?")
        parts = self._parts(path, prefix)
        if parts[:1] in (["?"], ["composite"]) and parts[:2] != ["composite", "sobjects"]:
            return _subresult(ref, 404, _error_body("NOT_FOUND", "The requested resource does not exist")), 0
        payload = b"" if body is None else json.dumps(body).encode()
        scope = {**parent.scope, "method": method, "path": path, "raw_path": path.encode(),
                 "query_string": query.encode(),
                 "state": {"user": getattr(parent.state, "user", None)}}  # subrequests run as the caller

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": payload, "more_body": False}

        sub_request = Request(scope, receive)
        try:
            response = await self.route(sub_request, parts)
        except ApiError as exc:
            return _subresult(ref, exc.status, exc.body()), 0
        status = response.status_code
        answer = json.loads(bytes(response.body)) if response.body else None
        headers = {}
        if status == 201 and isinstance(answer, dict) and answer.get("id"):
            headers["Location"] = f"{path.rstrip('/')}/{answer['id']}"
        carried = int(scope["state"].get("records") or 0) if parts[:2] == ["composite", "sobjects"] else 0
        return _subresult(ref, status, answer, headers), carried


def _resolve(value: Any, done: dict[str, dict[str, Any]]) -> Any:
    """``@{ref.path}`` replaced everywhere in ``value`` (strings inside dicts and lists too)."""
    if isinstance(value, str):
        return _REFERENCE.sub(lambda m: str(_lookup(m.group(1), m.group(2), done)), value)
    if isinstance(value, list):
        return [_resolve(v, done) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, done) for k, v in value.items()}
    return value


def _lookup(ref: str, path: str, done: dict[str, dict[str, Any]]) -> Any:
    result = done.get(ref)
    if result is None or result["httpStatusCode"] >= 400:
        raise _Halted(f"Invalid reference specified. No value for {ref}{path} found in {ref}. "
                      f"Provided referenceId ('{ref}') is invalid")
    value: Any = result["body"]
    for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        name, index = step
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError):
            raise _Halted(f"Invalid reference specified. No value for {ref}{path} found in {ref}. "
                          f"Provided referenceId ('{ref}') is invalid") from None
    if value is None:
        raise _Halted(f"Invalid reference specified. No value for {ref}{path} found in {ref}.")
    return value
