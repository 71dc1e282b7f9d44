"""Start every emulator at once over HTTPS, with one clock and one world, and describe it as a config.

Used by ``connector sandbox`` (foreground, for admins trying the connector before giving it credentials),
by the demo, the reliability suite and the benchmarks — so they all exercise the exact same servers the
real client libraries talk to.  Credentials are generated per cluster and written as secret *files*,
referenced from the generated config, so the sandbox follows the same no-secrets-in-config rule.
"""

from __future__ import annotations

import importlib
import secrets
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector import registry
from connector.sandbox.core import Emulator, Faults, RunningServer, SandboxClock, SandboxTLS, serve
from connector.sandbox.world import World

SYSTEMS = registry.emulators()
#: Credentials generated per cluster (file name in ``secrets/`` → value), so no two sandboxes share one.
CREDENTIALS = ("salesforce_client_id", "salesforce_client_secret", "salesforce_refresh_token", "hubspot_token",
               "zendesk_token", "stripe_key", "techlookup_key")


def _credential_kwargs(system: str, tokens: dict[str, str]) -> dict[str, str]:
    """Emulators that take their credential at construction."""
    return {"zendesk": {"token": tokens["zendesk_token"]}, "stripe": {"secret_key": tokens["stripe_key"]},
            "techlookup": {"key": tokens["techlookup_key"]}}.get(system, {})


def _install_credentials(system: str, emulator: Emulator, tokens: dict[str, str]) -> None:
    """Emulators whose credentials live on the backend (an OAuth app, a private-app token)."""
    if system == "salesforce":
        emulator.backend.client_id = tokens["salesforce_client_id"]
        emulator.backend.client_secret = tokens["salesforce_client_secret"]
        emulator.backend.refresh_token = tokens["salesforce_refresh_token"]
    elif system == "hubspot":
        emulator.backend.tokens.private_app_tokens = {tokens["hubspot_token"]}


@dataclass
class Cluster:
    """Running emulators plus everything needed to point the connector at them."""

    workdir: Path
    tls: SandboxTLS
    clock: SandboxClock
    world: World
    emulators: dict[str, Emulator]
    servers: dict[str, RunningServer]
    tokens: dict[str, str]
    usage_path: Path
    web: RunningServer | None = None

    def url(self, system: str) -> str:
        return self.servers[system].url

    def secret_file(self, name: str) -> Path:
        return self.workdir / "secrets" / name

    def write_config(self, path: Path, *, state_url: str | None = None, primary_crm: str = "salesforce") -> Path:
        """A ready connector config pointing at this cluster (secrets as files next to it)."""
        from connector.sandbox.config_writer import render_config

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_config(self, path.parent, state_url=state_url, primary_crm=primary_crm),
                        encoding="utf-8")
        return path

    def set_faults(self, system: str, **settings: Any) -> None:
        self.emulators[system].ctx.faults.update(settings)

    def reset_ledgers(self) -> None:
        for emulator in self.emulators.values():
            emulator.ctx.ledger.reset()

    def stop(self) -> None:
        for server in [*self.servers.values(), *([self.web] if self.web else [])]:
            server.stop()


def start_cluster(workdir: Path, *, accounts: int = 500, seed: int = 7, world: World | None = None,
                  start: datetime | None = None, faults: dict[str, Faults] | None = None,
                  limits: dict[str, dict[str, Any]] | None = None, web_port: int | None = None,
                  frozen: bool = False) -> Cluster:
    """Generate (or take) a world, start the five emulators on free ports, and write secrets + usage CSV.

    ``frozen``: the sandbox clock moves only when advanced (see :class:`SandboxClock`)."""
    from connector.sandbox.dataset import generate_world, write_usage_csv

    workdir = workdir.resolve()  # the generated config must not depend on the directory it is read from
    workdir.mkdir(parents=True, exist_ok=True)
    clock = SandboxClock(start or datetime.now(UTC).replace(microsecond=0), frozen=frozen)
    world = world or generate_world(accounts, seed=seed, now=clock.now())
    tls = SandboxTLS(workdir / "tls")
    tokens = {name: f"sbx-{name.replace('_', '-')}-{secrets.token_hex(12)}" for name in CREDENTIALS}
    emulators: dict[str, Emulator] = {}
    servers: dict[str, RunningServer] = {}
    for system in SYSTEMS:
        module = importlib.import_module(f"connector.sandbox.{system}")
        emulator: Emulator = module.create_emulator(clock, world, **_credential_kwargs(system, tokens),
                                                    **(limits or {}).get(system, {}))
        _install_credentials(system, emulator, tokens)
        if faults and system in faults:
            emulator.ctx.faults = faults[system]
        emulators[system] = emulator
        servers[system] = serve(emulator.app, tls=tls)
    secrets_dir = workdir / "secrets"
    secrets_dir.mkdir(exist_ok=True)
    for name, token in tokens.items():
        (secrets_dir / name).write_text(token, encoding="utf-8")
    usage_path = workdir / "usage.csv"
    write_usage_csv(world, usage_path)
    cluster = Cluster(workdir, tls, clock, world, emulators, servers, tokens, usage_path)
    if web_port is not None:
        from connector.sandbox.webview import create_web_app

        cluster.web = serve(create_web_app(cluster), tls=None, port=web_port)
    return cluster


def parse_faults(spec: str) -> Faults:
    """``rate_429=0.1,rate_5xx=0.05,latency_ms=50:150`` → :class:`Faults` (the CLI's ``--faults``)."""
    faults = Faults()
    if not spec.strip():
        return faults
    changes: dict[str, Any] = {}
    for part in spec.split(","):
        key, _, value = part.partition("=")
        key = key.strip()
        if key == "latency_ms":
            low, _, high = value.partition(":")
            changes[key] = (float(low), float(high or low))
        else:
            changes[key] = float(value)
    faults.update(changes)
    return faults


def run_foreground(*, accounts: int, seed: int, faults: str, config_path: Path, web_port: int) -> None:
    """``connector sandbox``: serve until Ctrl-C, after writing a config the admin can use as-is."""
    workdir = config_path.resolve().parent / "sandbox-data"
    fault_settings = parse_faults(faults)
    cluster = start_cluster(workdir, accounts=accounts, seed=seed,
                            faults={s: Faults(**fault_settings.to_json()) for s in SYSTEMS}, web_port=web_port)
    cluster.write_config(config_path)
    print(f"sandbox: {accounts} accounts (seed {seed}), CA at {cluster.tls.ca_path}")
    for system, server in cluster.servers.items():
        print(f"  {system:<11} {server.url}   ledger: {server.url}/__sandbox/ledger")
    if cluster.web:
        print(f"  web view    {cluster.web.url}/   (CRM accounts by Success Vector, Zendesk queue)")
    print(f"config written to {config_path}; try: connector setup -c {config_path} && connector sync -c {config_path}")
    print("Ctrl-C to stop")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
