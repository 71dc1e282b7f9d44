"""Resolve credential references (environment variable or file) at the edge, and keep them out of output.

Every resolved secret is registered with :func:`register` so that the log pipeline and error reporting can
scrub it (:func:`redact`) wherever it would otherwise leak: a URL in an exception, a header echoed in a
debug line, a client library's repr.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from connector.config import ConfigError, SecretRef

_known: set[str] = set()
_lock = threading.Lock()
REDACTED = "***"


class SecretMissing(ConfigError):
    """The reference is fine but the environment does not provide the value."""


def resolve(ref: SecretRef, *, key: str, config_path: str = "<config>") -> str:
    """The secret's value; :class:`SecretMissing` says which variable or file to provide."""
    value: str | None = None
    if ref.env:
        value = os.environ.get(ref.env)
        if not value:
            raise SecretMissing(config_path, [(f"{key}_env", f"environment variable {ref.env} is not set; export it")])
    elif ref.file:
        try:
            value = Path(ref.file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretMissing(
                config_path, [(f"{key}_file", f"cannot read secret file {ref.file} ({exc.strerror})")]
            ) from None
    if not value:
        raise SecretMissing(config_path, [(f"{key}_env", "no credential reference given")])
    register(value)
    return value


def register(value: str) -> None:
    """Remember ``value`` as secret so :func:`redact` removes it from any text."""
    if value and len(value) >= 4:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    if not _known:
        return text
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
