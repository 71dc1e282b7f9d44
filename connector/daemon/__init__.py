"""``connector run``: the long-running service — schedules, webhooks, health and metrics.

The daemon decides *when* and *on which instance* work happens; the work itself is the same pipeline
``connector sync`` runs (:mod:`connector.daemon.pipeline`).  See docs/scaling.md for running several.
"""

from __future__ import annotations

import sys

from connector.config import Config, ConfigError
from connector.daemon.pipeline import Pipeline, RunOutcome, SyncPipeline

__all__ = ["Pipeline", "RunOutcome", "SyncPipeline", "serve_forever"]


def serve_forever(config: Config, pipeline: Pipeline | None = None, *, preflight: bool = True) -> None:
    """Run the daemon until SIGTERM/SIGINT; exit 0 after a graceful stop, 2 on a configuration problem,
    1 when a destination lacks mapped fields (the pre-flight, before the first cycle pulls anything)."""
    from connector.daemon.service import Daemon
    from connector.preflight import daemon_preflight

    try:
        daemon = Daemon(config, pipeline)
    except ConfigError as exc:
        sys.stderr.write(f"configuration error:\n{exc}\n")
        raise SystemExit(2) from None
    if pipeline is None and preflight and not daemon_preflight(config):
        daemon.store.close()
        raise SystemExit(1)
    daemon.serve()
