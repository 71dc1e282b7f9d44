"""Shared pieces of the benchmarks: the sandbox in a child process, config tweaks, call minima, tables.

Every figure the benchmarks print is measured in the run that prints it; nothing here is a constant result.
The minimum number of calls a sync needs is computed from the sandbox's world in :mod:`minimum`.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Sandbox limits switched off for the call-count benchmarks: counts do not depend on them, and with
#: them on a 10k sync spends minutes waiting on Zendesk's 10 exports/min (bench_rate_limits covers waits).
UNTHROTTLED: dict[str, dict[str, Any]] = {
    "hubspot": {"requests_per_10s": None, "daily_limit": None},
    "zendesk": {"requests_per_minute": None, "export_requests_per_minute": None},
    "stripe": {"requests_per_second": None},
    "techlookup": {"requests_per_second": None},
    "salesforce": {"daily_api_limit": 10**9, "bulk_queue_seconds": 2.0, "bulk_seconds_per_10k": 10.0},
}
#: Assumed Bulk 2.0 processing time (above): 2 s in the queue, then 10 s per 10,000 records — Salesforce
#: publishes no throughput, only that an internal batch of 10,000 records must finish within 10 minutes.
#: The connector's own client-side limits raised to match (config keys per section).
#: ``bulk_poll_seconds`` back to the production default (the sandbox's generated config uses 0 for tests):
#: the Bulk 2.0 driver's first status read waits that plus the job's expected processing time.
UNTHROTTLED_CONFIG = {"hubspot": "requests_per_10s = 1000000", "zendesk": "requests_per_minute = 1000000",
                      "salesforce": "bulk_poll_seconds = 2",
                      "enrichment": "requests_per_second = 1000"}

class Sandbox:
    """The cluster in a child process (:mod:`bench.sandbox_proc`); a context manager."""

    def __init__(self, accounts: int, *, seed: int = 7, limits: dict[str, dict[str, Any]] | None = None,
                 unthrottled_config: bool = False, config_extra: dict[str, str] | None = None):
        self.tmp = Path(tempfile.mkdtemp(prefix=f"bench-{accounts}-"))
        spec = {"workdir": str(self.tmp), "accounts": accounts, "seed": seed, "limits": limits}
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "sandbox_proc.py"), json.dumps(spec)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        ready = self._read()
        self.config_path = Path(ready["config"])
        extra = dict(UNTHROTTLED_CONFIG if unthrottled_config else {})
        extra.update(config_extra or {})
        _add_settings(self.config_path, extra)

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("@@"):
                data: dict[str, Any] = json.loads(line[2:])
                return data
        raise RuntimeError(f"sandbox process ended (exit {self.proc.wait()})")

    def command(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def now(self) -> datetime:
        return datetime.fromisoformat(self.command("now")["now"])

    def ledger(self) -> list[dict[str, Any]]:
        """Every call the emulators answered since the last ``reset``, one row per system/method/endpoint."""
        rows: list[dict[str, Any]] = self.command("ledger")["rows"]
        return rows

    def config(self) -> Any:
        from connector.config import load_config

        return load_config(self.config_path)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.command("stop")
            self.proc.wait(timeout=30)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def ready_sandbox(accounts: int) -> Iterator[Sandbox]:
    """An unthrottled sandbox with the connector's setup done (fields, task status): what every phased
    benchmark starts from."""
    from connector.runtime import run_setup

    with Sandbox(accounts, limits=UNTHROTTLED, unthrottled_config=True) as sandbox:
        setup = run_setup(sandbox.config(), dry_run=False)
        if setup["errors"]:
            raise SystemExit(f"setup failed: {setup['errors']}")
        yield sandbox


def next_phase(sandbox: Sandbox, change_one_percent: bool) -> dict[str, Any]:
    """Clear the ledger, then fail a payment on 1 % of the companies or only move the clock on a little."""
    sandbox.command("reset")
    return sandbox.command("mutate", share=0.01) if change_one_percent else sandbox.command("tick")


def _add_settings(path: Path, settings: dict[str, str]) -> None:
    """Set ``key = value`` in a ``[section]`` of a generated config (replacing the key if it is there)."""
    text = path.read_text(encoding="utf-8")
    for section, line in settings.items():
        key = line.split("=")[0].strip()
        head, _, rest = text.partition(f"[{section}]\n")
        body, nxt, tail = rest.partition("\n[")
        body = "\n".join(x for x in body.split("\n") if not x.startswith(f"{key} ="))
        text = f"{head}[{section}]\n{line}\n{body}{nxt}{tail}"
    path.write_text(text, encoding="utf-8")


def sync_in_child(sandbox: Sandbox, *, trace: bool = False) -> dict[str, Any]:
    """Run one sync against ``sandbox`` in a fresh process (:mod:`sync_child`); its figures incl. peak RSS."""
    command = [sys.executable, str(ROOT / "bench" / "sync_child.py"), str(sandbox.config_path),
               sandbox.now().isoformat()] + (["--trace"] if trace else [])
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return data


def spread(values: list[float]) -> str:
    """``median (min–max, n=k)``: how the benchmarks report repeated timings on a shared machine."""
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f}, n={len(values)})"


def growth(label: str, sizes: list[int], costs: list[float]) -> str:
    """Per-unit cost at the largest size against the smallest: ≈1 linear, >1.5 super-linear."""
    if len(sizes) < 2 or costs[0] <= 0:
        return f"{label}: one size only"
    per = [c / n for c, n in zip(costs, sizes, strict=True)]
    ratio = per[-1] / per[0]
    shape = "linear" if 0.5 <= ratio <= 1.5 else ("super-linear" if ratio > 1.5 else "sub-linear")
    steps = ", ".join(f"{n:,}: {c:.4g}" for n, c in zip(sizes, costs, strict=True))
    return f"{label}: {steps} → per-account cost ×{ratio:.2f} from {sizes[0]:,} to {sizes[-1]:,} ({shape})"


def quiet_logs() -> None:
    from connector import logging as clog

    clog.configure("ERROR")
