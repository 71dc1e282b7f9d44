"""HubSpot companies → Accounts (when HubSpot is the primary CRM) or identity-only Observations.

Reading strategy, and why:

* **First read (or ``ctx.full``)**: the list endpoint, 100 per page, id order.  It has no result cap,
  whereas search stops at 10,000 results (400 past it).  The cursor is written only after the last page,
  because id order says nothing about modification times.
* **Incremental**: search on ``hs_lastmodifieddate`` ascending, 200 per page, *keyset* paging: each page
  starts again from the last modification time seen (``GTE``) instead of paging with ``after``.  Every
  query therefore stays far below the 10,000-result ceiling however many companies changed, and a record
  modified mid-read cannot shift a later one out of the window.  Records that share the boundary instant
  are recognised in the replica (same id, same ``updatedAt``) and not yielded again, so a pull with no
  changes costs one probe call.  If one page is entirely one instant, that instant is read alone with
  ``EQ`` and ``after`` paging (and, beyond the cap, by a full list read).
* The properties the sink writes are read too (same calls), so the sink's drift check needs no read of
  its own (:data:`LIVE_MARK`).
* Pages land in the replica with the cursor in the same transaction; records are then yielded from the
  dirty replica rows and the marks cleared (see :mod:`connector.sources.base`).

Field names come from ``[source]`` in ``mappings/hubspot.toml``: plain keys are signals, ``[source.account]``
are Account attributes, ``[source.recent_90d]`` are dates turned into 0/1 "within 90 days" signals.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connector.clients.hubspot import LIVE_MARK, HubSpotClient
from connector.config import Config
from connector.mappings import Mapping as FieldMap
from connector.mappings import load_mapping
from connector.numbers import parse_number
from connector.records import Account, IdentityKeys, Observation, Quarantined, SignalValue
from connector.sources.base import SourceContext, SourceItem
from connector.store import Replica, Store

NAME, STREAM = "hubspot", "companies"
MODIFIED = "hs_lastmodifieddate"
LIST_PAGE, SEARCH_PAGE = 100, 200  # endpoint maxima
SEARCH_CAP = 10_000  # https://developers.hubspot.com/docs/guides/api/crm/search#limitations
#: A property value longer than this is a broken record, not data: it would end up in task subjects and
#: logs.  (64 KiB, the largest text value the connector's other sources accept too.)
MAX_TEXT = 65_536
#: Modification times come from HubSpot's clock: a week ahead of ours is not skew but a broken record.
FUTURE_TOLERANCE = timedelta(days=7)
TEXT_SIGNALS = frozenset({"churn_reason", "competitor_names", "subscription_status"})
_BOOL = {"true": 1.0, "false": 0.0}


class HubSpotSource:
    name = NAME

    def __init__(self, config: Config, *, search_cap: int = SEARCH_CAP):
        self.config, self.search_cap = config, search_cap

    def pull(self, ctx: SourceContext) -> Iterator[SourceItem]:
        cfg = ctx.config.hubspot
        if cfg is None:
            return
        mapping = load_mapping(ctx.config.resolve(cfg.mapping))
        client = HubSpotClient(cfg, ctx.http)
        written = [fm.name for fm in mapping.fields.values()] if cfg.write else []
        reader = _Reader(client, ctx.store, _properties(mapping) + written, self.search_cap, ctx.now)
        cursor = None if ctx.full else ctx.store.get_cursor(NAME, STREAM)
        if cursor is None:
            reader.full()
        else:
            reader.incremental(datetime.fromisoformat(cursor))
        if written:
            ctx.store.set_cursor(NAME, LIVE_MARK, ctx.now.isoformat())
        yield from reader.rejected
        primary = ctx.config.connector.primary_crm == NAME
        dirty = ctx.store.dirty_groups(NAME, STREAM)
        for row in ctx.store.replica(NAME, STREAM, dirty):
            yield from to_records(row, mapping, primary, ctx.now)
        ctx.clear_dirty(NAME, STREAM, dirty)


class _Reader:
    """Pages companies into the replica; holds the one client and the property list of a pull."""

    def __init__(self, client: HubSpotClient, store: Store, properties: list[str], search_cap: int, now: datetime):
        self.client, self.store, self.properties, self.cap = client, store, properties, search_cap
        self.latest = now + FUTURE_TOLERANCE
        #: Records kept out of the replica (and of the cursor), with the reason; yielded after the read.
        self.rejected: list[Quarantined] = []

    def rows(self, results: list[Any], call: str) -> list[Replica]:
        """Replica rows of one page.  A record whose modification time is unreadable or in the future is
        rejected: it would move the cursor past every later change.  An id repeated within the page keeps
        its newest copy and reports the other."""
        rows: dict[str, Replica] = {}
        for result in results:
            row = _replica(result, self.latest)
            if isinstance(row, str):
                self.rejected.append(Quarantined(NAME, "company", str(result.id), row, _preview(result)))
                continue
            held = rows.get(row.record_id)
            if held is not None:
                older, row = sorted((held, row), key=lambda r: r.updated_at)
                self.rejected.append(Quarantined(
                    NAME, "company", row.record_id,
                    f"company {row.record_id} appears twice in one page of `{call}`; kept the copy modified at "
                    f"{row.updated_at.isoformat()}, not the one at {older.updated_at.isoformat()}", _preview(result)))
            rows[row.record_id] = row
        return list(rows.values())

    def full(self) -> None:
        after: str | None = None
        newest: datetime | None = None
        while True:
            page = self.client.call("list companies", self.client.crm.companies.basic_api.get_page,
                                    limit=LIST_PAGE, after=after, properties=self.properties)
            rows = self.rows(page.results, "list companies")
            self.store.upsert_replica(NAME, STREAM, rows)
            newest = max([r.updated_at for r in rows] + ([newest] if newest else []), default=None)
            after = page.paging.next.after if page.paging and page.paging.next else None
            if after is None:
                break
        if newest is not None:
            self.store.set_cursor(NAME, STREAM, newest.isoformat())

    def incremental(self, since: datetime) -> None:
        lower, operator = since, "GTE"
        while True:
            page = self._search(lower, operator, after=None)
            self._store_new(page.results)
            if not (page.paging and page.paging.next):
                return
            last = _modified(page.results[-1]) or lower
            if last > self.latest:  # the rest is dated in the future: rejected, and no cursor can pass it
                return
            if last == lower:  # a whole page at one instant: read that instant alone, then move past it
                if not self._read_instant(lower):
                    self.full()
                    return
                operator = "GT"
                continue
            lower, operator = last, "GTE"

    def _read_instant(self, instant: datetime) -> bool:
        """All companies modified at exactly ``instant`` by offset paging; False if past the search cap."""
        after: str | None = None
        while True:
            page = self._search(instant, "EQ", after)
            self._store_new(page.results)
            after = page.paging.next.after if page.paging and page.paging.next else None
            if after is None:
                return True
            if int(after) >= self.cap:
                return False

    def _search(self, value: datetime, operator: str, after: str | None) -> Any:
        request = {"filterGroups": [{"filters": [{"propertyName": MODIFIED, "operator": operator,
                                                  "value": str(int(value.timestamp() * 1000))}]}],
                   "sorts": [{"propertyName": MODIFIED, "direction": "ASCENDING"}],
                   "properties": self.properties, "limit": SEARCH_PAGE}
        if after is not None:
            request["after"] = after
        return self.client.call("search companies", self.client.crm.companies.search_api.do_search, request)

    def _store_new(self, results: list[Any]) -> None:
        """Upsert records not already in the replica at the same modification time; move the cursor."""
        if not results:
            return
        known = {r.record_id: r.updated_at for r in self.store.replica(NAME, STREAM, [r.id for r in results])}
        rows = self.rows(results, "search companies")
        fresh = [r for r in rows if known.get(r.record_id) != r.updated_at]
        cursor = max(r.updated_at for r in rows).isoformat() if rows else None
        self.store.upsert_replica(NAME, STREAM, fresh, cursor=cursor)


def _modified(result: Any) -> datetime | None:
    """``hs_lastmodifieddate`` (or the record's ``updatedAt``); ``None`` when it is not an aware timestamp."""
    raw = (result.properties or {}).get(MODIFIED)
    if not raw:
        return result.updated_at if isinstance(result.updated_at, datetime) else None
    try:
        parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _replica(result: Any, latest: datetime) -> Replica | str:
    """The replica row of one company, or why it cannot be kept (naming the property)."""
    props = dict(result.properties or {})
    modified = _modified(result)
    if modified is None:
        return f"property `{MODIFIED}` {str(props.get(MODIFIED))[:40]!r} is not a timestamp with a time zone"
    if modified > latest:
        return f"property `{MODIFIED}` is {modified.isoformat()}, more than a day in the future"
    if long := next((k for k, v in props.items() if isinstance(v, str) and len(v) > MAX_TEXT), None):
        return f"property `{long}` has {len(props[long]):,} characters (limit {MAX_TEXT:,})"
    return Replica(str(result.id), str(result.id), props, modified)


def _preview(result: Any) -> dict[str, Any]:
    """Enough to find the company in HubSpot, without megabytes of text."""
    props = result.properties or {}
    return {k: str(props[k])[:200] for k in ("name", "domain", MODIFIED) if props.get(k) is not None}


def _properties(mapping: FieldMap) -> list[str]:
    source = mapping.source
    names = ["name", "domain", "hubspot_owner_id", MODIFIED]
    names += [v for v in source.values() if isinstance(v, str)]
    for table in ("account", "recent_90d"):
        names += list((source.get(table) or {}).values())
    return list(dict.fromkeys(names))


def to_records(row: Replica, mapping: FieldMap, primary: bool, now: datetime) -> Iterator[SourceItem]:
    """One replica row → Account + Observation (primary) or an identity Observation; Quarantined if unusable."""
    props, account_map = row.payload, mapping.source.get("account") or {}
    try:
        signals = _signals(props, mapping.source, now) if primary else {}
        attrs = _account_attributes(props, account_map)
    except ValueError as exc:
        yield Quarantined(NAME, "company", row.record_id, str(exc), props)
        return
    domain, external_id = props.get("domain") or None, attrs.get("external_id")
    if primary:
        if not (props.get("name") or "").strip():
            yield Quarantined(NAME, "company", row.record_id, "company has no name (property `name` is empty)", props)
            return
        yield Account(row.record_id, "hubspot", props["name"].strip(), domain, external_id,
                      props.get("hubspot_owner_id") or None, attrs.get("segment"), attrs.get("contract_start"),
                      attrs.get("renewal_date"), attrs.get("arr"), row.updated_at)
        keys = IdentityKeys(crm_id=row.record_id, external_id=external_id, domain=domain)
    elif not (domain or external_id):
        yield Quarantined(NAME, "company", row.record_id,
                          "company has neither `domain` nor the external id property: it cannot be matched", props)
        return
    else:
        keys = IdentityKeys(external_id=external_id, domain=domain)
    yield Observation(NAME, "company", row.record_id, keys, signals, row.updated_at)


def _signals(props: Mapping[str, Any], source: Mapping[str, Any], now: datetime) -> dict[str, SignalValue]:
    signals: dict[str, SignalValue] = {}
    for signal, prop in source.items():
        if isinstance(prop, str) and props.get(prop) not in (None, ""):
            signals[signal] = _signal_value(signal, prop, str(props[prop]))
    for signal, prop in (source.get("recent_90d") or {}).items():
        if props.get(prop):
            changed = _date(prop, props[prop])
            signals[signal] = 1.0 if changed >= (now - timedelta(days=90)).date() else 0.0
    return signals


def _signal_value(signal: str, prop: str, raw: str) -> SignalValue:
    if signal in TEXT_SIGNALS:
        return raw
    if raw.lower() in _BOOL:
        return _BOOL[raw.lower()]
    try:
        return parse_number(raw)
    except ValueError as exc:
        raise ValueError(f"property `{prop}` (signal {signal}) should be a number, got {raw[:40]!r}: {exc}") from None


def _account_attributes(props: Mapping[str, Any], account_map: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr, prop in account_map.items():
        raw = props.get(prop)
        if raw in (None, ""):
            continue
        if attr in ("contract_start", "renewal_date"):
            out[attr] = _date(prop, raw)
        elif attr == "arr":
            out[attr] = float(_signal_value("arr", prop, str(raw)) or 0.0)
        else:
            out[attr] = str(raw).strip()
    return out


def _date(prop: str, raw: Any) -> date:
    text = str(raw)
    try:
        if text.isdigit():  # HubSpot also hands dates out as midnight-UTC epoch milliseconds
            return datetime.fromtimestamp(int(text) / 1000, UTC).date()
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"property `{prop}` should be a date (YYYY-MM-DD), got {text[:40]!r}") from None
