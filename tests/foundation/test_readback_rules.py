"""Read-back rules: what the CRM shows becomes evidence; the connector's own closes and writes do not."""

from __future__ import annotations

from datetime import UTC, date, datetime

from connector.sinks.readback import RemoteTask, evidence_entries
from connector.store import TaskLedgerEntry

NOW = datetime(2026, 11, 9, 9, 0, tzinfo=UTC)
SENT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _ledger(key: str, status: str = "open", fingerprint: str = "fp") -> TaskLedgerEntry:
    return TaskLedgerEntry("salesforce", key, "001A", "renewal", 0, "00T1", status, fingerprint, SENT, SENT)


def _remote(key: str, state: str, *, untouched: bool = True, fp: str = "fp") -> RemoteTask:
    return RemoteTask(key, "00T1", "001A", state, untouched, fp, "005B", date(2026, 11, 20), NOW, NOW)


def test_each_kind_of_remote_state_becomes_the_right_evidence() -> None:
    ledger = {k: _ledger(k) for k in ("a", "b", "c", "d", "e", "f")}
    ledger["f"] = _ledger("f", status="closed")
    remote = [_remote("a", "completed"), _remote("b", "deleted"), _remote("c", "closed_other"),
              _remote("d", "open"), _remote("e", "open", fp="other"), _remote("f", "closed_by_connector"),
              _remote("g", "open")]
    got = {e.key: (e.remote_state, e.touched) for e in evidence_entries("salesforce", ledger, remote, NOW)}
    assert got == {"a": ("completed", False), "b": ("dismissed", False), "c": ("dismissed", False),
                   "d": ("open", False), "e": ("open", True), "g": ("open", True)}


def test_a_status_change_alone_is_a_touch_and_a_lost_ledger_adopts_the_connectors_close() -> None:
    [progress] = evidence_entries("salesforce", {"a": _ledger("a")}, [_remote("a", "open", untouched=False)], NOW)
    assert progress.touched and progress.remote_owner == "005B" and progress.remote_due == date(2026, 11, 20)
    [adopted] = evidence_entries("salesforce", {}, [_remote("z", "closed_by_connector")], NOW)
    assert adopted.status == "closed" and adopted.remote_state is None
