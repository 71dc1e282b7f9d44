"""The BuiltWith Domain API's JSON wire format over :class:`TechLookupBackend`.

``GET /v21/api.json?KEY=…&LOOKUP=a.com,b.com`` looks up to 16 domains in one call
(https://api.builtwith.com/domain-api: "Multiple Domains … (up to 16)").  The answer is
``{"Results": [{"Result": {"Paths": [{"Domain", "Technologies": [{"Name", "Tag", "FirstDetected",
"LastDetected"}]}]}, "Lookup": "a.com"}], "Errors": [...]}`` with epoch-millisecond dates.  Problems
with the whole call (bad key, too many domains) come back as an ``Errors`` entry with no results; each
domain looked up costs one credit, recorded as the call's ``records`` in the sandbox ledger.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connector.sandbox.techlookup.backend import Detected, TechLookupBackend, root_domain

MAX_DOMAINS = 16


def error_body(message: str, lookup: str | None = None, code: int = -1) -> dict[str, Any]:
    return {"Results": [], "Errors": [{"Lookup": lookup, "Message": message, "Code": code}]}


def _ms(tech: Detected) -> dict[str, Any]:
    return {"Name": tech.name, "Tag": tech.tag, "Categories": None, "IsPremium": "no",
            "FirstDetected": int(tech.first_detected.timestamp() * 1000),
            "LastDetected": int(tech.last_detected.timestamp() * 1000)}


class TechLookupRoutes:
    def __init__(self, backend: TechLookupBackend, key: str):
        self.backend, self.key = backend, key

    def routes(self) -> list[BaseRoute]:
        return [Route("/v21/api.json", self.lookup)]

    async def lookup(self, request: Request) -> Response:
        if request.query_params.get("KEY") != self.key:
            return JSONResponse(error_body("Invalid API key or API key not supplied"), status_code=401)
        domains = [d.strip() for d in request.query_params.get("LOOKUP", "").split(",") if d.strip()]
        if not domains:
            return JSONResponse(error_body("LOOKUP is required: one or more domains separated by commas"))
        if len(domains) > MAX_DOMAINS:
            return JSONResponse(error_body(f"Too many lookups: at most {MAX_DOMAINS} domains per request"))
        request.state.records = len(domains)
        results, errors = [], []
        for domain in domains:
            if "." not in domain or " " in domain:
                errors.append({"Lookup": domain, "Message": "Invalid domain", "Code": -2})
                continue
            root = root_domain(domain)
            techs = [_ms(t) for t in self.backend.lookup(root)] + self.backend.raw.get(root, [])
            paths = [{"Domain": root, "Url": "", "SubDomain": "", "Technologies": techs}]
            results.append({"Result": {"Paths": paths if techs else [], "IsDB": "True" if techs else "False",
                                       "Spend": 0}, "Lookup": root, "Meta": None, "Attributes": None})
        return JSONResponse({"Results": results, "Errors": errors})
