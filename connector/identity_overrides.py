"""Identity fixes as code: ``mappings/identity_overrides.toml``, versioned with the rest of the config.

An admin's only lever on a wrong or ambiguous match used to be editing source data.  This file says it
directly, and resolution honours it before any key (see :class:`connector.identity.IdentityResolver`):

* ``link``  — this source record belongs to this CRM account, whatever its keys say;
* ``never`` — this source record must never be matched to this account (the account is removed from the
  candidates; a record whose only candidates are "never" accounts stays unmatched).

The file is TOML in a deliberately narrow, line-oriented shape — one override per line, inside a
``link = [ … ]`` or ``never = [ … ]`` array, comments allowed anywhere::

    link = [
      { source = "zendesk", entity = "organization", id = "360000000017", account = "001000000000042AAA" },  # merger
    ]

so that any TOML reader gets the same data, an error names the exact line, and ``connector identity
link|unlink|never`` edit single lines and keep every comment and the layout an admin chose (no TOML writer
dependency needed).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from connector.config import Config, ConfigError

Kind = Literal["link", "never"]
KINDS: tuple[Kind, ...] = ("link", "never")
#: (source, entity, entity id) — how a source record is named, e.g. ("zendesk", "organization", "360…").
Ref = tuple[str, str, str]
FIELDS = ("source", "entity", "id", "account")
_OPEN = re.compile(r"^(link|never)\s*=\s*\[\s*(#.*)?$")
_CLOSE = re.compile(r"^\]\s*(#.*)?$")

TEMPLATE = """\
# Identity overrides: fixes to identity matching, kept as code next to the mappings (review them like code).
#
# link  = this source record belongs to this CRM account, whatever its keys say (highest precedence).
# never = this source record must never be matched to this account (it is dropped from the candidates).
#
# One override per line.  `connector check` prints a ready-to-paste line for every ambiguous match;
# `connector identity link|unlink|never` edit this file for you.  Entity names per source: zendesk
# organization / requester_domain, stripe customer, hubspot company, usage account, enrichment domain.

link = [
]

never = [
]
"""


@dataclass(frozen=True)
class Override:
    kind: Kind
    ref: Ref
    account_id: str
    line: int


@dataclass(frozen=True)
class Overrides:
    """The parsed file: ``link`` ref → account, ``never`` ref → accounts it must not match."""

    path: Path | None = None
    link: dict[Ref, str] = field(default_factory=dict)
    never: dict[Ref, frozenset[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.link) + sum(len(v) for v in self.never.values())


def overrides_path(config: Config) -> Path:
    return config.resolve(config.identity.overrides)


def load_for(config: Config) -> Overrides:
    """The config's overrides; a missing file means none (raises :class:`ConfigError` on a bad line)."""
    return load(overrides_path(config))


def load(path: Path) -> Overrides:
    if not path.exists():
        return Overrides(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [("", f"cannot read the overrides file ({exc}); save it as UTF-8")]) from None
    entries, problems = parse(text)
    if problems:
        raise ConfigError(path, problems)
    link: dict[Ref, str] = {}
    never: dict[Ref, set[str]] = {}
    for e in entries:
        if e.kind == "link":
            link[e.ref] = e.account_id
        else:
            never.setdefault(e.ref, set()).add(e.account_id)
    return Overrides(path, link, {ref: frozenset(ids) for ref, ids in never.items()})


def parse(text: str) -> tuple[list[Override], list[tuple[str, str]]]:
    """Every override in ``text`` and every problem as ``("line N", what is wrong and how to fix it)``."""
    entries: list[Override] = []
    problems: list[tuple[str, str]] = []
    section: Kind | None = None
    seen: set[str] = set()
    lines = text.splitlines()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        opened = _OPEN.match(line)
        if section is None and opened:
            section = "link" if opened.group(1) == "link" else "never"
            if section in seen:
                problems.append((f"line {number}", f"a second `{section} = [` array: keep one per file"))
            seen.add(section)
        elif section is not None and _CLOSE.match(line):
            section = None
        elif section is not None:
            entry, problem = _entry(section, line, number)
            if problem:
                problems.append((f"line {number}", problem))
            elif entry:
                problems += _conflicts(entry, entries)
                entries.append(entry)
        else:
            problems.append((f"line {number}", f"expected `link = [`, `never = [` or a comment, found {line[:60]!r}"))
    if section is not None:
        problems.append((f"line {len(lines)}", f"the `{section} = [` array is never closed: add a line `]`"))
    return entries, problems


def _entry(kind: Kind, line: str, number: int) -> tuple[Override | None, str | None]:
    """One ``{ source = …, entity = …, id = …, account = … },  # note`` line."""
    try:  # an array around the line accepts its trailing comma and comment exactly as the file does
        items = tomllib.loads(f"entry = [\n{line}\n]")["entry"]
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc).split(" (at line", 1)[0]  # its line/column count the wrapper, not the file
        return None, f"not a valid override ({reason}); expected{render_entry('zendesk', 'organization', '1', 'ID')}"
    if len(items) != 1 or not isinstance(items[0], dict):
        return None, "expected exactly one `{ source = …, entity = …, id = …, account = … }` on this line"
    item = items[0]
    unknown = sorted(set(item) - set(FIELDS))
    missing = [k for k in FIELDS if k not in item]
    if unknown or missing:
        what = "; ".join(p for p in (f"unknown key(s) {', '.join(unknown)}" if unknown else "",
                                     f"missing {', '.join(missing)}" if missing else "") if p)
        return None, f"{what}: an override has exactly the keys {', '.join(FIELDS)}"
    values = {k: str(v).strip() if isinstance(v, (str, int)) and not isinstance(v, bool) else None
              for k, v in item.items()}
    empty = [k for k in FIELDS if not values[k]]
    if empty:
        return None, f"{', '.join(empty)} must be a non-empty text (or a number for id)"
    ref = (str(values["source"]), str(values["entity"]), str(values["id"]))
    return Override(kind, ref, str(values["account"]), number), None


def _conflicts(entry: Override, earlier: list[Override]) -> list[tuple[str, str]]:
    """A record linked twice, or linked and never-matched to the same account, is a contradiction."""
    where = f"line {entry.line}"
    for e in earlier:
        if e.ref != entry.ref:
            continue
        if entry.kind == e.kind == "link" and e.account_id != entry.account_id:
            return [(where, f"{_name(entry.ref)} is already linked to {e.account_id} on line {e.line}: keep one")]
        if entry.kind != e.kind and e.account_id == entry.account_id:
            return [(where, f"{_name(entry.ref)} → {entry.account_id} is both `link` and `never` "
                            f"(line {e.line}): keep one")]
    return []


def _name(ref: Ref) -> str:
    return ":".join(ref)


def parse_ref(text: str) -> Ref:
    """``SOURCE:ENTITY:ID`` (the id may itself contain colons) → a :data:`Ref`; ValueError if malformed."""
    parts = text.split(":", 2)
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise ValueError(f"{text!r} is not SOURCE:ENTITY:ID (e.g. zendesk:organization:360000000017)")
    source, entity, entity_id = (p.strip() for p in parts)
    return source, entity, entity_id


def render_entry(source: str, entity: str, entity_id: str, account_id: str, note: str = "") -> str:
    """The one line an override is in the file (JSON strings are valid TOML basic strings)."""
    q = json.dumps
    body = f"{{ source = {q(source)}, entity = {q(entity)}, id = {q(entity_id)}, account = {q(account_id)} }},"
    note = " ".join(note.split())
    return f"  {body}  # {note}" if note else f"  {body}"


# -- editing ----------------------------------------------------------------------------------------------


def edit(path: Path, kind: Kind | None, ref: Ref, account_id: str | None, note: str = "") -> list[str]:
    """Add a ``link``/``never`` line for ``ref`` (``kind=None``: only remove), dropping the lines it replaces.

    Replaced: for ``link``, any other ``link`` of the record and a ``never`` of the same pair; for
    ``never``, a ``link`` of the same pair; for a removal, every override of the record (only those naming
    ``account_id`` when given).  Returns a sentence per change for the CLI.  The file is validated first
    (a broken file is not edited further) and written atomically.
    """
    lines = (path.read_text(encoding="utf-8") if path.exists() else TEMPLATE).splitlines()
    entries, problems = parse("\n".join(lines))
    if problems:
        raise ConfigError(path, problems)
    drop = {e.line for e in entries if e.ref == ref and _replaced(e, kind, account_id)}
    changes = [f"removed {e.kind} {_name(e.ref)} → {e.account_id} (was line {e.line})"
               for e in entries if e.line in drop]
    kept = [text for number, text in enumerate(lines, start=1) if number not in drop]
    if kind is not None and account_id is not None:
        kept = _insert(kept, kind, render_entry(*ref, account_id, note))
        changes.append(f"added {kind} {_name(ref)} → {account_id}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(kept) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return changes


def _replaced(e: Override, kind: Kind | None, account_id: str | None) -> bool:
    if kind is None:
        return account_id is None or e.account_id == account_id
    if kind == "link":
        return e.kind == "link" or e.account_id == account_id
    return e.kind == "link" and e.account_id == account_id


def _insert(lines: list[str], kind: Kind, entry: str) -> list[str]:
    """``entry`` as the last line of the ``kind`` array (the array is appended when the file has none)."""
    inside = False
    for number, text in enumerate(lines):
        stripped = text.strip()
        match = _OPEN.match(stripped)
        if match and not inside:
            inside = match.group(1) == kind
        elif inside and _CLOSE.match(stripped):
            return [*lines[:number], entry, *lines[number:]]
    return [*lines, "", f"{kind} = [", entry, "]"]
