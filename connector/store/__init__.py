"""The connector's own state: cursors, replica, signals, scores, written values, tasks, runs."""

from connector.store.store import Replica, Store, TaskLedgerEntry, encode_value, utcnow

__all__ = ["Replica", "Store", "TaskLedgerEntry", "encode_value", "utcnow"]
