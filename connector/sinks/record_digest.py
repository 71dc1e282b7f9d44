"""A record's owned values, as a diff would send them, in 32 hex characters: the diff's fast path.

Why: a daily full pass diffs every record against its last confirmed values.  At a million records,
reading each record's written values (a JSON object), parsing it and comparing a dozen formatted fields
was 25–30 s of connector CPU, although on most days nearly every record had nothing to send.

What a stored digest promises (``written_records.digest``): it is the digest of the new values of a diff
that, against that record's written values as they stand, left nothing to send — they matched, or what
differed was sent and confirmed.  It is stored only then (:func:`~connector.sinks.base.stream_changes`
settles the records it found quiet; a sink passes the digests of the records the CRM confirmed whole), and
any other write of the record's values clears it (:meth:`Store.record_written` without a digest; a field
held back for a person's edit sends the record without its digest).  So an equal digest proves the diff
would find nothing, and the record's written values need not be read; a different or missing digest
runs the diff as before.

The digest covers the mapped fields except the volatile ones (which never cause a write on their own),
each formatted and encoded exactly as the diff sends it (``''`` and null stay distinct here: the digest
is of what would be sent, not of what compares equal), and the mapping itself: another field, name or
type gives every record another digest, so a changed mapping re-diffs every record once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import repeat
from typing import Any

from connector.mappings import FieldMapping
from connector.mappings import Mapping as FieldMap
from connector.sinks.field_values import TEXT_CAPS, format_value, volatile_fields
from connector.store import encode_value

#: Bumped when what a digest covers changes: every record is diffed in full once, then settles again.
DIGEST_VERSION = 1
#: Distinct values remembered per field: repeating values (stages, bands, dates) are formatted once, and
#: the per-account texts (drivers, reasons) do not grow the cache without bound.
_CACHE_LIMIT = 4096
#: Field types whose text of a float is the same for 0.0 and -0.0 (both are sent as "0"), so floats can be
#: cached by value (``0.0 == -0.0`` as keys) — a vector rounded to a tenth repeats across accounts.
_NUMERIC = frozenset({"number", "percent", "integer"})
#: The kinds of value a number field's column holds (``of_columns`` encodes them once per distinct value).
_NUMBERS = frozenset({float, int, bool, type(None)})
#: What the encoded values of a mapped output the account's outputs lack (the diff skips it) stand for.
_ABSENT = ...


class RecordDigest:
    """The digest of a record's new values under one mapping (see the module docstring)."""

    def __init__(self, mapping: FieldMap) -> None:
        volatile = volatile_fields(mapping)
        fields = [(canonical, fm) for canonical, fm in mapping.fields.items() if fm.name not in volatile]
        # Options left unset are left out, so a mapping that does not use a newer option (``step``) keeps
        # the digests it had: an upgrade re-diffs only the records of mappings that changed.
        header = repr((DIGEST_VERSION, [(canonical, fm.model_dump(exclude_none=True)) for canonical, fm in fields]))
        self._base = hashlib.blake2b(header.encode(), digest_size=16)
        self._fields: list[tuple[str, FieldMapping, int, bool, dict[tuple[type, Any], str | None]]] = [
            (canonical, fm, TEXT_CAPS.get(fm.type, 0), fm.type in _NUMERIC, {}) for canonical, fm in fields]

    def of(self, given: Mapping[str, Any]) -> str:
        """The digest of an account's outputs (``AccountOutput.fields``) as this mapping sends them: the
        encoded values in the mapping's order, as one ``repr`` (a list of texts and nulls reads back
        one way only), hashed.  An output table's rows are digested a block at a time instead
        (:meth:`of_columns`); this is the path of outputs made one by one."""
        get = given.get
        return self._hashed([value if (value := get(canonical, _ABSENT)) is _ABSENT
                             else self.of_value(value, fm, cap, numeric, cache)
                             for canonical, fm, cap, numeric, cache in self._fields])

    def of_columns(self, columns: Mapping[str, Sequence[Any]], n: int) -> list[str] | None:
        """:meth:`of` of each of ``n`` rows given as columns (an output table's block), made a field at a
        time: a daily full pass digests every record of every sink, and per record that was ~20 µs of
        field-by-field Python.  None when a digested column holds a date and time: a sink's ``prepare``
        may change those (Salesforce keeps seconds), so their records are digested one by one."""
        made: list[Iterable[Any]] = []
        for canonical, fm, cap, numeric, cache in self._fields:
            values = columns.get(canonical)
            if values is None:  # an output the outputs lack: as ``of`` encodes a missing key
                made.append(repeat(_ABSENT, n))
                continue
            kinds = set(map(type, values))
            if any(issubclass(kind, datetime) for kind in kinds):
                return None
            if cap and kinds <= {str, type(None)}:
                made.append([v if v is None or len(v) <= cap else v[:cap] for v in values])
            elif numeric and kinds <= _NUMBERS:  # numbers equal as keys are sent alike: once per distinct value
                encoded = {v: self.of_value(v, fm, cap, numeric, cache) for v in set(values)}
                made.append([encoded[v] for v in values])
            else:
                made.append([self.of_value(v, fm, cap, numeric, cache) for v in values])
        return [self._hashed(list(row)) for row in zip(*made, strict=True)]

    def _hashed(self, encoded: list[Any]) -> str:
        """The digest of one record's encoded values, in the mapping's order."""
        digest = self._base.copy()
        digest.update(repr(encoded).encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    @staticmethod
    def of_value(value: Any, fm: FieldMapping, cap: int, numeric: bool, cache: dict[tuple[type, Any], str | None]
                 ) -> Any:
        """One value as the digest encodes it: None as it is; a text up to its field's cap (what
        format_value keeps, and encode_value keeps a text); anything else formatted and encoded, once per
        distinct value where values can be told apart (0.0 == -0.0 as keys: a text field writes them
        apart, so its floats are made each time)."""
        if value is None:
            return None
        kind = type(value)
        if kind is str and cap:
            return value if len(value) <= cap else value[:cap]
        if kind is float and not numeric:
            return encode_value(format_value(value, fm))
        try:
            made = cache.get((kind, value), _ABSENT)
        except TypeError:
            return encode_value(format_value(value, fm))
        if made is _ABSENT:
            made = encode_value(format_value(value, fm))
            if len(cache) < _CACHE_LIMIT:
                cache[(kind, value)] = made
        return made
