"""Usage source: product-usage summaries per account from a CSV file, a Parquet file or a SQL query.

The summaries are already aggregated (one row per account) by an export job or by the warehouse itself:
for ``kind = "sql"`` the configured query runs *in* the warehouse on any SQLAlchemy URL, and only its
result rows come over the wire.  Whatever the kind, rows are streamed in chunks of ``batch_rows`` (the
csv reader, pyarrow record batches, SQLAlchemy ``yield_per``), never loaded whole: a 1M-row export must
not need 1M rows of memory.

Columns are mapped by config: ``account_key_column`` (a CRM id, a domain or an external id, per
``account_key_kind``), ``as_of_column``, and ``signals`` (column → signal).  When the inputs are present
the ratios the success model cares about are derived: ``seat_utilisation`` = active_users /
licensed_seats and ``feature_breadth`` = features_adopted / key_features_total.

A row that cannot be used (bytes that are not UTF-8, a field over the csv module's 131,072-character
limit, no key, a value that is not a plain finite number, negative or outside the signal's plausible
range, an ``as_of`` more than a day in the future or unparseable) is quarantined with its row number
and the reason, and the read goes on.  Timestamps without a timezone are taken as UTC and counted in one
log line per run: warehouse exports routinely write UTC without an offset, and quarantining them would
drop whole files for a convention, not an error.  A file whose size, modification time and content hash
are unchanged since the last run is not read again.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from connector.config import Config, SecretRef, UsageConfig
from connector.numbers import parse_number
from connector.records import IdentityKeys, Observation, Quarantined, SignalValue
from connector.secrets import register, resolve
from connector.sources.base import SourceContext, SourceItem

log = structlog.get_logger(__name__)

NAME = "usage"
FILE = "file"
FUTURE_TOLERANCE = timedelta(days=1)
#: Plausible (smallest non-zero, largest) value per usage signal: outside is an export error (a unit
#: mix-up, a corrupt cell), quarantined rather than scored.  Users, seats and features are counts, so a
#: value between 0 and 1 is one too; zero always means "none yet".  Other signals get the default.
PLAUSIBLE = {"active_users": (1.0, 1e8), "licensed_seats": (1.0, 1e8), "features_adopted": (1.0, 1e5),
             "key_features_total": (1.0, 1e5), "meaningful_events_30d": (1.0, 1e12)}
DEFAULT_PLAUSIBLE = (1e-6, 1e12)
DERIVED = {"seat_utilisation": ("active_users", "licensed_seats"),
           "feature_breadth": ("features_adopted", "key_features_total")}


class UsageSourceError(Exception):
    """The usage input cannot be read as configured (missing file or column, missing pyarrow)."""


class UsageSource:
    """``pull`` streams the configured input and yields an Observation (or Quarantined) per row."""

    name = NAME

    def __init__(self, config: Config):
        if config.usage is None:
            raise ValueError("usage source: the config has no [usage] section")
        self.cfg: UsageConfig = config.usage
        self.config = config

    def pull(self, ctx: SourceContext) -> Iterator[SourceItem]:
        fingerprint: str | None = None
        rows: Iterator[Mapping[str, Any] | _Unreadable]
        if self.cfg.kind == "sql":
            rows = self._sql_rows()
        else:
            path = self.config.resolve(self.cfg.path or Path())
            previous = ctx.store.get_cursor(NAME, FILE)
            fingerprint = file_fingerprint(path, previous)
            if not ctx.full and previous and _sha(fingerprint) == _sha(previous):
                ctx.set_cursor(NAME, FILE, fingerprint)  # touched but unchanged: remember the new mtime
                return
            rows = self._csv_rows(path) if self.cfg.kind == "csv" else self._parquet_rows(path)
        naive = 0
        for number, raw in enumerate(rows, start=1):
            item, was_naive = self._item(number, raw, ctx.now)
            naive += was_naive
            yield item
        if naive:
            log.warning("usage.naive_timestamps", rows=naive, column=self.cfg.as_of_column,
                        note="timestamps without a timezone were taken as UTC; export them with an offset")
        if fingerprint is not None:
            ctx.set_cursor(NAME, FILE, fingerprint)

    def probe(self) -> None:
        """What ``connector check`` asks: the file opens and has the mapped columns (header or schema only),
        or the database answers; raises what a pull would."""
        if self.cfg.kind == "sql":
            from sqlalchemy import create_engine, text

            url = resolve(SecretRef(env=self.cfg.url_env, file=self.cfg.url_file), key="usage.url")
            engine = create_engine(url)
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            finally:
                engine.dispose()
            return
        path = self.config.resolve(self.cfg.path or Path())
        rows = self._csv_rows(path) if self.cfg.kind == "csv" else self._parquet_rows(path)
        next(rows, None)  # opens the file and checks its columns; reads one row at most

    # -- readers (each streams Mapping rows) ----------------------------------------------------------

    def _required(self) -> list[str]:
        cols = [self.cfg.account_key_column, *(s.column for s in self.cfg.signals)]
        return [*cols, self.cfg.as_of_column] if self.cfg.as_of_column else cols

    def _check_columns(self, where: str, available: list[str]) -> None:
        missing = [c for c in self._required() if c not in available]
        if missing:
            raise UsageSourceError(f"usage: {where} has no column {', '.join(repr(c) for c in missing)} "
                                   f"(columns: {', '.join(available) or 'none'}); fix [usage] column names")

    def _csv_rows(self, path: Path) -> Iterator[Mapping[str, Any] | _Unreadable]:
        # surrogateescape: one row with bytes that are not UTF-8 is quarantined by ``_item``, instead of a
        # UnicodeDecodeError failing the whole file.
        with _open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
            lines = _RecordLines(fh)
            reader = csv.DictReader(lines)
            self._check_columns(str(path), list(reader.fieldnames or []))
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:  # e.g. a field over 131,072 characters: that row only
                    lines.skip_rest_of_record()
                    yield _Unreadable(f"is not readable CSV ({exc}); the row was skipped, the rest of the file read")
                    continue
                lines.record_done()
                yield row

    def _parquet_rows(self, path: Path) -> Iterator[Mapping[str, Any]]:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise UsageSourceError('usage: kind = "parquet" needs pyarrow; install it with '
                                   "`pip install 'cs-connector[parquet]'` (or use kind = \"csv\")") from None
        with _open(path, "rb") as fh:
            parquet = pq.ParquetFile(fh)
            self._check_columns(str(path), list(parquet.schema_arrow.names))
            for batch in parquet.iter_batches(batch_size=self.cfg.batch_rows, columns=self._required()):
                yield from batch.to_pylist()

    def _sql_rows(self) -> Iterator[Mapping[str, Any]]:
        from sqlalchemy import create_engine, make_url, text

        url = resolve(SecretRef(env=self.cfg.url_env, file=self.cfg.url_file), key="usage.url")
        if password := make_url(url).password:
            register(str(password))
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                result = conn.execution_options(yield_per=self.cfg.batch_rows).execute(text(self.cfg.query or ""))
                self._check_columns("the usage query's result", list(result.keys()))
                for row in result.mappings():
                    yield dict(row)
        finally:
            engine.dispose()

    # -- one row --------------------------------------------------------------------------------------

    def _item(self, number: int, raw: Mapping[str, Any] | _Unreadable, now: datetime
              ) -> tuple[Observation | Quarantined, bool]:
        if isinstance(raw, _Unreadable):
            return Quarantined(NAME, "usage_row", None, f"row {number}: {raw.reason}", {}), False
        key = _text(raw.get(self.cfg.account_key_column))
        if self.cfg.account_key_kind == "domain" and key:
            key = key.lower().removeprefix("www.")

        def bad(reason: str) -> tuple[Quarantined, bool]:
            ident = _printable(key) if key else key
            return Quarantined(NAME, "usage_row", ident, f"row {number}: {reason}", _preview(raw)), False

        if column := next((str(c) for c, v in raw.items() if _undecodable(c) or _undecodable(v)), None):
            return bad(f"column {_printable(column)!r} is not valid UTF-8 (undecodable bytes replaced by U+FFFD "
                       f"in this report); re-export the file as UTF-8")
        if not key:
            return bad(f"column {self.cfg.account_key_column!r} (the account key) is empty")
        as_of, naive = now, False
        if self.cfg.as_of_column:
            parsed = _timestamp(raw.get(self.cfg.as_of_column))
            if parsed is None:
                return bad(f"column {self.cfg.as_of_column!r} value {raw.get(self.cfg.as_of_column)!r:.40} "
                           "is not an ISO-8601 timestamp")
            as_of, naive = parsed
            if as_of > now + FUTURE_TOLERANCE:
                return bad(f"column {self.cfg.as_of_column!r} is {as_of.isoformat()}, more than a day in the future")
        signals: dict[str, SignalValue] = {}
        for mapped in self.cfg.signals:
            value = raw.get(mapped.column)
            number_value = _number(value, mapped.signal)
            if isinstance(number_value, str):
                return bad(f"column {mapped.column!r} value {value!r:.40} {number_value}")
            signals[mapped.signal] = number_value
        signals.update(derived_ratios(signals))
        keys = IdentityKeys(**{self.cfg.account_key_kind: key})
        return Observation(NAME, "account", key, keys, signals, as_of), naive


def derived_ratios(signals: Mapping[str, SignalValue]) -> dict[str, SignalValue]:
    """seat_utilisation and feature_breadth where both inputs are numbers and the denominator is > 0."""
    out: dict[str, SignalValue] = {}
    for name, (top, bottom) in DERIVED.items():
        num, den = signals.get(top), signals.get(bottom)
        if isinstance(num, float) and isinstance(den, float) and den > 0:
            out[name] = round(num / den, 4)
    return out


def file_fingerprint(path: Path, previous: str | None) -> str:
    """``{size, mtime_ns, sha256}`` of ``path``; the hash is reused when size and mtime are unchanged."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise UsageSourceError(f"usage: cannot read {path} ({exc.strerror}); check [usage] path") from None
    old = json.loads(previous) if previous else {}
    if old.get("size") == stat.st_size and old.get("mtime_ns") == stat.st_mtime_ns:
        return str(previous)
    digest = hashlib.sha256()
    with _open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest.hexdigest()},
                      sort_keys=True)


def _sha(fingerprint: str) -> str | None:
    try:
        return str(json.loads(fingerprint).get("sha256")) or None
    except (ValueError, AttributeError):
        return None


def _open(path: Path, mode: str = "r", **kwargs: Any) -> Any:
    try:
        return path.open(mode, **kwargs)
    except OSError as exc:
        raise UsageSourceError(f"usage: cannot read {path} ({exc.strerror}); check [usage] path") from None


def _text(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def _number(value: Any, signal: str) -> float | str | None:
    """The value as a plausible non-negative float, ``None`` when empty, or why it is unusable (a str)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = parse_number(value)
    except ValueError as exc:
        return str(exc)
    if number < 0:
        return "is negative"
    low, high = PLAUSIBLE.get(signal, DEFAULT_PLAUSIBLE)
    if number > high or 0 < number < low:
        return f"is outside the plausible range for {signal} (0 or {low:g} to {high:g})"
    return number


class _Unreadable:
    """A CSV record the reader refused; quarantined by ``_item`` with this reason."""

    def __init__(self, reason: str):
        self.reason = reason


class _RecordLines:
    """The file's lines for ``csv.reader``, tracking whether the record being read is inside quotes.

    When the reader refuses a record (a field over the size limit), the rest of that record must be
    skipped too: if the bad field is quoted and spans lines, its remaining lines would otherwise be read
    as rows of their own.  A record ends where its quotes balance (``""`` escapes count twice).
    """

    def __init__(self, fh: Iterator[str]):
        self.fh, self.open_quote = fh, False

    def __iter__(self) -> _RecordLines:
        return self

    def __next__(self) -> str:
        line = next(self.fh)
        if line.count('"') % 2:
            self.open_quote = not self.open_quote
        return line

    def record_done(self) -> None:
        self.open_quote = False

    def skip_rest_of_record(self) -> None:
        while self.open_quote:
            try:
                next(self)
            except StopIteration:
                break
        self.open_quote = False


def _timestamp(value: Any) -> tuple[datetime, bool] | None:
    """``(aware datetime, was_naive)``; a value without a timezone is taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC), True
    return parsed, False


def _undecodable(value: Any) -> bool:
    """A str read with ``surrogateescape`` that held bytes which are not UTF-8."""
    return isinstance(value, str) and any("\udc80" <= ch <= "\udcff" for ch in value)


def _printable(text: str) -> str:
    """``text`` with undecodable bytes as U+FFFD: lone surrogates cannot be stored or logged."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _preview(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {_printable(str(k)[:64]): (_printable(v[:200]) if isinstance(v, str) else v)
            for k, v in list(raw.items())[:20]}
