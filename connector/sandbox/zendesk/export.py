"""Incremental exports as Zendesk serves them: cursor-based for tickets, time-based for organizations.

Both exclude records changed in the last minute (the real export does, so a record still being written is
picked up by the next call rather than half-read), and both order by ``(updated_at, id)``.

* Tickets — ``GET /api/v2/incremental/tickets/cursor.json?start_time=`` then ``?cursor=``: pages of up to
  1,000 with ``after_cursor``/``after_url`` and ``end_of_stream``; the cursor is opaque and stays valid, so
  a client polls with its last ``after_cursor`` and gets only what changed since.  ``include=users``
  sideloads the requesters; ``include=metric_sets`` puts each ticket's metric set *inside* the ticket
  (``ticket["metric_set"]``, as Zendesk does and Singer's tap-zendesk reads).  Tickets carry both
  ``custom_fields`` and its duplicate ``fields``; ``start_time`` may be fractional (``1700000000.0``).
  https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/#incremental-ticket-export-cursor-based
* Organizations — ``GET /api/v2/incremental/organizations.json?start_time=``: time-based, ``end_time`` and
  ``next_page``; a page is extended to every record sharing its last timestamp, and the next page starts
  *at* that timestamp, so records at page edges are repeated (clients dedupe on id + updated_at).
"""

from __future__ import annotations

import base64
import binascii
import math
from bisect import bisect_right
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from connector.sandbox.zendesk.backend import ZendeskBackend, ZendeskError

MAX_PAGE = 1000
RECENT = timedelta(minutes=1)


def _epoch(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def _position(record: dict[str, Any]) -> int:
    """Where a record sits in the export stream: Zendesk orders by its own ``generated_timestamp`` (when the
    record was last written), not by ``updated_at``; a stored one (a record planted as-is) is used as-is."""
    stamp = record.get("generated_timestamp")
    return stamp if isinstance(stamp, int) else _epoch(record["updated_at"])


def encode_cursor(position: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(f"{position[0]}:{position[1]}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, ident = raw.partition(":")
        return int(stamp), int(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ZendeskError(400, "InvalidPaginationParameter", "Invalid cursor") from None


def start_time_param(raw: str | None, now: datetime) -> int:
    """``start_time`` as whole epoch seconds (a fraction is dropped, as Zendesk does); refused when missing,
    malformed or within the last minute."""
    try:
        seconds = float(raw or "")
        start = math.floor(seconds)
    except (ValueError, OverflowError):
        raise ZendeskError(400, "InvalidValue", "start_time must be a Unix epoch time in seconds") from None
    if start > (now - RECENT).timestamp():
        raise ZendeskError(400, "InvalidValue", "Too recent start_time. Use a start_time older than 1 minute")
    return start


def _ticket_order(backend: ZendeskBackend) -> list[tuple[int, int]]:
    """Every ticket's ``(position, id)`` in export order, sorted once per change of the tickets.

    Sorting every ticket for every page made a 100k-account export (500k tickets, 500 pages) quadratic:
    the emulator, not the connector, set the pace of the benchmarks.
    """
    stamp = (backend.tickets_version, len(backend.tickets))
    if backend.export_order is None or backend.export_order[0] != stamp:
        backend.export_order = (stamp, sorted((_position(t), t["id"]) for t in backend.tickets.values()))
    return backend.export_order[1]


def ticket_page(backend: ZendeskBackend, *, start_time: str | None, cursor: str | None, per_page: int,
                include: set[str], url_for: Callable[[dict[str, str]], str]) -> dict[str, Any]:
    """One page of the cursor-based ticket export."""
    now = backend.now()
    after = decode_cursor(cursor) if cursor else (start_time_param(start_time, now) - 1, 2**63)
    horizon = (now - RECENT).timestamp()
    keys = _ticket_order(backend)
    start, end = bisect_right(keys, after), bisect_right(keys, (math.floor(horizon), 2**63))
    remaining = keys[start:end]
    page = remaining[:per_page]
    position = page[-1] if page else after
    next_cursor = encode_cursor(position)
    tickets = [_exported(backend, ident, stamp, "metric_sets" in include) for stamp, ident in page]
    body: dict[str, Any] = {
        "tickets": tickets,
        "after_cursor": next_cursor, "after_url": url_for({"cursor": next_cursor}),
        "before_cursor": None, "before_url": None,
        "end_of_stream": len(remaining) <= per_page,
    }
    if "users" in include:
        ids = {t.get("requester_id") for t in tickets}
        body["users"] = [backend.users[i] for i in sorted(i for i in ids if i in backend.users)]
    return body


def served_ticket(ticket: dict[str, Any]) -> dict[str, Any]:
    """A ticket as the API serves it: ``fields`` duplicates ``custom_fields`` (clients such as tap-zendesk
    drop one of the two and fail without it)."""
    custom = list(ticket.get("custom_fields") or [])
    return {**ticket, "custom_fields": custom, "fields": [dict(f) for f in custom]}


def _exported(backend: ZendeskBackend, ident: int, stamp: int, metrics: bool) -> dict[str, Any]:
    """A ticket as the export serves it, its metric set inside when ``include=metric_sets``."""
    out = {**served_ticket(backend.tickets[ident]), "generated_timestamp": stamp}
    if metrics:
        out["metric_set"] = backend.metrics.get(ident)
    return out


def organization_page(backend: ZendeskBackend, *, start_time: str | None, per_page: int,
                      url_for: Callable[[dict[str, str]], str]) -> dict[str, Any]:
    """One page of the time-based organization export (page edges repeat, as the real one does)."""
    now = backend.now()
    start = start_time_param(start_time, now)
    horizon = (now - RECENT).timestamp()
    eligible = sorted((_position(o), o["id"]) for o in backend.orgs.values() if start <= _position(o) <= horizon)
    page = eligible[:per_page]
    if page:
        last = page[-1][0]
        page += [key for key in eligible[per_page:] if key[0] == last]
    end_time = page[-1][0] if page else start
    return {
        "organizations": [backend.orgs[ident] for _, ident in page],
        "count": len(page), "end_time": end_time,
        "next_page": url_for({"start_time": str(end_time)}),
        "end_of_stream": len(eligible) <= per_page,
    }
