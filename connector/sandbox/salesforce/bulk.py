"""Bulk API 2.0 ingest jobs: create → PUT CSV → PATCH UploadComplete → job info → result CSVs.

Jobs take time, as in Salesforce (which queues a job at UploadComplete and processes it in internal
batches of 10,000 records): ``UploadComplete`` until ``queue_seconds`` have passed, ``InProgress`` until
``seconds_per_10k`` × records ÷ 10,000 more, then ``JobComplete``; the rows are applied when the job
completes.  The defaults (no queue, 10 s per 10,000 records) are an assumption: Salesforce publishes no
throughput, only that an internal batch of 10,000 must finish within 10 minutes; benchmarks state theirs.

Rows are applied with the same per-record rules as the REST API; an empty cell leaves a field unchanged
and ``#N/A`` sets it to null, as in Salesforce.  A header naming an unknown field fails the whole job
(``InvalidBatch``), which simple-salesforce surfaces as a failed job.
https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/bulk_api_2_0.htm
"""

from __future__ import annotations

import csv
import io
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from connector.sandbox.salesforce.backend import ApiError, SalesforceBackend, salesforce_id
from connector.sandbox.salesforce.schema import format_datetime

MAX_UPLOAD_BYTES = 150 * 1024 * 1024
_OPERATIONS = ("insert", "update", "upsert")


@dataclass
class IngestJob:
    id: str
    object: str
    operation: str
    external_id_field: str | None
    created: str
    state: str = "Open"
    data: list[str] = field(default_factory=list)
    successful: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    error_message: str | None = None
    queued_until: float = 0.0  # time.monotonic() when processing starts
    ready_at: float = 0.0  # time.monotonic() when processing ends
    outcome: str = "JobComplete"  # the state once processed (Failed when the upload named unknown fields)

    def info(self, api_version: str) -> dict[str, Any]:
        done = self.state in ("JobComplete", "Failed")
        info = {"id": self.id, "operation": self.operation, "object": self.object, "createdById": "005sandbox",
                "createdDate": self.created, "systemModstamp": self.created, "state": self.state,
                "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(api_version),
                "lineEnding": "LF", "columnDelimiter": "COMMA",
                "numberRecordsProcessed": len(self.successful) + len(self.failed) if done else 0,
                "numberRecordsFailed": len(self.failed) if done else 0}
        if self.external_id_field:
            info["externalIdFieldName"] = self.external_id_field
        if self.error_message:
            info["errorMessage"] = self.error_message
        return info


@dataclass
class BulkIngest:
    backend: SalesforceBackend
    queue_seconds: float = 0.0
    seconds_per_10k: float = 10.0
    jobs: dict[str, IngestJob] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _workers: dict[str, threading.Thread] = field(default_factory=dict)

    def job(self, job_id: str) -> IngestJob:
        """The job, its state moved on by time: Salesforce reports ``JobComplete`` once the modelled
        processing time has passed *and* the sandbox has applied the rows (on a background thread started at
        ``UploadComplete``, as Salesforce works while the client waits — so the emulator's own CPU overlaps
        the modelled wait instead of being charged to the status read)."""
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "NOT_FOUND", f"Job {job_id} not found")
        if job.state in ("UploadComplete", "InProgress"):
            now = time.monotonic()
            worker = self._workers.get(job.id)
            if now >= job.ready_at and (worker is None or not worker.is_alive()):
                self._workers.pop(job.id, None)
                job.state = job.outcome
            elif now >= job.queued_until:
                job.state = "InProgress"
        return job

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        obj, operation = str(body.get("object") or ""), str(body.get("operation") or "")
        self.backend.object_fields(obj)
        if operation not in _OPERATIONS:
            raise ApiError(400, "FeatureNotEnabled", f"operation {operation!r} is not supported by the sandbox")
        if body.get("contentType", "CSV") != "CSV":
            raise ApiError(400, "INVALIDJOB", "contentType must be CSV")
        if operation == "upsert" and not body.get("externalIdFieldName"):
            raise ApiError(400, "INVALIDJOB", "externalIdFieldName is required for upsert")
        job = IngestJob(salesforce_id("750", next(self._ids)), obj, operation, body.get("externalIdFieldName"),
                        format_datetime(self.backend.clock.now()))
        self.jobs[job.id] = job
        return job.info(self.backend.api_version)

    def upload(self, job_id: str, data: bytes) -> None:
        job = self.job(job_id)
        if job.state != "Open":
            raise ApiError(409, "INVALIDJOBSTATE", f"Job {job_id} is {job.state}, not Open")
        if len(data) > MAX_UPLOAD_BYTES:
            raise ApiError(400, "INVALIDBATCH", "upload exceeds 150 MB")
        job.data.append(data.decode("utf-8"))

    def set_state(self, job_id: str, state: str) -> dict[str, Any]:
        job = self.job(job_id)
        if state == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
            job.state = "Aborted"
        elif state == "UploadComplete" and job.state == "Open":
            # records, not lines: a quoted value may hold newlines (a task's description has several)
            rows = max(0, sum(1 for _ in csv.reader(io.StringIO("".join(job.data)))) - 1)
            job.state = "UploadComplete"
            job.queued_until = time.monotonic() + self.queue_seconds
            job.ready_at = job.queued_until + self.seconds_per_10k * rows / 10_000
            worker = threading.Thread(target=self._process_after_queue, args=(job,), name=f"bulk-{job.id}",
                                      daemon=True)
            self._workers[job.id] = worker
            worker.start()
            self.job(job_id)
        else:
            raise ApiError(400, "INVALIDJOBSTATE", f"cannot move job from {job.state} to {state}")
        return job.info(self.backend.api_version)

    def _process_after_queue(self, job: IngestJob) -> None:
        """Nothing is applied while the job waits in Salesforce's queue; an aborted job is never applied."""
        time.sleep(max(0.0, job.queued_until - time.monotonic()))
        if job.state != "Aborted":
            self._process(job)

    def _process(self, job: IngestJob) -> None:
        rows = list(csv.DictReader(io.StringIO("".join(job.data))))
        job.columns = list(rows[0].keys()) if rows else []
        fields = self.backend.object_fields(job.object)
        unknown = [c for c in job.columns if c not in fields]
        if unknown:
            job.outcome, job.error_message = "Failed", f"InvalidBatch : Field name not found : {unknown[0]}"
            return
        self.backend.bulk_apply(job.object, lambda: self._apply_rows(job, rows))
        job.outcome = "JobComplete"

    def _apply_rows(self, job: IngestJob, rows: list[dict[str, str]]) -> None:
        for row in rows:
            values = {k: (None if v == "#N/A" else v) for k, v in row.items() if v != ""}
            if job.operation == "insert":
                result = self.backend.create(job.object, values)
            elif job.operation == "update":
                result = self.backend.update(job.object, values)
            else:
                result = self.backend.upsert(job.object, str(job.external_id_field), values)
            if result["success"]:
                job.successful.append({"sf__Id": result["id"], "sf__Created": str(bool(result.get("created")))
                                       .lower(), **row})
            else:
                err = result["errors"][0]
                job.failed.append({"sf__Id": result.get("id") or "", "sf__Error":
                                   f"{err['statusCode']}:{err['message']}:{','.join(err['fields']) or '--'}", **row})

    def results_csv(self, job_id: str, kind: str) -> str:
        job = self.job(job_id)
        if job.state != "JobComplete":
            raise ApiError(400, "INVALIDJOBSTATE", f"Job {job_id} is {job.state}; results exist once complete")
        rows = job.successful if kind == "successfulResults" else job.failed
        lead = ["sf__Id", "sf__Created"] if kind == "successfulResults" else ["sf__Id", "sf__Error"]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[*lead, *job.columns], lineterminator="\n",
                                quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
