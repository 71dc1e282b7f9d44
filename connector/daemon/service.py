"""The daemon process: scheduler + HTTP server (webhooks, /healthz, /metrics) + graceful shutdown.

Threads: uvicorn serves HTTP on its own thread (so it installs no signal handlers of its own), APScheduler
runs jobs on a small pool, one worker drains webhook refreshes, and the main thread only waits for a
signal.  On SIGTERM (or SIGINT):

1. the HTTP server stops accepting connections and finishes requests in flight (webhooks stop here);
2. the scheduler stops firing, lock waits and jitter sleeps are abandoned;
3. running jobs get ``shutdown_grace_seconds`` to finish;
4. a job still running after that is recorded ``interrupted`` and the process exits 0 without waiting
   for it — its work is committed batch by batch, so the next run (here or on another instance) resumes
   from the last committed batch instead of starting over.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType

import structlog
import uvicorn
from starlette.applications import Starlette

from connector.config import Config, ConfigError, SecretRef
from connector.daemon.coordination import PostgresLocks, coordinator_for
from connector.daemon.health import Operations
from connector.daemon.metrics import DaemonMetrics
from connector.daemon.pipeline import Pipeline, SyncPipeline
from connector.daemon.refresh import RefreshWorker
from connector.daemon.scheduler import JobRunner, JobScheduler, interval_of, scheduled_jobs
from connector.daemon.webhooks import WebhookEndpoints, WebhookSecrets
from connector.runtime import open_store
from connector.secrets import resolve

log = structlog.get_logger(__name__)


def webhook_secrets(config: Config) -> WebhookSecrets:
    """Resolve the configured webhook secrets now, so a missing variable stops the daemon at start."""
    hooks, enabled = config.webhooks, config.enabled_systems()
    refs = {
        "stripe": config.stripe.webhook_secret_env if config.stripe else None,
        "zendesk": hooks.zendesk_secret_env,
        "hubspot": hooks.hubspot_client_secret_env,
    }
    problems = [
        (f"webhooks.{key}", f"is set but [{vendor}] is not enabled; enable it or remove the key")
        for vendor, key in (("zendesk", "zendesk_secret_env"), ("hubspot", "hubspot_client_secret_env"))
        if refs[vendor] and vendor not in enabled
    ]
    if problems:
        raise ConfigError("<config>", problems)
    values = {
        vendor: resolve(SecretRef(env=env), key=f"webhooks.{vendor}_secret") if env else None
        for vendor, env in refs.items()
    }
    return WebhookSecrets(**values)


class Daemon:
    def __init__(self, config: Config, pipeline: Pipeline | None = None):
        self.config = config
        self.stop = threading.Event()
        self.metrics = DaemonMetrics()
        self.store = open_store(config)
        self.coordinator = coordinator_for(self.store)
        self.pipeline = pipeline or SyncPipeline(config, on_call=self.metrics.observe_call)
        self.runner = JobRunner(self.store, self.coordinator, self.metrics, self.stop)
        self.jobs = scheduled_jobs(config, self.pipeline)
        self.scheduler = JobScheduler(self.runner, self.jobs)
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        ops = Operations(
            self.store,
            self.jobs,
            self.runner,
            self.metrics,
            max_missed=config.schedules.health_max_missed,
            instance=self.instance,
        )
        routes = ops.routes()
        self.refresher: RefreshWorker | None = None
        if config.webhooks.enabled:
            hooks = config.webhooks
            self.refresher = RefreshWorker(
                config,
                self.store,
                self.pipeline,
                self.runner,
                self.metrics,
                lock_wait_seconds=interval_of(config.schedules.score_and_write),
            )
            endpoints = WebhookEndpoints(
                webhook_secrets(config),
                self.refresher.enqueue,
                self.metrics,
                max_body_bytes=hooks.max_body_bytes,
                tolerance_seconds=hooks.signature_tolerance_seconds,
                public_url=hooks.public_url,
            )
            routes += endpoints.routes()
        self.app = Starlette(routes=routes)
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=config.webhooks.host,
                port=config.webhooks.port,
                lifespan="off",
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=5,
            )
        )
        self._http = threading.Thread(target=self.server.run, name="http", daemon=True)

    def serve(self) -> None:
        """Run until SIGTERM/SIGINT, then shut down as described in the module docstring."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self._http.start()
        if self.refresher:
            self.refresher.start()
        self.scheduler.start()
        log.info("daemon.started", instance=self.instance, port=self.config.webhooks.port,
                 jobs=[j.name for j in self.jobs], webhooks=self.config.webhooks.enabled)
        while not self.stop.wait(1.0):
            if not self._http.is_alive():  # e.g. the port was taken: a daemon without /healthz is not healthy
                log.error("daemon.http_stopped", port=self.config.webhooks.port)
                self.stop.set()
        self.shutdown()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("daemon.stopping", signal=signal.Signals(signum).name)
        self.stop.set()

    def shutdown(self) -> None:
        self.server.should_exit = True
        self._http.join(timeout=10)
        self.scheduler.shutdown()
        grace = self.config.schedules.shutdown_grace_seconds
        if not self.runner.wait_idle(grace):
            names = self.runner.interrupt_running(f"stopped by SIGTERM after a {grace:g} s grace period; "
                                                  "the next run resumes from the last committed batch")
            log.warning("daemon.interrupted", jobs=names)
            sys.stderr.flush()
            os._exit(0)  # the job threads cannot be cancelled; their work is committed batch by batch
        if isinstance(self.coordinator, PostgresLocks):
            self.coordinator.close()
        self.store.close()
        log.info("daemon.stopped", instance=self.instance)
