"""Bulk API 2.0 ingest with the fewest calls: create, upload, UploadComplete, status, results only if needed.

Why not simple-salesforce's ``bulk2``: it polls at a fixed interval from the moment the job is closed and
always downloads both result files — six or more calls a job, most of them while Salesforce is still
queueing.  Here a job costs four calls when all goes well
(https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/bulk_api_2_0.htm):

* the first status read waits for the job's expected processing time (``poll_seconds`` plus 1 s per
  :data:`RECORDS_PER_SECOND` records: Salesforce processes ingest data in internal batches of 10,000), and
  later reads back off ×2 up to 30 s;
* a job that reports every record processed and none failed needs no result file for an update: each
  record succeeded, under the Id it was sent with (with failures, only ``failedResults`` is read);
* failures come from ``failedResults``, matched to inputs by the key column the request carried (``Id``,
  or the external-id field of an upsert); an upsert also reads ``successfulResults``, because callers keep
  each record's Salesforce Id and whether it was created.

Calls go through :meth:`SalesforceClient.call`, so an expired session is renewed once as for every call.
The per-record outcome types live here (and are re-exported by :mod:`connector.clients.salesforce`) so this
module needs nothing from the client at run time.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.clients.salesforce import SalesforceClient


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


RECORDS_PER_SECOND = 1000  # assumed processing rate, for the first status read only
MAX_WAIT_SECONDS = 30.0
DONE = ("JobComplete", "Failed", "Aborted")


def ingest(client: SalesforceClient, obj: str, operation: str, records: Sequence[dict[str, Any]], *,
           external_id_field: str | None = None, poll_seconds: float = 2.0,
           timeout_seconds: float = 600.0) -> list[WriteResult]:
    """Run one ``update`` or ``upsert`` job over ``records``; results in input order."""
    key = external_id_field if operation == "upsert" else "Id"
    if key is None:
        raise ValueError("salesforce bulk: an upsert needs external_id_field")
    spec: dict[str, Any] = {"object": obj, "operation": operation, "contentType": "CSV", "lineEnding": "LF"}
    if operation == "upsert":
        spec["externalIdFieldName"] = external_id_field
    job = _json(client, "POST", "jobs/ingest", json=spec)
    path = f"jobs/ingest/{job['id']}"
    _raw(client, "PUT", f"{path}/batches", data=_csv(records), headers={"Content-Type": "text/csv"})
    _json(client, "PATCH", path, json={"state": "UploadComplete"})
    info = _wait(client, path, len(records), poll_seconds, timeout_seconds)
    keys = [str(r.get(key)) for r in records]
    if info["state"] != "JobComplete":
        reason = info.get("errorMessage") or f"job {job['id']} {info['state']}"
        refused = WriteResult(None, False, errors=(WriteError("BULK_JOB_" + str(info["state"]).upper(), reason),))
        return [refused for _ in records]
    processed, failures = int(info.get("numberRecordsProcessed") or 0), int(info.get("numberRecordsFailed") or 0)
    failed: dict[str, WriteResult] = {}
    if failures:
        for row in _rows(client, f"{path}/failedResults", (key, "sf__Id", "sf__Error")):
            failed[row[key]] = WriteResult(row["sf__Id"] or None, False, errors=(_error(row),))
    if operation == "update" and processed == len(records):  # every record processed: not failed = succeeded
        return [failed.get(k) or WriteResult(k, True) for k in keys]
    done = {row[key]: WriteResult(row["sf__Id"] or None, True, row["sf__Created"] == "true")
            for row in _rows(client, f"{path}/successfulResults", (key, "sf__Id", "sf__Created"))}
    missing = WriteResult(None, False, errors=(WriteError("NOT_PROCESSED", "not processed by the bulk job"),))
    return [failed.get(k) or done.get(k, missing) for k in keys]


def _wait(client: SalesforceClient, path: str, rows: int, poll_seconds: float, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    wait = poll_seconds + rows / RECORDS_PER_SECOND
    while True:
        time.sleep(max(0.0, min(wait, deadline - time.monotonic())))
        info = _json(client, "GET", path)
        if info["state"] in DONE or time.monotonic() >= deadline:
            return info
        wait = min(max(wait * 2, 0.5), MAX_WAIT_SECONDS)


def _csv(records: Sequence[dict[str, Any]]) -> bytes:
    """CSV in Bulk 2.0's conventions: ``#N/A`` writes null, an empty cell leaves the field as it is.

    Encoded as it is written, straight into the upload's bytes: a job of 10,000 tasks whose descriptions
    are account plans is tens of MB, and building the text first held it twice (text, then its UTF-8 copy)
    at the write stage's high-water mark.  ``BytesIO.getvalue`` hands over its buffer without a copy.
    """
    columns = list(dict.fromkeys(k for r in records for k in r if k != "attributes"))
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=True)
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow({k: _cell(record[k]) for k in columns if k in record})
    text.detach()  # the wrapper must not close the buffer when it is collected
    return raw.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json(client: SalesforceClient, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = _raw(client, method, path, **kwargs)
    body: dict[str, Any] = json.loads(response.text) if response.text else {}
    return body


def _raw(client: SalesforceClient, method: str, path: str, **kwargs: Any) -> Any:
    # simple-salesforce's own request helper: its headers, its error mapping (SalesforceExpiredSession on 401).
    return client.call(lambda sf: sf._call_salesforce(method, sf.base_url + path, name=path, **kwargs))


def _rows(client: SalesforceClient, path: str, keep: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """A result file's rows, only the ``keep`` columns (missing ones as ``""``), parsed as it streams in.

    Salesforce echoes every column the job sent: an upsert of 10,000 tasks returns their descriptions too,
    and reading the file whole (its text, then a dict per row) was ~74 MB at a 100k first sync's peak.
    """
    response = _raw(client, "GET", path, stream=True)
    try:
        # urllib3's documented way to wrap its stream in a TextIOWrapper: decode a gzip body as it is read,
        # and do not close at the end of the body (the wrapper's last read would fail on a closed file).
        response.raw.decode_content, response.raw.auto_close = True, False
        for row in csv.DictReader(io.TextIOWrapper(response.raw, encoding="utf-8", newline="")):
            yield {k: row.get(k) or "" for k in keep}
    finally:
        response.close()


def _error(row: dict[str, str]) -> WriteError:
    """``sf__Error`` is ``CODE:message:fields``; the message itself may contain colons."""
    code, _, rest = row.get("sf__Error", "").partition(":")
    message, _, fields = rest.rpartition(":")
    return WriteError(code, message or rest, tuple(f for f in fields.split(",") if f and f != "--"))
