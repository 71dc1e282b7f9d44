"""Structured logs on stderr: human-readable on a terminal, JSON lines otherwise, secrets scrubbed.

stdout is reserved for command output (``--json`` prints exactly one object there), so logs never mix
with what a script parses.  Every event passes through :func:`_scrub`, which removes any registered secret
from every string value — the last line of defence if a client library puts a token in a message.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from connector.secrets import redact


def _scrub(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return {k: redact(v) if isinstance(v, str) else v for k, v in event.items()}


def configure(level: str = "INFO", json_output: bool | None = None) -> None:
    """Set up structlog (and stdlib logging, for the client libraries) once per process."""
    use_json = (not sys.stderr.isatty()) if json_output is None else json_output
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _scrub,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric if isinstance(numeric, int) else 20),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.addFilter(_RedactFilter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    """Resolve ``sys.stderr`` when a logger is made, not at configure time (tests and daemons swap it)."""
    return structlog.PrintLogger(file=sys.stderr)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """A stream handler bound to whatever ``sys.stderr`` is at emit time."""

    @property  # type: ignore[override,unused-ignore]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(str(record.getMessage()))
        record.args = ()
        return True
