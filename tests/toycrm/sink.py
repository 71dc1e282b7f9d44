"""The toy CRM's sink: the five field-writer methods and a task transport, nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from connector.config import Config
from connector.mappings import load_mapping
from connector.records import TaskSpec
from connector.sinks.base import Failed, FieldSink, FieldSpec, RecordChange, SinkContext, SinkReport
from connector.sinks.tasks import TaskAction, TaskLedger, TaskResult, TaskTransport
from toycrm.client import ToyCrmClient

NAME = "toycrm"


class ToyCrmSink(FieldSink):
    name, object, entity, batch_size, live_batch = NAME, "account", "account", 50, 50

    def __init__(self, config: Config):
        self.section = config.section(NAME)
        self.mapping = load_mapping(config.resolve(Path(self.section.mapping)))

    def begin(self, ctx: SinkContext) -> None:
        self.client = ToyCrmClient(self.section, ctx.http)

    def wanted_fields(self) -> list[FieldSpec]:
        return [FieldSpec(self.object, fm.name, fm.type) for fm in self.mapping.fields.values()]

    def existing_fields(self, ctx: SinkContext) -> dict[str, dict[str, Any]]:
        self.begin(ctx)
        return {self.object: {name: "any" for name in self.client.backend.fields}}

    def create_field(self, ctx: SinkContext, spec: FieldSpec) -> None:
        self.client.backend.fields.add(spec.name)

    def field_problem(self, spec: FieldSpec, found: Any) -> str | None:
        return None

    def read_live(self, batch: list[RecordChange]) -> dict[str, dict[str, Any]]:
        return self.client.read([c.record_id for c in batch], self.mapping.remote_fields())

    def send_batch(self, batch: list[RecordChange]) -> Failed:
        errors = self.client.update({c.record_id: c.values for c in batch})
        return {rid: (None, message) for rid, message in errors.items()}

    def after_fields(self, ctx: SinkContext, tasks: Sequence[TaskSpec], report: SinkReport) -> None:
        TaskLedger(ctx, _Tasks(self.client), report).sync(tasks)


class _Tasks(TaskTransport):
    system, object, batch_size, upserts = NAME, "task", 50, True

    def __init__(self, client: ToyCrmClient):
        self.client = client

    def parent(self, spec: TaskSpec) -> str | None:
        return spec.account_id if spec.account_id in self.client.backend.accounts else None

    def encode(self, spec: TaskSpec, parent: str | None) -> dict[str, Any] | None:
        return {"subject": spec.subject, "due": spec.due_date.isoformat(), "account": parent}

    def lookup(self, keys: Sequence[str]) -> dict[str, str]:
        return self.client.find_tasks(list(keys))

    def send(self, actions: Sequence[TaskAction]) -> list[TaskResult]:
        rows = [{"key": a.spec.key, **a.payload, "done": a.kind == "close_task"} for a in actions]
        return [TaskResult(True, tid, created) for tid, created in self.client.upsert_tasks(rows)]
