"""simple-salesforce, built through our HTTP layer, with bounded re-authentication.

Why a wrapper and not the bare library: with a session id (``auth_type="direct"``) simple-salesforce
cannot refresh, and its own 401 retry once recursed without bound.  Every call here goes through
:meth:`SalesforceClient.call`, which on ``INVALID_SESSION_ID`` re-authenticates (OAuth refresh-token
grant, or re-reading a rotated token file) and retries exactly once.  Paging is done page by page so an
expiry between pages costs one page, not the query, and nothing is loaded whole.

Write results are returned in request order as :class:`WriteResult` (sObject Collections answer by
position; a failed row may carry ``id: None``).  Bulk API 2.0 results come back as two CSVs in no
particular order, so they are matched to inputs by the ``Id`` column the request carried.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession

from connector.config import SalesforceConfig
from connector.http import HttpLayer, InstrumentedSession
from connector.secrets import SecretMissing, resolve

SYSTEM = "salesforce"
COLLECTION_LIMIT = 200  # sObject Collections: ≤ 200 records per call
T = TypeVar("T")
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_SOQL_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b",
                 "\f": "\\f"}


def soql_quote(value: str) -> str:
    """``value`` as a SOQL string literal: quotes, backslashes and control characters escaped."""
    return "'" + "".join(_SOQL_ESCAPES.get(ch, ch) for ch in str(value)) + "'"


def soql_identifier(name: str) -> str:
    """``name`` if it is a plain field/object name; anything else (spaces, quotes, dots) is refused."""
    if not _IDENTIFIER.match(name) or "__" in name.removesuffix("__c"):
        raise ValueError(f"salesforce: {name!r} is not a valid field name (letters, digits, _ and __c)")
    return name


def soql_datetime(when: datetime) -> str:
    """An unquoted SOQL datetime literal in UTC (``2026-11-02T09:00:00.000Z``)."""
    if when.tzinfo is None:
        raise ValueError("salesforce: a SOQL datetime needs a time zone")
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_sf_datetime(text: str) -> datetime:
    """Salesforce's ``2026-11-02T09:00:00.000+0000`` as an aware datetime."""
    fixed = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", fixed):
        fixed = fixed[:-2] + ":" + fixed[-2:]
    return datetime.fromisoformat(fixed)


class SalesforceAuthError(Exception):
    """Credentials were refused and cannot be renewed; the message says what to configure."""


@dataclass(frozen=True)
class WriteError:
    status_code: str
    message: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class WriteResult:
    """The outcome for the input record at the same position."""

    record_id: str | None
    success: bool
    created: bool = False
    errors: tuple[WriteError, ...] = field(default_factory=tuple)


#: Access tokens from refresh grants, shared by the clients of one process (the source and the sink of a
#: run, and the daemon's jobs) so each run does not mint a new session; replaced when one expires.
_SESSIONS: dict[str, tuple[str, str]] = {}
_SESSIONS_LOCK = threading.Lock()


class SalesforceClient:
    """One org: a simple-salesforce instance on an :class:`InstrumentedSession`, re-authenticated on demand."""

    def __init__(self, config: SalesforceConfig, http: HttpLayer):
        self.config = config
        self.session: InstrumentedSession = http.session(
            SYSTEM, verify=str(config.ca_bundle) if config.ca_bundle else True, timeout=config.timeout_seconds)
        self.reauthentications = 0
        token, instance_url = self._initial_token()
        self.sf = self._build(token, instance_url)

    # -- authentication ------------------------------------------------------------------------------------

    def _build(self, token: str, instance_url: str) -> Salesforce:
        return Salesforce(instance_url=instance_url, session_id=token, session=self.session,
                          version=self.config.api_version)

    def _has_refresh(self) -> bool:
        cfg = self.config
        return bool((cfg.refresh_token_env or cfg.refresh_token_file) and (cfg.client_id_env or cfg.client_id_file))

    def _initial_token(self) -> tuple[str, str]:
        if self.config.session_id_env or self.config.session_id_file:
            return resolve(self.config.secret_ref("session_id"), key="salesforce.session_id"), self.config.base_url
        with _SESSIONS_LOCK:
            cached = _SESSIONS.get(self._session_key())
        return cached or self._refresh_grant()

    def _session_key(self) -> str:
        cfg = self.config
        return f"{cfg.token_url or cfg.base_url}|{cfg.refresh_token_env or cfg.refresh_token_file}"

    def _refresh_grant(self) -> tuple[str, str]:
        """OAuth 2.0 refresh-token grant → (access token, instance URL)."""
        form = {"grant_type": "refresh_token",
                "refresh_token": resolve(self.config.secret_ref("refresh_token"), key="salesforce.refresh_token"),
                "client_id": resolve(self.config.secret_ref("client_id"), key="salesforce.client_id")}
        if self.config.client_secret_env or self.config.client_secret_file:
            form["client_secret"] = resolve(self.config.secret_ref("client_secret"), key="salesforce.client_secret")
        url = self.config.token_url or f"{self.config.base_url}/services/oauth2/token"
        response = self.session.post(url, data=form)
        if response.status_code != 200:
            detail = response.json().get("error", "unknown") if response.content else "empty response"
            raise SalesforceAuthError(f"salesforce: refresh-token grant refused ({response.status_code} {detail}); "
                                      "check refresh_token_env/client_id_env and the connected app")
        body = response.json()
        session = str(body["access_token"]), str(body.get("instance_url") or self.config.base_url)
        with _SESSIONS_LOCK:
            _SESSIONS[self._session_key()] = session
        return session

    def reauthenticate(self) -> None:
        """A new session: refresh grant if configured, else re-read the token (it may have been rotated)."""
        self.reauthentications += 1
        if self._has_refresh():
            token, instance_url = self._refresh_grant()
        else:
            try:
                token = resolve(self.config.secret_ref("session_id"), key="salesforce.session_id")
            except SecretMissing as exc:
                raise SalesforceAuthError(f"salesforce: session expired and cannot be renewed: {exc}") from None
            if token == self.sf.session_id:
                raise SalesforceAuthError("salesforce: session expired (INVALID_SESSION_ID) and no refresh token "
                                          "is configured; set refresh_token_env/client_id_env/client_secret_env")
            instance_url = self.config.base_url
        self.sf = self._build(token, instance_url)

    def call(self, fn: Callable[[Salesforce], T]) -> T:
        """Run ``fn(sf)``; on an expired session re-authenticate and retry once (never more)."""
        try:
            return fn(self.sf)
        except SalesforceExpiredSession:
            self.reauthenticate()
            return fn(self.sf)

    # -- reads ---------------------------------------------------------------------------------------------

    def query_pages(self, soql: str, *, tooling: bool = False) -> Iterator[list[dict[str, Any]]]:
        """Each page of ``soql`` (≤ 2,000 rows), following the relative ``nextRecordsUrl``."""
        if tooling:
            result = self.call(lambda sf: sf.toolingexecute("query/", params={"q": soql}))
        else:
            result = self.call(lambda sf: sf.query(soql))
        while True:
            yield [_strip(r) for r in result["records"]]
            if result.get("done", True):
                return
            result = self.call(partial(_query_more, next_url=result["nextRecordsUrl"]))

    def query_iter(self, soql: str, *, tooling: bool = False) -> Iterator[dict[str, Any]]:
        for page in self.query_pages(soql, tooling=tooling):
            yield from page

    def describe(self, obj: str) -> dict[str, Any]:
        return dict(self.call(lambda sf: getattr(sf, obj).describe()))

    def daily_budget(self) -> tuple[int, int]:
        """``(Max, Remaining)`` of DailyApiRequests from ``/limits``."""
        limits = self.call(lambda sf: sf.limits())["DailyApiRequests"]
        return int(limits["Max"]), int(limits["Remaining"])

    # -- writes --------------------------------------------------------------------------------------------

    def update_collection(self, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """PATCH composite/sobjects (records carry ``attributes.type`` and ``Id``), allOrNone=false."""
        return self._collection("PATCH", "composite/sobjects", records)

    def upsert_collection(self, obj: str, external_id_field: str,
                          records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """PATCH composite/sobjects/{obj}/{field}: create or update by external id (adds ``created``)."""
        return self._collection("PATCH", f"composite/sobjects/{obj}/{external_id_field}", records)

    def _collection(self, method: str, path: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        if len(records) > COLLECTION_LIMIT:
            raise ValueError(f"salesforce: {len(records)} records in one collections call; the limit is 200")
        body = {"allOrNone": False, "records": list(records)}
        answer = self.call(lambda sf: sf.restful(path, method=method, json=body)) or []
        return [_result(a) for a in answer]

    def bulk_update(self, obj: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Bulk API 2.0 update; results matched to inputs by the ``Id`` column (``#N/A`` writes null)."""
        rows = [{k: "#N/A" if v is None else v for k, v in r.items()} for r in records]

        def run(sf: Salesforce) -> list[WriteResult]:
            handler = getattr(sf.bulk2, obj)
            by_id: dict[str, WriteResult] = {}
            for job in handler.update(records=rows, wait=self.config.bulk_poll_seconds):
                for row in csv.DictReader(io.StringIO(handler.get_successful_records(job["job_id"]))):
                    by_id[row["Id"]] = WriteResult(row["sf__Id"] or row["Id"], True)
                for row in csv.DictReader(io.StringIO(handler.get_failed_records(job["job_id"]))):
                    by_id[row["Id"]] = WriteResult(row["sf__Id"] or None, False, errors=(_bulk_error(row),))
            missing = WriteResult(None, False, errors=(WriteError("NOT_PROCESSED", "not processed by the job"),))
            return [by_id.get(str(r["Id"]), missing) for r in records]

        return self.call(run)

    def create_custom_field(self, full_name: str, metadata: dict[str, Any]) -> str:
        body = {"FullName": full_name, "Metadata": metadata}
        answer = self.call(lambda sf: sf.toolingexecute("sobjects/CustomField", method="POST", data=body))
        return str(answer.get("id")) if isinstance(answer, dict) else ""


def _query_more(sf: Salesforce, next_url: str) -> Any:
    return sf.query_more(next_url, identifier_is_url=True)


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "attributes"}


def _result(answer: dict[str, Any]) -> WriteResult:
    errors = tuple(WriteError(str(e.get("statusCode")), str(e.get("message")), tuple(e.get("fields") or ()))
                   for e in answer.get("errors") or ())
    return WriteResult(answer.get("id"), bool(answer.get("success")), bool(answer.get("created")), errors)


def _bulk_error(row: dict[str, str]) -> WriteError:
    """``sf__Error`` is ``CODE:message:fields``; the message itself may contain colons."""
    code, _, rest = row.get("sf__Error", "").partition(":")
    message, _, fields = rest.rpartition(":")
    return WriteError(code, message or rest, tuple(f for f in fields.split(",") if f and f != "--"))
