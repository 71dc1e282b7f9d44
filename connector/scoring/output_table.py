"""Every account's outputs, made once per run and kept as plain columns, so the scoring result can go.

The score history and each sink (three at once) read every account's outputs.  Made on demand from the
:class:`~connector.scoring.result.ScoringResult`, an account's fields were computed once per reader, and
the result — the engine's (inputs × accounts) matrices, the trend sums, the inputs' signal columns, about
250 MB at 100k accounts — stayed alive through the whole write stage only to be read for these few fields.
This table is filled as the score history is written, one list per field, and is all the sinks need: the
sync lets the result go once the engine states are saved.

Values that repeat across accounts (stage names, bands, flags, dates, the digital next action) are kept
once per table.  Numbers are not: ``1 == 1.0 == True`` and ``0.0 == -0.0`` as dict keys, so sharing them
could change what a field is written as.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, overload

from connector.records import AccountOutput

if TYPE_CHECKING:
    from connector.sinks.record_digest import RecordDigest

#: Fields whose text is made anew for nearly every account: sharing them would only cost a dict entry each.
_UNIQUE = frozenset({"vector_drivers", "priority_reason"})
#: Fields a block of columns makes per account although they repeat (see :meth:`OutputTable.extend`).
_SHARED_PER_ROW = frozenset({"next_action"})
#: Rows whose record digests are made at once (:meth:`OutputTable.record_digest`).
DIGEST_BLOCK = 4096


class RowFields(Mapping[str, Any]):
    """One row of an :class:`OutputTable` as a read-only mapping of its fields, read from the columns
    when asked.

    Why: every sink reads every account's outputs on a full pass (three sinks at once), and a dict of ~18
    fields made per account per sink was ~8 µs each time, although the diff of a record whose digest is
    unchanged reads no field at all (:meth:`OutputTable.record_digest`).  ``seconds``: dates and times
    read to the second (what Salesforce keeps; see ``SalesforceSink.prepare``)."""

    __slots__ = ("_row", "_seconds", "_table")

    def __init__(self, table: OutputTable, row: int, seconds: bool = False) -> None:
        self._table, self._row, self._seconds = table, row, seconds

    def __getitem__(self, key: str) -> Any:
        value = self._table._columns[self._table._index[key]][self._row]
        if self._seconds and isinstance(value, datetime):
            return value.replace(microsecond=0)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._table._index else default

    def __contains__(self, key: object) -> bool:
        return key in self._table._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._table._keys or ())

    def __len__(self) -> int:
        return len(self._table._keys or ())

    def __repr__(self) -> str:
        return repr(dict(self))

    def to_the_second(self) -> RowFields:
        """The same row with its dates and times to the second."""
        return RowFields(self._table, self._row, seconds=True)


class OutputTable(Sequence[AccountOutput]):
    """Accounts' outputs in the order they were added; items are made when read, their fields read from
    the columns (:class:`RowFields`)."""

    def __init__(self) -> None:
        self._keys: tuple[str, ...] | None = None
        self._index: dict[str, int] = {}  # field name → its column
        self._columns: list[list[Any]] = []
        self._ids: list[str] = []
        self._owners: list[str | None] = []
        self._domains: list[str | None] = []
        self._names: list[str | None] = []
        self._shared: dict[tuple[type, Any], Any] = {}
        #: Per record digest (one per sink's mapping): the block of rows its digests were last made for.
        self._digests: dict[Any, tuple[int, list[str] | None]] = {}

    @classmethod
    def of(cls, outputs: Iterable[AccountOutput]) -> OutputTable:
        table = cls()
        for output in outputs:
            table.add(output)
        return table

    def add(self, output: AccountOutput) -> AccountOutput:
        """Keep ``output`` (every account's fields have the same names, in the same order); returns it."""
        keys = tuple(output.fields)
        if self._keys is None:
            self._keys = keys
            self._index = {k: i for i, k in enumerate(keys)}
            self._columns = [[] for _ in keys]
        elif keys != self._keys:
            raise ValueError(f"output fields of {output.account_id} differ from the table's: {keys}")
        for key, column, value in zip(keys, self._columns, output.fields.values(), strict=True):
            column.append(value if key in _UNIQUE else self._share(value))
        self._ids.append(output.account_id)
        self._owners.append(self._share(output.owner_id))
        self._domains.append(output.domain)
        self._names.append(output.name)
        return output

    def extend(self, account_ids: Sequence[str], columns: Mapping[str, Sequence[Any]],
               owners: Sequence[str | None], domains: Sequence[str | None], names: Sequence[str | None]) -> None:
        """Keep a block of accounts given as one list per field (``output_columns``): what :meth:`add` keeps
        row by row, without a dict per account.  Those columns make each distinct text or date once per
        block already, so only the per-account texts are passed through the shared values."""
        keys = tuple(columns)
        if self._keys is None:
            self._keys = keys
            self._index = {k: i for i, k in enumerate(keys)}
            self._columns = [[] for _ in keys]
        elif keys != self._keys:
            raise ValueError(f"output fields of a block differ from the table's: {keys}")
        size = len(account_ids)
        for key, column in zip(keys, self._columns, strict=True):
            values = columns[key]
            if len(values) != size:
                raise ValueError(f"output field {key} has {len(values)} values for {size} accounts")
            column.extend(map(self._share, values) if key in _SHARED_PER_ROW else values)
        self._ids.extend(account_ids)
        self._owners.extend(map(self._share, owners))
        self._domains.extend(domains)
        self._names.extend(names)

    def _share(self, value: Any) -> Any:
        if isinstance(value, str | date):  # a datetime is a date too: the run's timestamp, one object
            return self._shared.setdefault((type(value), value), value)
        return value

    @property
    def account_ids(self) -> Sequence[str]:
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> AccountOutput: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[AccountOutput]: ...

    def __getitem__(self, index: int | slice) -> AccountOutput | Sequence[AccountOutput]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return AccountOutput(account_id=self._ids[index], fields=RowFields(self, index),
                             owner_id=self._owners[index], domain=self._domains[index], name=self._names[index],
                             origin=(self, index))

    def record_digest(self, digest: RecordDigest, row: int) -> str | None:
        """``digest.of`` of row ``row``'s fields, made a block of rows at a time from the columns
        (:meth:`RecordDigest.of_columns`); None where that block must be digested row by row.

        Sinks read the table in row order, each with its own digest (the sinks run in threads: each
        keeps its own block), so one block per digest is alive, not a digest per account per sink."""
        block = row // DIGEST_BLOCK
        made = self._digests.get(digest)
        if made is None or made[0] != block:
            start, stop = block * DIGEST_BLOCK, min((block + 1) * DIGEST_BLOCK, len(self))
            columns = {k: c[start:stop] for k, c in zip(self._keys or (), self._columns, strict=True)}
            made = self._digests[digest] = (block, digest.of_columns(columns, stop - start))
        digests = made[1]
        return None if digests is None else digests[row - block * DIGEST_BLOCK]

    def __iter__(self) -> Iterator[AccountOutput]:
        for i in range(len(self)):
            yield self[i]
