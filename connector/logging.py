"""Structured logs on stderr: human-readable on a terminal, JSON lines otherwise, secrets scrubbed.

stdout is reserved for command output (``--json`` prints exactly one object there), so logs never mix
with what a script parses.  Every event passes through :func:`_scrub`, which removes any registered secret
from every string value — the last line of defence if a client library puts a token in a message.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from connector.secrets import redact


def _scrub(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
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
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RedactFilter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(str(record.getMessage()))
        record.args = ()
        return True
