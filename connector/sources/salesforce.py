"""Salesforce source: Accounts (the spine, when Salesforce is the primary CRM) and their CRM signals.

Two incremental streams, Account and Contact, each read by ``SystemModstamp`` with an ``Id`` tie-break:
``SystemModstamp > t OR (SystemModstamp = t AND Id > last_id)`` ordered by both, so rows sharing a
timestamp at a page edge are neither skipped nor re-read.  Each page goes to the replica and moves the
stream's cursor in the same transaction; accounts touched by either stream are marked dirty and rebuilt
from the replica (contacts give the champion and opt-out signals).  A pull with nothing new costs one
probe query per stream.

Every value placed in SOQL goes through :func:`soql_quote` / :func:`soql_datetime`, and every field name
from the mapping through :func:`soql_identifier`: names, domains and config are data, never syntax.
When HubSpot is the primary CRM, only identity observations (external id, domain) are emitted so the
sink can find the Salesforce record of each account; the primary CRM owns the CRM signals.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from simple_salesforce.exceptions import SalesforceMalformedRequest

from connector.clients.salesforce import (
    LIVE_MARK,
    SalesforceClient,
    parse_sf_datetime,
    soql_datetime,
    soql_identifier,
    soql_quote,
)
from connector.config import Config, ConfigError, SalesforceConfig
from connector.mappings import load_mapping
from connector.numbers import is_plain_number
from connector.records import Account, IdentityKeys, Observation, Quarantined, SignalValue
from connector.sources.base import SourceContext, SourceItem
from connector.store import Replica

SOURCE = "salesforce"
ACCOUNT_ATTRIBUTES = ("segment", "contract_start", "renewal_date", "external_id")
CONTACT_KEYS = ("champion", "champion_since")
NUMERIC_SIGNALS = ("arr", "training_completed", "upsells_taken", "nps")
FLAG_SIGNALS = ("services_purchased", "advocacy", "churned")
TEXT_LIMIT = 1000  # longer text in a signal field is a data-entry accident, not a reason
CHAMPION_WINDOW = timedelta(days=90)
DAY = "signals_day"
_CHUNK = 500


def domain_of(website: str | None) -> str | None:
    """``https://www.Acme.com/about`` → ``acme.com``."""
    if not website or not isinstance(website, str):
        return None
    host = re.sub(r"^[a-z]+://", "", website.strip().lower()).split("/")[0].split(":")[0]
    host = host.removeprefix("www.")
    return host or None


class SalesforceSource:
    """Pulls Accounts and Contacts incrementally; see the module docstring for the state semantics."""

    name = SOURCE

    def __init__(self, config: Config):
        if config.salesforce is None:
            raise ConfigError("<config>", [("salesforce", "the Salesforce source needs a [salesforce] section")])
        self.config, self.sf_config = config, config.salesforce
        self.fields = _source_fields(config, self.sf_config)
        self.written = _written_fields(config, self.sf_config)

    def pull(self, ctx: SourceContext) -> Iterator[SourceItem]:
        client = SalesforceClient(self.sf_config, ctx.http)
        account_cols = ["Id", "Name", "Website", "OwnerId", "SystemModstamp",
                        *(v for k, v in self.fields.items() if k not in CONTACT_KEYS)]
        contact_cols = ["Id", "AccountId", "HasOptedOutOfEmail", "SystemModstamp",
                        self.fields["champion"], self.fields["champion_since"]]
        try:
            yield from self._stream(client, ctx, "Account", [*account_cols, *self.written], "Id")
        except SalesforceMalformedRequest as exc:  # the sink's fields are not created yet (before `setup`)
            if not self.written or "INVALID_FIELD" not in str(exc.content):
                raise
            yield from self._stream(client, ctx, "Account", account_cols, "Id")
        else:
            if self.written:
                ctx.store.set_cursor(SOURCE, LIVE_MARK, ctx.now.isoformat())
        yield from self._stream(client, ctx, "Contact", contact_cols, "AccountId")
        yield from self._rebuild(ctx)

    # -- incremental streams -----------------------------------------------------------------------------

    def _stream(self, client: SalesforceClient, ctx: SourceContext, obj: str, columns: list[str],
                group_field: str) -> Iterator[Quarantined]:
        cursor = None if ctx.full else ctx.store.get_cursor(SOURCE, obj)
        soql = f"SELECT {', '.join(dict.fromkeys(columns))} FROM {obj}"
        if cursor:
            last = json.loads(cursor)
            stamp = soql_datetime(parse_sf_datetime(last["ts"]))
            soql += (f" WHERE SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > "
                     f"{soql_quote(last['id'])})")
        soql += " ORDER BY SystemModstamp, Id"
        for page in client.query_pages(soql):
            keep: list[Replica] = []
            for row in page:
                problem = self._problem(obj, row)
                if problem:
                    yield Quarantined(SOURCE, obj.lower(), row.get("Id"), problem, _clip(row))
                elif row.get(group_field):
                    keep.append(Replica(row["Id"], row[group_field], row,
                                        parse_sf_datetime(row["SystemModstamp"])))
            edge = next((r for r in reversed(page) if r.get("Id") and _is_datetime(r.get("SystemModstamp"))), None)
            new_cursor = json.dumps({"ts": edge["SystemModstamp"], "id": edge["Id"]}) if edge else None
            ctx.store.upsert_replica(SOURCE, obj, keep, cursor=new_cursor)

    def _problem(self, obj: str, row: Mapping[str, Any]) -> str | None:
        """Why ``row`` cannot be used (names the field), or None."""
        if not row.get("Id"):
            return f"{obj} without an Id"
        if not _is_datetime(row.get("SystemModstamp")):
            return f"{obj} {row['Id']}: SystemModstamp is not a datetime"
        if obj == "Contact":
            return None
        name = row.get("Name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            return f"Account {row['Id']}: Name is missing or longer than 255 characters"
        for key, field in self.fields.items():
            value = row.get(field)
            if value is None:
                continue
            if key in NUMERIC_SIGNALS and not is_plain_number(value):
                return f"Account {row['Id']}: field {field} ({key}) should be a number, got {str(value)[:40]!r}"
            if key in FLAG_SIGNALS and not isinstance(value, bool):
                return f"Account {row['Id']}: field {field} ({key}) should be a checkbox, got {str(value)[:40]!r}"
            if key in ("contract_start", "renewal_date") and not _is_date(value):
                return f"Account {row['Id']}: field {field} ({key}) should be a date, got {str(value)[:40]!r}"
            if isinstance(value, str) and len(value) > TEXT_LIMIT:
                return f"Account {row['Id']}: field {field} ({key}) holds {len(value)} characters (max {TEXT_LIMIT})"
        return None

    # -- per-account records -----------------------------------------------------------------------------

    def _rebuild(self, ctx: SourceContext) -> Iterator[SourceItem]:
        """Accounts whose records changed, and every account on the first run of a day.

        The daily pass is what Stripe does for the same reason: ``champion_changed_90d`` is a window that
        moves with the calendar, and a signal's age must say when the CRM was last read, not when a record
        last changed.  It also keeps a same-day re-run still: the connector's own field writes bump
        ``SystemModstamp``, and re-reading those records later the same day changes no signal's age.
        """
        today = ctx.now.date().isoformat()
        if ctx.store.get_cursor(SOURCE, DAY) != today:
            dirty = sorted({r.record_id for r in ctx.store.replica(SOURCE, "Account")})
        else:
            dirty = sorted(ctx.store.dirty_groups(SOURCE, "Account") | ctx.store.dirty_groups(SOURCE, "Contact"))
        yield from self._rebuild_accounts(ctx, dirty)
        ctx.set_cursor(SOURCE, DAY, today)

    def _rebuild_accounts(self, ctx: SourceContext, dirty: list[str]) -> Iterator[SourceItem]:
        primary = ctx.config.connector.primary_crm == SOURCE
        for start in range(0, len(dirty), _CHUNK):
            chunk = dirty[start:start + _CHUNK]
            accounts = {r.record_id: r.payload for r in ctx.store.replica(SOURCE, "Account", chunk)}
            contacts: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for r in ctx.store.replica(SOURCE, "Contact", chunk):
                contacts[r.group_key or ""].append(r.payload)
            for account_id in chunk:
                row = accounts.get(account_id)
                if row is None:
                    continue
                if primary:
                    yield self._account(row)
                yield self._observation(row, contacts.get(account_id, []), ctx.now, primary)
            ctx.clear_dirty(SOURCE, "Account", chunk)
            ctx.clear_dirty(SOURCE, "Contact", chunk)

    def _account(self, row: Mapping[str, Any]) -> Account:
        f = self.fields
        arr = row.get(f["arr"])
        return Account(
            account_id=row["Id"], system="salesforce", name=row["Name"], domain=domain_of(row.get("Website")),
            external_id=row.get(f["external_id"]), owner_id=row.get("OwnerId"), segment=row.get(f["segment"]),
            contract_start=_date(row.get(f["contract_start"])), renewal_date=_date(row.get(f["renewal_date"])),
            arr=float(arr) if arr is not None else None, updated_at=parse_sf_datetime(row["SystemModstamp"]))

    def _observation(self, row: Mapping[str, Any], contacts: list[dict[str, Any]], now: datetime,
                     primary: bool) -> Observation:
        f = self.fields
        external_id = row.get(f["external_id"])
        domain = domain_of(row.get("Website"))
        if not primary:
            keys = IdentityKeys(external_id=external_id, domain=domain)
            return Observation(SOURCE, "account", row["Id"], keys, {}, now)
        signals: dict[str, SignalValue] = {}
        for key in NUMERIC_SIGNALS:
            value = row.get(f[key])
            signals[key] = float(value) if value is not None else None
        for key in FLAG_SIGNALS:
            value = row.get(f[key])
            signals[key] = None if value is None else float(bool(value))
        signals["churn_reason"] = row.get(f["churn_reason"])
        signals.update(self._contact_signals(contacts, now))
        keys = IdentityKeys(crm_id=row["Id"], external_id=external_id, domain=domain)
        return Observation(SOURCE, "account", row["Id"], keys, signals, now)

    def _contact_signals(self, contacts: Iterable[Mapping[str, Any]], now: datetime) -> dict[str, SignalValue]:
        """Champion changed in 90 days; email opt-out of the champions (of everyone when none is named)."""
        people = list(contacts)
        champions = [c for c in people if c.get(self.fields["champion"]) is True]
        since = [_date(c.get(self.fields["champion_since"])) for c in champions]
        changed = any(d is not None and d >= (now - CHAMPION_WINDOW).date() for d in since)
        watched = champions or people
        opted_out = bool(watched) and (any if champions else all)(c.get("HasOptedOutOfEmail") is True
                                                                 for c in watched)
        return {"champion_changed_90d": float(changed), "email_opt_out": float(opted_out)}


def _written_fields(config: Config, sf: SalesforceConfig) -> list[str]:
    """The Account fields the Salesforce sink writes, read along with the signals (same calls): the sink
    checks them for drift against this read instead of reading the records again (see :data:`LIVE_MARK`)."""
    if not sf.write:
        return []
    mapping = load_mapping(config.resolve(sf.mapping))
    if str(mapping.setting("object", "Account")) != "Account":
        return []
    return [soql_identifier(name) for name in mapping.remote_fields()]


def _source_fields(config: Config, sf: SalesforceConfig) -> dict[str, str]:
    """The ``[source]`` table, checked: known keys only, plain field names only."""
    path = config.resolve(sf.mapping)
    table = load_mapping(path).source
    known = set(ACCOUNT_ATTRIBUTES) | set(CONTACT_KEYS) | set(NUMERIC_SIGNALS) | set(FLAG_SIGNALS) | {
        "churn_reason"}
    problems = [(f"source.{k}", f"unknown key; expected one of {sorted(known)}") for k in table if k not in known]
    problems += [(f"source.{k}", "missing") for k in sorted(known - set(table))]
    for key, value in table.items():
        try:
            soql_identifier(str(value))
        except ValueError as exc:
            problems.append((f"source.{key}", str(exc)))
    if problems:
        raise ConfigError(path, problems)
    return {k: str(v) for k, v in table.items()}


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return parse_sf_datetime(value).tzinfo is not None
    except ValueError:
        return False


def _is_date(value: Any) -> bool:
    return _date(value) is not None


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _clip(row: Mapping[str, Any]) -> dict[str, Any]:
    """The record for the quarantine table, with huge strings cut so one bad row cannot bloat the store."""
    return {k: (v[:200] + "…" if isinstance(v, str) and len(v) > 200 else v) for k, v in row.items()}
