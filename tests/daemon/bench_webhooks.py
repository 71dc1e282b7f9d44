"""Measure how many webhook events per second one daemon process verifies and enqueues.

``python tests/daemon/bench_webhooks.py [events] [client_threads]`` starts the daemon (fake pipeline,
SQLite) as a real process and sends signed Stripe events over HTTP from several client threads; each
event has its own id and signature, so every one is verified, replay-checked and queued.
"""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from daemon_kit import FAKE_TABLES, free_port, start_daemon, stripe_event, stripe_headers, write_config
from sqlalchemy import text

from connector.store import Store


def main(events: int, threads: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'state.db'}"
        store = Store(url)
        with store.engine.begin() as conn:
            for ddl in FAKE_TABLES:
                conn.execute(text(ddl))
        port = free_port()
        daemon = start_daemon(write_config(Path(tmp) / "c.toml", url, port, every=3600, webhooks=True,
                                           systems="all"), port)
        bodies = [stripe_event(f"evt_bench_{i}", f"cus_{i % 500}") for i in range(events)]
        per_thread = [bodies[i::threads] for i in range(threads)]

        def send(chunk: list[bytes]) -> int:
            ok = 0
            with httpx.Client(base_url=daemon.url) as client:
                for body in chunk:
                    ok += client.post("/webhooks/stripe", content=body, headers=stripe_headers(body)).status_code == 200
            return ok

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            accepted = sum(pool.map(send, per_thread))
        seconds = time.perf_counter() - started
        daemon.stop()
        store.close()
    print(f"{accepted}/{events} events accepted in {seconds:.2f} s with {threads} client threads: "
          f"{accepted / seconds:.0f} events/s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000, int(sys.argv[2]) if len(sys.argv) > 2 else 8)
