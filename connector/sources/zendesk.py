"""Zendesk source: organizations and support-ticket signals per organization (or requester domain).

Reads incrementally and computes from the replica, never from a full re-read:

* organizations — time-based incremental export (``incremental/organizations.json``); its ``end_time`` is
  the cursor.  Page edges repeat records, which the replica's upsert on id absorbs.
* tickets — cursor-based incremental export with ``include=metric_sets,users`` (resolution times and the
  requester's email come in the same call).  Zendesk puts each ticket's metrics *inside* the ticket
  (``ticket["metric_set"]``, what Singer's tap-zendesk reads); a top-level ``metric_sets`` list keyed by
  ``ticket_id`` (how other side-loads look) is read too, so either shape fills the resolution times.
  Each page is written to the replica *with* its ``after_cursor`` in one transaction, so a crash replays
  at most one page and a re-run with nothing new costs one probe call.  Tickets are grouped by
  ``org:<id>``, or ``domain:<requester email domain>`` for tickets without an organization.

Signals are recomputed for the groups the pull dirtied, and for every group once per day: the windowed
signals ("unresolved for more than N days", "last 90 days") change with the calendar even when no ticket
does.  Support volume is engagement, not risk, so it is its own signal; risk is in slow, open, urgent and
escalated tickets (see ``connector.records.SIGNALS``).
"""

from __future__ import annotations

import heapq
import itertools
import statistics
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from connector.clients.zendesk import ZendeskClient, build_client
from connector.config import Config
from connector.records import IdentityKeys, Observation, Quarantined, SignalValue
from connector.sources.base import SourceContext, SourceItem
from connector.sources.windows import window_start
from connector.store import Replica

NAME = "zendesk"
TICKETS, ORGS, DAY = "tickets", "organizations", "signals_day"
OPEN = frozenset({"new", "open", "pending", "hold"})
SOLVED = frozenset({"solved", "closed"})
STATUSES = OPEN | SOLVED | {"deleted"}
#: Longer text than this in a record we keep is a broken export, not data (Zendesk caps comments at 64 KB).
MAX_TEXT = 65_536
ESCALATION_DAYS = 90
FUTURE_TOLERANCE = timedelta(days=1)


class ZendeskSource:
    """``pull`` yields Quarantined records as it reads, then one Observation per recomputed group."""

    name = NAME

    def __init__(self, config: Config, client: ZendeskClient | None = None):
        if config.zendesk is None:
            raise ValueError("zendesk source: the config has no [zendesk] section")
        self.config, self.cfg = config, config.zendesk
        self._client = client

    def pull(self, ctx: SourceContext) -> Iterator[SourceItem]:
        client = self._client or build_client(self.config, ctx.http)
        yield from self._pull_organizations(ctx, client)
        yield from self._pull_tickets(ctx, client)
        yield from self._observations(ctx)

    # -- reading --------------------------------------------------------------------------------------

    def _pull_organizations(self, ctx: SourceContext, client: ZendeskClient) -> Iterator[Quarantined]:
        cursor = None if ctx.full else ctx.store.get_cursor(NAME, ORGS)
        start = int(cursor or 0)
        while True:
            body = client.get_json("incremental/organizations.json", {"start_time": start})
            rows: list[Replica] = []
            for raw in body.get("organizations") or []:
                row = organization_row(raw, ctx.now)
                if isinstance(row, str):
                    yield Quarantined(NAME, "organization", _raw_id(raw), row, _preview(raw))
                else:
                    rows.append(row)
            end = int(body.get("end_time") or start)
            ctx.store.upsert_replica(NAME, ORGS, _changed(ctx, ORGS, rows), cursor=str(max(end, start)))
            if body.get("end_of_stream") or end <= start:
                return
            start = end

    def _pull_tickets(self, ctx: SourceContext, client: ZendeskClient) -> Iterator[Quarantined]:
        cursor = None if ctx.full else ctx.store.get_cursor(NAME, TICKETS)
        params: dict[str, Any] = {"include": "metric_sets,users"}
        params.update({"cursor": cursor} if cursor else {"start_time": 0})
        while True:
            body = client.get_json("incremental/tickets/cursor.json", params)
            metrics = {m.get("ticket_id"): m for m in body.get("metric_sets") or []}
            emails = {u.get("id"): u.get("email") for u in body.get("users") or []}
            rows: dict[str, Replica] = {}
            for raw in body.get("tickets") or []:
                row = ticket_row(raw, raw.get("metric_set") or metrics.get(raw.get("id")), emails, ctx.now)
                if isinstance(row, str):
                    yield Quarantined(NAME, "ticket", _raw_id(raw), row, _preview(raw))
                elif row.record_id not in rows or rows[row.record_id].updated_at <= row.updated_at:
                    rows[row.record_id] = row
            after = body.get("after_cursor")
            ctx.store.upsert_replica(NAME, TICKETS, _changed(ctx, TICKETS, list(rows.values())), cursor=after)
            if body.get("end_of_stream") or not after:
                return
            params = {"include": params["include"], "cursor": after}

    # -- computing --------------------------------------------------------------------------------------

    def _observations(self, ctx: SourceContext) -> Iterator[Observation]:
        today = ctx.now.date().isoformat()
        everything = ctx.full or ctx.store.get_cursor(NAME, DAY) != today
        groups = None if everything else ctx.store.dirty_groups(NAME, TICKETS) | ctx.store.dirty_groups(NAME, ORGS)
        if groups is not None and not groups:
            return
        # Both streams come ordered by group and are merged, so one organisation's tickets are in memory
        # at a time (a 100k-account export held whole took over 1 GB).
        orgs = ((r.group_key, 0, r.payload) for r in ctx.store.replica(NAME, ORGS, groups, by_group=True)
                if r.group_key)
        tickets = ((r.group_key, 1, r.payload) for r in ctx.store.replica(NAME, TICKETS, groups, by_group=True)
                   if r.group_key)
        for group, rows in itertools.groupby(heapq.merge(orgs, tickets, key=lambda row: row[:2]),
                                             key=lambda row: row[0]):
            org: Mapping[str, Any] | None = None
            group_tickets: list[dict[str, Any]] = []
            for _, kind, payload in rows:
                if kind == 0:
                    org = payload
                else:
                    group_tickets.append(payload)
            signals = ticket_signals(group_tickets, ctx.now, self.cfg.unresolved_after_days,
                                     self.cfg.resolution_window_days)
            yield self._observation(group, org, signals, ctx.now)
        ctx.clear_dirty(NAME, TICKETS, groups)
        ctx.clear_dirty(NAME, ORGS, groups)
        ctx.set_cursor(NAME, DAY, today)

    def _observation(self, group: str, org: Mapping[str, Any] | None, signals: dict[str, SignalValue],
                     now: datetime) -> Observation:
        kind, _, ident = group.partition(":")
        if kind == "domain":
            return Observation(NAME, "requester_domain", ident, IdentityKeys(email_domain=ident), signals, now)
        keys = IdentityKeys()
        if org is not None:
            fields = org.get("organization_fields") or {}
            crm_id = fields.get(self.cfg.crm_id_field) if self.cfg.crm_id_field else None
            keys = IdentityKeys(crm_id=str(crm_id) if crm_id else None, external_id=org.get("external_id") or None,
                                domain=org.get("domain"))
        return Observation(NAME, "organization", ident, keys, signals, now)


def _changed(ctx: SourceContext, stream: str, rows: list[Replica]) -> list[Replica]:
    """Rows whose (id, updated_at) the replica does not hold yet: page-edge repeats must not dirty a group."""
    if not rows:
        return rows
    held = {(r.record_id, r.updated_at) for r in ctx.store.replica(NAME, stream, {r.group_key for r in rows
                                                                                    if r.group_key})}
    return [r for r in rows if (r.record_id, r.updated_at) not in held]


# -- record shaping (pure) ------------------------------------------------------------------------------


def organization_row(raw: Mapping[str, Any], now: datetime | None = None) -> Replica | str:
    """The organization as kept in the replica, or why it cannot be used."""
    if not isinstance(raw.get("id"), int):
        return f"organization without a valid id ({raw.get('id')!r:.40})"
    if problem := _oversized(raw):
        return problem
    if _ts(raw.get("updated_at")) is None:
        return f"organization {raw['id']}: updated_at {raw.get('updated_at')!r:.40} is not a timestamp"
    if problem := _future("organization", raw, ("updated_at",), now):
        return problem
    domains = [str(d).strip().lower() for d in raw.get("domain_names") or [] if str(d).strip()]
    payload = {"id": raw["id"], "name": raw.get("name"), "external_id": raw.get("external_id"),
               "domain": domains[0] if domains else None, "domain_names": domains,
               "organization_fields": dict(raw.get("organization_fields") or {})}
    return Replica(str(raw["id"]), f"org:{raw['id']}", payload, _ts(raw["updated_at"]))  # type: ignore[arg-type]


def ticket_row(raw: Mapping[str, Any], metric: Mapping[str, Any] | None,
               emails: Mapping[Any, Any], now: datetime | None = None) -> Replica | str:
    """The ticket as kept in the replica (status, priority, tags, times, resolution), or why not."""
    ident = raw.get("id")
    if not isinstance(ident, int) or isinstance(ident, bool):
        return f"ticket without a valid id ({ident!r:.40})"
    problem = _oversized(raw)
    if problem:
        return problem
    created, updated = _ts(raw.get("created_at")), _ts(raw.get("updated_at"))
    for name, value in (("created_at", created), ("updated_at", updated)):
        if value is None:
            return f"ticket {ident}: {name} {raw.get(name)!r:.40} is not an ISO-8601 timestamp"
    if problem := _future("ticket", raw, ("created_at", "updated_at"), now):
        return problem
    if raw.get("status") not in STATUSES:
        return f"ticket {ident}: unknown status {raw.get('status')!r:.40}"
    org_id = raw.get("organization_id")
    email = str(emails.get(raw.get("requester_id")) or "")
    domain = email.rpartition("@")[2].strip().lower() if "@" in email else None
    if org_id is None and not domain:
        return f"ticket {ident}: no organization and no requester email domain to attribute it to"
    resolution = ((metric or {}).get("full_resolution_time_in_minutes") or {}).get("calendar")
    payload = {"id": ident, "status": raw["status"], "priority": raw.get("priority"),
               "organization_id": org_id, "requester_domain": domain, "tags": list(raw.get("tags") or []),
               "created_at": created.isoformat(), "updated_at": updated.isoformat(),  # type: ignore[union-attr]
               "solved_at": (metric or {}).get("solved_at"), "resolution_minutes": resolution}
    group = f"org:{org_id}" if org_id is not None else f"domain:{domain}"
    return Replica(str(ident), group, payload, updated)  # type: ignore[arg-type]


def ticket_signals(tickets: Iterable[Mapping[str, Any]], now: datetime, unresolved_after_days: int,
                   resolution_window_days: int) -> dict[str, SignalValue]:
    """The ticket signals of one organization (see ``connector.records.SIGNALS``) from replica payloads."""
    unresolved_before = window_start(now, unresolved_after_days)  # whole days: see connector.sources.windows
    solved_since, recent_since = window_start(now, resolution_window_days), window_start(now, ESCALATION_DAYS)
    open_n = unresolved = urgent = escalated = created = 0
    hours: list[float] = []
    for t in tickets:
        status, created_at = t["status"], datetime.fromisoformat(t["created_at"])
        if status == "deleted":
            continue
        if status in OPEN:
            open_n += 1
            unresolved += created_at < unresolved_before
            urgent += t.get("priority") == "urgent"
        if created_at >= recent_since:
            created += 1
            escalated += "escalated" in t.get("tags", ()) or t.get("priority") in ("urgent", "high")
        solved_at = _ts(t.get("solved_at"))
        if status in SOLVED and solved_at and solved_at >= solved_since and t.get("resolution_minutes") is not None:
            hours.append(float(t["resolution_minutes"]) / 60)
    return {
        "tickets_open": float(open_n), "tickets_unresolved_over_n_days": float(unresolved),
        "resolution_hours_median": round(statistics.median(hours), 2) if hours else None,
        "resolution_hours_p90": round(float(np.percentile(hours, 90)), 2) if hours else None,
        "tickets_urgent_open": float(urgent), "tickets_escalated_90d": float(escalated),
        "tickets_created_90d": float(created),
    }


def _ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _future(kind: str, raw: Mapping[str, Any], names: Iterable[str], now: datetime | None) -> str | None:
    """A timestamp more than a day past ``now``: it would sort the record after every later change."""
    for name in names:
        stamp = _ts(raw.get(name))
        if now is not None and stamp is not None and stamp > now + FUTURE_TOLERANCE:
            return f"{kind} {raw.get('id')}: {name} {stamp.isoformat()} is more than a day in the future"
    return None


def _oversized(raw: Mapping[str, Any]) -> str | None:
    for key, value in raw.items():
        if isinstance(value, str) and len(value) > MAX_TEXT:
            return f"record {raw.get('id')}: field {key!r} has {len(value):,} characters (limit {MAX_TEXT:,})"
    return None


def _raw_id(raw: Mapping[str, Any]) -> str | None:
    return None if raw.get("id") is None else str(raw.get("id"))[:64]


def _preview(raw: Mapping[str, Any]) -> dict[str, Any]:
    """What an admin needs to find the record, without megabytes of broken text."""
    return {k: (v[:200] if isinstance(v, str) else v) for k, v in raw.items()
            if k in ("id", "status", "organization_id", "requester_id", "created_at", "updated_at", "subject")}
