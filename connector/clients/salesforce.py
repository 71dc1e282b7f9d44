"""simple-salesforce, built through our HTTP layer, with bounded re-authentication.

Why a wrapper and not the bare library: with a session id (``auth_type="direct"``) simple-salesforce
cannot refresh, and its own 401 retry once recursed without bound.  Every call here goes through
:meth:`SalesforceClient.call`, which on ``INVALID_SESSION_ID`` re-authenticates (OAuth refresh-token
grant, or re-reading a rotated token file) and retries exactly once.  Paging is done page by page so an
expiry between pages costs one page, not the query, and nothing is loaded whole.

Records are written at up to 1,000 per API call (:meth:`SalesforceClient.write_records`): five sObject
Collections subrequests of 200 inside one Composite request, which Salesforce counts as one call.
Write results are returned in request order as :class:`WriteResult` (sObject Collections answer by
position; a failed row may carry ``id: None``).  Bulk API 2.0 jobs are driven by
:mod:`connector.clients.salesforce_bulk` (results matched to inputs by the key column they carried).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession

from connector.clients.salesforce_bulk import WriteError, WriteResult, ingest
from connector.config import SalesforceConfig
from connector.http import HttpLayer, InstrumentedSession
from connector.secrets import SecretMissing, resolve

SYSTEM = "salesforce"
COLLECTION_LIMIT = 200  # sObject Collections: ≤ 200 records per call
COMPOSITE_COLLECTIONS = 5  # Composite: ≤ 25 subrequests, of which ≤ 5 sObject Collections or queries
#: Records one API call can write: five Collections subrequests of 200 inside one Composite request.
COMPOSITE_LIMIT = COLLECTION_LIMIT * COMPOSITE_COLLECTIONS
#: Cursor the Salesforce source sets to the run's ``now`` once it read every Account changed since its last
#: read *with the fields the sink writes*: the replica then holds each Account's live values as of this run,
#: and the sink checks drift against it instead of querying the records again.
LIVE_MARK = "Account.live_at"
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


class CompositeRefused(Exception):
    """Salesforce refused a Composite request as a whole (``LIMIT_EXCEEDED``): a bug in how it was built."""


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

    def update_records(self, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Update up to :data:`COMPOSITE_LIMIT` records (``attributes.type`` and ``Id``) in one call."""
        return self.write_records("PATCH", "composite/sobjects", records)

    def upsert_records(self, obj: str, external_id_field: str,
                       records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Upsert up to :data:`COMPOSITE_LIMIT` records by external id in one call."""
        return self.write_records("PATCH", f"composite/sobjects/{obj}/{external_id_field}", records)

    def write_records(self, method: str, path: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """≤ 200 records: one Collections call; ≤ 1,000: one Composite call of ≤ 5 Collections subrequests.

        Results come back in input order.  A subrequest refused as a whole (its httpStatusCode ≥ 400, e.g. a
        missing external-id field) fails each of its records with that error; the other subrequests stand
        (``allOrNone`` false at both levels, as for a bare Collections call).
        """
        if len(records) <= COLLECTION_LIMIT:
            return self._collection(method, path, records)
        if len(records) > COMPOSITE_LIMIT:
            raise ValueError(f"salesforce: {len(records)} records in one composite call; the limit is "
                             f"{COMPOSITE_LIMIT} ({COMPOSITE_COLLECTIONS} collections of {COLLECTION_LIMIT})")
        chunks = [list(records[i:i + COLLECTION_LIMIT]) for i in range(0, len(records), COLLECTION_LIMIT)]
        url = f"/services/data/v{self.sf.sf_version}/{path}"
        answers = self.composite([{"method": method, "url": url, "referenceId": f"records{n}",
                                   "body": {"allOrNone": False, "records": chunk}}
                                  for n, chunk in enumerate(chunks)])
        results: list[WriteResult] = []
        for chunk, answer in zip(chunks, answers, strict=True):
            body = answer.get("body")
            if int(answer.get("httpStatusCode") or 500) >= 400 or not isinstance(body, list):
                errors = tuple(WriteError(str(e.get("errorCode")), str(e.get("message")), tuple(e.get("fields") or ()))
                               for e in (body if isinstance(body, list) else []) if isinstance(e, dict))
                failed = WriteResult(None, False, errors=errors or (WriteError("UNKNOWN", "subrequest failed"),))
                results.extend(failed for _ in chunk)
            else:
                results.extend(_result(a) for a in body)
        return results

    def composite(self, subrequests: Sequence[dict[str, Any]], *, all_or_none: bool = False) -> list[dict[str, Any]]:
        """POST ``composite``: the subresults ``{body, httpHeaders, httpStatusCode, referenceId}`` in order.

        ``collateSubrequests`` is false so Salesforce runs them in the order given (results are matched to
        records by position).  A request refused whole raises :class:`CompositeRefused`.
        """
        body = {"allOrNone": all_or_none, "collateSubrequests": False, "compositeRequest": list(subrequests)}
        answer = self.call(lambda sf: sf.restful("composite", method="POST", json=body)) or {}
        results: list[dict[str, Any]] = list(answer.get("compositeResponse") or [])
        if len(results) != len(subrequests):
            codes = "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for r in results
                              for e in (r.get("body") or []) if isinstance(e, dict))
            raise CompositeRefused(f"salesforce: composite request refused: {codes or answer}")
        return results

    def _collection(self, method: str, path: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        if len(records) > COLLECTION_LIMIT:
            raise ValueError(f"salesforce: {len(records)} records in one collections call; the limit is 200")
        body = {"allOrNone": False, "records": list(records)}
        answer = self.call(lambda sf: sf.restful(path, method=method, json=body)) or []
        return [_result(a) for a in answer]

    def bulk_update(self, obj: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """One Bulk API 2.0 update job (:mod:`connector.clients.salesforce_bulk`); ``None`` writes null."""
        return ingest(self, obj, "update", records, poll_seconds=self.config.bulk_poll_seconds)

    def bulk_upsert(self, obj: str, external_id_field: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """One Bulk API 2.0 upsert job by external id (reads the Ids back, and whether each was created)."""
        return ingest(self, obj, "upsert", records, external_id_field=external_id_field,
                      poll_seconds=self.config.bulk_poll_seconds)

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
