"""The outputs' three sentences of a large pass, made on the second core while this one saves the states.

Why: after the kernel, the score stage's own process plans the tasks and packs and writes the engine states
(SQLite has one writer, so every write stays in this process).  The per-account sentences of the outputs —
the drivers sentence, the priority reason and the digital next action — are read-only work on the scoring
result, independent of both, and the costliest part of making the outputs (a few µs an account each, in
Python).  From :data:`AHEAD_FROM_ACCOUNTS` accounts a forked child, which sees the result copy-on-write,
makes them for every account and spools them to a temporary file while the parent plans and saves; the
outputs table then takes them from the file instead of making them (:func:`take`).

Safe by construction: the child reads numpy arrays and the model and writes its own file; it opens no
connection, logs nothing, takes no lock, runs no garbage collection (a finaliser could close a PostgreSQL
connection object the fork shares with the parent) and leaves with ``os._exit`` (no ``atexit``, no flush
of inherited buffers).  Any failure — no ``fork`` on the platform, the child's exit status, its file —
falls back to making the sentences in this process, so the outputs are the same either way
(``tests/scoring/test_sentences_ahead.py``).  Below the threshold a pass is a few seconds and the fork's
copy-on-write memory is not worth it (the 100k first sync's 500 MB budget).
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import sys
import tempfile
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from connector.scoring.result import ScoringResult

log = structlog.get_logger(__name__)

#: A pass of at least this many accounts makes its sentences in a child process.
AHEAD_FROM_ACCOUNTS = 250_000
#: The output fields made here, each a list over every account of the result.
SENTENCE_FIELDS = ("vector_drivers", "priority_reason", "next_action")


def sentence_columns(result: ScoringResult, start: int, stop: int) -> dict[str, list[Any]]:
    """The three sentence fields of rows ``start:stop``, as :func:`~connector.scoring.output_columns.
    output_columns` makes them without help."""
    from connector.scoring.output_columns import next_actions

    return {"vector_drivers": result.drivers_block(start, stop),
            "priority_reason": result.priority_reasons(start, stop),
            "next_action": next_actions(result, start, stop)}


@dataclass
class SentencesAhead:
    """A child making every account's sentences; :meth:`take` waits for it and reads what it made."""

    pid: int
    spool: IO[bytes]
    accounts: int
    waited: bool = False

    @classmethod
    def start(cls, result: ScoringResult, *, from_accounts: int | None = None) -> SentencesAhead | None:
        """Fork the child for ``result`` when the pass is large enough and the platform forks; else None."""
        threshold = AHEAD_FROM_ACCOUNTS if from_accounts is None else from_accounts
        n = result.inputs.n
        if n < threshold or not hasattr(os, "fork") or not sys.platform.startswith("linux"):
            return None
        try:
            spool = tempfile.TemporaryFile(prefix="connector-sentences-")  # noqa: SIM115 - closed by take/abandon
            pid = os.fork()
        except OSError as exc:
            log.warning("sentences_ahead.unavailable", error=f"{type(exc).__name__}: {exc}")
            return None
        if pid == 0:  # the child: make, spool, leave — nothing else (see the module docstring)
            _child(result, spool)
        return cls(pid, spool, n)

    def take(self) -> dict[str, list[Any]] | None:
        """Every account's sentences, or None when the child failed (the caller then makes them itself)."""
        try:
            _, status = os.waitpid(self.pid, 0)
            self.waited = True
            if os.waitstatus_to_exitcode(status) != 0:
                log.warning("sentences_ahead.failed", exit_code=os.waitstatus_to_exitcode(status))
                return None
            self.spool.seek(0)
            made: dict[str, list[Any]] = pickle.load(self.spool)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            log.warning("sentences_ahead.failed", error=f"{type(exc).__name__}: {exc}")
            return None
        finally:
            self.spool.close()
        if sorted(made) != sorted(SENTENCE_FIELDS) or any(len(made[k]) != self.accounts for k in made):
            log.warning("sentences_ahead.failed", error="the child's file does not hold every account")
            return None
        return made

    def abandon(self) -> None:
        """Wait for the child without reading it when :meth:`take` has not (the pass failed before its
        outputs were made): no child is left a zombie, no file open."""
        if not self.waited:
            self.waited = True
            with contextlib.suppress(OSError):
                os.waitpid(self.pid, 0)
        self.spool.close()


def _child(result: ScoringResult, spool: IO[bytes]) -> None:
    code = 1
    try:
        gc.disable()
        made = sentence_columns(result, 0, result.inputs.n)
        pickle.dump(made, spool, protocol=pickle.HIGHEST_PROTOCOL)
        spool.flush()
        code = 0
    except BaseException:  # reported by the exit status; the parent then makes them itself
        code = 1
    finally:
        os._exit(code)
