"""Shared pieces of the benchmarks: the sandbox in a child process, config tweaks, call minima, tables.

Every figure the benchmarks print is measured in the run that prints it; nothing here is a constant result.
The "theoretical minimum" of an endpoint is ``ceil(records / max batch or page)`` with the vendor's maximum
(API_NOTES.md); endpoints that do not carry records (token, limits, job polls, bulk job steps) are listed
with their count and kept out of the ratio, with the reason printed next to them.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
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
    "salesforce": {"daily_api_limit": 10**9},
}
#: The connector's own client-side limits raised to match (config keys per section).
UNTHROTTLED_CONFIG = {"hubspot": "requests_per_10s = 1000000", "zendesk": "requests_per_minute = 1000000",
                      "enrichment": "requests_per_second = 1000"}

# (system, method, endpoint pattern) → max records per call; "job" = one call per bulk job, not per record.
MAX_PER_CALL: list[tuple[str, str, str, int | str]] = [
    ("salesforce", "PATCH|POST", r"/composite/sobjects(/Task/\w+)?$", 200),  # sObject Collections
    ("salesforce", "POST|PUT|PATCH|GET", r"/jobs/ingest", "job"),  # Bulk 2.0: ~5 calls per job
    ("salesforce", "GET", r"/query/", 2000),  # SOQL batch; records not reported by the emulator
    ("hubspot", "POST", r"/batch/(read|update|create|upsert)$", 100),
    ("hubspot", "PUT|POST", r"/associations/.*/batch/", 100),
    ("hubspot", "GET", r"/crm/v3/objects/\w+$", 100),  # list page; records not reported
    ("zendesk", "PUT|POST", r"/(update|create)_many\.json$", 100),
    ("zendesk", "GET", r"/incremental/.*\.json$", 1000),
    ("zendesk", "GET", r"/job_statuses/", "job"),  # polls: one per job is the least possible
    ("stripe", "GET", r"^/v1/(customers|subscriptions|invoices|events)$", 100),
    ("techlookup", "GET", r"/api\.json$", 16),  # domains per lookup call
]


def max_per_call(system: str, method: str, endpoint: str) -> int | str | None:
    for sys_, methods, pattern, size in MAX_PER_CALL:
        if sys_ == system and method in methods.split("|") and re.search(pattern, endpoint):
            return size
    return None


WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
READ_ONLY_POSTS = re.compile(r"/batch/read$|/search$|oauth2?/token|/oauth/v1/token")


def is_write(row: dict[str, Any]) -> bool:
    return row["method"] in WRITE_METHODS and not READ_ONLY_POSTS.search(row["endpoint"])


@dataclass
class Tally:
    """Calls against minima for one set of ledger rows."""

    rows: list[dict[str, Any]]

    def annotate(self) -> list[dict[str, Any]]:
        """Each row with ``max`` and ``min`` (None when the minimum cannot be derived from the ledger)."""
        jobs = {s: sum(r["calls"] for r in self.rows if r["system"] == s and r["status"] < 400 and
                       ((s == "zendesk" and r["endpoint"].endswith("_many.json"))
                        or (s == "salesforce" and r["method"] == "POST" and r["endpoint"].endswith("/jobs/ingest"))))
                for s in ("zendesk", "salesforce")}
        out = []
        for r in self.rows:
            size = max_per_call(r["system"], r["method"], r["endpoint"])
            if r["status"] >= 400 or r["status"] == 0:
                minimum: int | None = 0  # a refused or dropped call is pure overhead
            elif size == "job":
                minimum = jobs.get(r["system"], 0)
            elif isinstance(size, int) and not r["uncounted"]:
                minimum = math.ceil(r["records"] / size)
                if not is_write(r):
                    minimum = max(1, minimum)  # an incremental read must ask once even when nothing changed
            else:
                minimum = None
            out.append({**r, "max": size, "min": minimum, "write": is_write(r)})
        return out

    def ratio(self, *, writes_only: bool = False, systems: tuple[str, ...] | None = None) -> tuple[int, int]:
        """(calls, minimum) over rows whose minimum is known (job polls excluded: the emulator sets them)."""
        calls = minimum = 0
        for r in self.annotate():
            if r["min"] is None or (r["max"] == "job" and r["method"] == "GET"):
                continue
            if (writes_only and not r["write"]) or (systems and r["system"] not in systems):
                continue
            calls += r["calls"]
            minimum += r["min"]
        return calls, minimum

    def calls(self, *, writes_only: bool = False) -> int:
        return sum(r["calls"] for r in self.rows if not writes_only or is_write(r))


def fmt_ratio(calls: int, minimum: int) -> str:
    if minimum == 0:
        return "—" if calls == 0 else f"{calls} calls, minimum 0"
    return f"{calls / minimum:.3f}"


def print_ledger(title: str, tally: Tally) -> None:
    print(f"  {title}")
    print(f"    {'system':<11} {'method':<6} {'endpoint':<58} {'st':>3} {'calls':>6} {'records':>8} "
          f"{'max':>5} {'min':>6} {'ratio':>6}")
    for r in tally.annotate():
        minimum = "?" if r["min"] is None else str(r["min"])
        ratio = "" if not r["min"] else f"{r['calls'] / r['min']:.2f}"
        records = "n/r" if r["uncounted"] == r["calls"] else str(r["records"])
        print(f"    {r['system']:<11} {r['method']:<6} {r['endpoint'][-58:]:<58} {r['status']:>3} {r['calls']:>6} "
              f"{records:>8} {r['max'] or '':>5} {minimum:>6} {ratio:>6}")


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

    def tally(self) -> Tally:
        return Tally(self.command("ledger")["rows"])

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
