"""A small typed Stripe client over our HttpLayer session (no stripe-python: it brings its own retries).

Why not the official library: stripe-python keeps its own HTTP client, retry loop and global
``stripe.api_key``; routing it through our :class:`~connector.http.InstrumentedSession` would mean
patching internals.  The connector only reads a handful of list endpoints, so a thin client keeps every
call under the shared rate limit, retry policy and call ledger.

* The secret key goes in ``Authorization: Bearer`` (https://docs.stripe.com/api/authentication) and is
  registered for redaction by :func:`connector.secrets.resolve`; messages never carry it.
* :meth:`StripeClient.pages` auto-pages a list endpoint 100 objects at a time with ``starting_after``
  (https://docs.stripe.com/api/pagination), one page at a time so a source can persist each page with
  its cursor.
* A Stripe error object becomes :class:`StripeApiError` naming the endpoint, status, type, code and
  parameter.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from connector.config import StripeConfig
from connector.http import HttpLayer, InstrumentedSession
from connector.secrets import redact, resolve

SYSTEM = "stripe"
PAGE_SIZE = 100  # the maximum ``limit`` of every Stripe list endpoint
API_VERSION = "2024-06-20"

Params = Mapping[str, str | int | list[str]]


class StripeApiError(Exception):
    """Stripe refused a request; names the endpoint, status, type, code and parameter, never the key."""

    def __init__(self, endpoint: str, status: int, error: Mapping[str, Any]):
        self.endpoint, self.status = endpoint, status
        self.type = str(error.get("type") or "api_error")
        self.code = error.get("code")
        self.param = error.get("param")
        self.stripe_message = redact(str(error.get("message") or "no message"))
        where = f" (param {self.param})" if self.param else ""
        code = f"/{self.code}" if self.code else ""
        hint = " — check stripe.api_key_env / api_key_file" if status == 401 else ""
        super().__init__(f"stripe: GET {endpoint} answered {status} {self.type}{code}{where}: "
                         f"{self.stripe_message}{hint}")

    @property
    def resource_missing(self) -> bool:
        return self.code == "resource_missing"


@dataclass
class StripeClient:
    """Reads Stripe's REST API at ``base_url`` (``https://api.stripe.com``) through ``session``."""

    session: InstrumentedSession
    base_url: str

    def get(self, path: str, params: Params | None = None) -> dict[str, Any]:
        """GET ``/v1/…`` and return the JSON object, or raise :class:`StripeApiError`."""
        response = self.session.get(f"{self.base_url}{path}", params=_form(params or {}))
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise StripeApiError(urlsplit(response.url).path or path, response.status_code,
                                 error if isinstance(error, dict) else {"message": response.reason})
        return body

    def pages(self, path: str, params: Params | None = None, *,
              limit: int = PAGE_SIZE) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list endpoint, newest first, following ``starting_after`` while ``has_more``."""
        query: dict[str, Any] = {**(params or {}), "limit": limit}
        while True:
            body = self.get(path, query)
            data = body.get("data") or []
            yield data
            # The last object with an id is the cursor: a malformed object (quarantined by the source)
            # must not end the paging.
            last = next((o["id"] for o in reversed(data) if isinstance(o, dict) and o.get("id")), None)
            if not body.get("has_more") or last is None:
                return
            query["starting_after"] = last

    def pages_of(self, lists: Sequence[tuple[str, Params]]) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """Pages of several list endpoints read at once, one thread per list: ``(index in lists, page)``.

        Why: a full read is a few long chains of dependent page calls (each ``starting_after`` needs the page
        before); reading them side by side costs no extra call and takes the longest chain's time instead of
        the sum.  Pages are handed over through a short queue, so the caller (which writes them to the store
        on its own thread) sets the pace and memory stays a few pages; an error in any list is raised here.
        """
        found: queue.Queue[tuple[int, list[dict[str, Any]] | BaseException | None]] = queue.Queue(maxsize=8)
        stop = threading.Event()

        def read(index: int, path: str, params: Params) -> None:
            try:
                for page in self.pages(path, params):
                    while not stop.is_set():
                        try:
                            found.put((index, page), timeout=0.5)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                found.put((index, None))
            except BaseException as exc:  # handed to the caller's thread
                found.put((index, exc))

        threads = [threading.Thread(target=read, args=(i, path, params), daemon=True, name=f"stripe-list-{i}")
                   for i, (path, params) in enumerate(lists)]
        for thread in threads:
            thread.start()
        running = len(threads)
        try:
            while running:
                index, item = found.get()
                if item is None:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield index, item
        finally:
            stop.set()

    def list_all(self, path: str, params: Params | None = None) -> Iterator[dict[str, Any]]:
        """Every object of a list endpoint (auto-paging)."""
        for page in self.pages(path, params):
            yield from page


def _form(params: Params) -> list[tuple[str, str]]:
    """Stripe's form encoding for GET: lists repeat their ``name[]`` key, everything else is text."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if isinstance(value, list):
            pairs.extend((key, str(v)) for v in value)
        else:
            pairs.append((key, str(value)))
    return pairs


def build_client(cfg: StripeConfig, http: HttpLayer) -> StripeClient:
    """A client for ``cfg`` whose traffic goes through ``http``'s ``stripe`` limiter, retries and ledger."""
    key = resolve(cfg.secret_ref("api_key"), key="stripe.api_key")
    session = http.session(SYSTEM, verify=str(cfg.ca_bundle) if cfg.ca_bundle else True,
                           timeout=cfg.timeout_seconds)
    session.headers.update({"Authorization": f"Bearer {key}", "Stripe-Version": API_VERSION})
    return StripeClient(session, cfg.base_url)
