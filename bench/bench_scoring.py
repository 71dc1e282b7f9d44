"""Benchmark: the real scoring stage from the store, and the scoring kernel alone.

    .venv/bin/python bench/bench_scoring.py                    # stage from the store: 10k, 100k (SQLite)
    .venv/bin/python bench/bench_scoring.py --store 10000 --pg # the same on PostgreSQL (CONNECTOR_TEST_POSTGRES_URL)
    .venv/bin/python bench/bench_scoring.py --kernel 10000 100000 1000000
    .venv/bin/python bench/bench_scoring.py --store 10000 --profile   # cProfile of the full pass
    .venv/bin/python bench/bench_scoring.py 1000000 --alone   # each cycle in its own process (its own peak)

**Stage** (``--store``, the default): a state store is filled as the pull stage fills it
(:mod:`connector.sandbox.store_world`: accounts and five sources' observations, ~27 signals per account),
then the cycles a sync makes after the pull, with no API call: *first* (every account new), *unchanged*
(two minutes later, nothing pulled: a settled cycle, skipped after resolve and the check, as a sync does),
*unchanged_full* (the same, scored anyway as ``sync --full`` does), *1 % changed* (new readings for 1 %
of the accounts) and *new_day* (the next UTC day's first cycle, which scores every account with a day's
trend to fold in: the full pass as a daemon meets it once a day).  Each scored cycle is resolve (identity +
signals), check (the settled-cycle key, see ``connector/settled.py``), then the sync's own score stage
(``SyncRunner.score``, so memory is kept and freed as in a sync) in parts: load (scoring inputs from the
store), kernel (``score()``), tasks (the day's tasks, facts and forecast), persist (engine states, then the
score-history points and the outputs table), and diff (Salesforce mapping against the written values; what
the diff finds is then recorded as written, as a sink does once the CRM confirms).  Figures are process CPU
seconds (the machine is shared, wall clock is not the connector's), and peak RSS.

``--alone``: each cycle in a fresh process on the store the one before left, so each cycle's peak RSS is
its own (a daemon's resident memory returns between runs, see ``connector/memory.py``), not the largest of
all cycles so far.

**Kernel** (``--kernel``): :func:`connector.scoring.score` on synthetic, seeded columns (about 30
signals, 8 history points, a previous state with open plays), as before: what the engine itself costs.

Each size runs in a fresh subprocess so peak RSS (``ru_maxrss``) belongs to that size alone.
Targets (issue 18): 1M full re-score from the store ≤ 60 s and ≤ 2 GB; kernel 1M ≤ 10 s.  Not a unit test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from connector.scoring import ScoringInputs, default_model_path, load_model, score
from connector.scoring.conditions import Categorical
from connector.scoring.inputs import PlayState, PreviousState, TrendColumns, day_number

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 3, 1, tzinfo=UTC)
STAGE_NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SIZES = (10_000, 100_000)
KERNEL_SIZES = (10_000, 100_000, 1_000_000)


def synthetic(n: int, seed: int = 7) -> ScoringInputs:
    rng = np.random.default_rng(seed)
    today = day_number(NOW)
    health = rng.beta(4, 2, n)

    def noisy(scale: float, lam: np.ndarray | float = 1.0, missing: float = 0.1) -> np.ndarray:
        values = rng.poisson(lam * scale, n).astype(np.float64)
        values[rng.random(n) < missing] = np.nan
        return values

    seats = rng.integers(3, 400, n).astype(np.float64)
    numeric = {
        "licensed_seats": seats,
        "active_users": np.floor(seats * np.clip(health + rng.normal(0, 0.15, n), 0, 1)),
        "key_features_total": np.full(n, 12.0),
        "features_adopted": np.floor(12 * np.clip(health + rng.normal(0, 0.2, n), 0, 1)),
        "meaningful_events_30d": noisy(150, health),
        "resolution_hours_median": rng.gamma(2, 20 * (1.5 - health)),
        "resolution_hours_p90": rng.gamma(2, 60 * (1.5 - health)),
        "tickets_unresolved_over_n_days": noisy(3, 1 - health),
        "tickets_open": noisy(8, 1 - health),
        "tickets_urgent_open": noisy(1, (1 - health) ** 2),
        "tickets_created_90d": noisy(20, 1.0),
        "help_center_views_30d": noisy(30, health, 0.5),
        "training_completed": noisy(2, health, 0.3),
        "services_purchased": (rng.random(n) < 0.2).astype(np.float64),
        "upsells_taken": noisy(1, health, 0.3),
        "advocacy": (rng.random(n) < 0.05).astype(np.float64),
        "nps": np.where(rng.random(n) < 0.6, np.nan, np.round(np.clip(health * 10 + rng.normal(0, 2, n), 0, 10))),
        "payments_failed_90d": (rng.random(n) < 0.04).astype(np.float64),
        "days_overdue": np.where(rng.random(n) < 0.05, rng.integers(1, 90, n), 0).astype(np.float64),
        "card_expiring_30d": (rng.random(n) < 0.03).astype(np.float64),
        "champion_changed_90d": (rng.random(n) < 0.03).astype(np.float64),
        "email_opt_out": (rng.random(n) < 0.05).astype(np.float64),
        "competitor_detected": (rng.random(n) < 0.02).astype(np.float64),
        "own_widget_removed": (rng.random(n) < 0.01).astype(np.float64),
        "churned": (rng.random(n) < 0.02).astype(np.float64),
        "support_hours_90d": rng.gamma(1, 3, n),
    }
    ages = {name: rng.uniform(0, 40, n).astype(np.float32) for name in numeric}
    status = Categorical(rng.choice(6, n, p=[0.86, 0.04, 0.04, 0.02, 0.02, 0.02]).astype(np.int32),
                         ("active", "trialing", "past_due", "unpaid", "canceled", "paused"))
    ages["subscription_status"] = rng.uniform(0, 3, n).astype(np.float32)
    segment = Categorical(rng.choice(4, n, p=[0.1, 0.3, 0.5, 0.1]).astype(np.int32),
                          ("Enterprise", "Mid-Market", "SMB", "unknown"))
    owners = n // 400 + 1
    history_age = np.tile(np.arange(56, 0, -7, dtype=np.float32), (n, 1))
    trend = rng.normal(0, 4, n).astype(np.float32)
    history_value = np.clip(60 * health[:, None] + 20 - trend[:, None] * history_age / 30
                            + rng.normal(0, 2, history_age.shape), 0, 100).astype(np.float32)
    return ScoringInputs.from_arrays(
        NOW, np.array([f"001{i:015d}" for i in range(n)], dtype=object), segment,
        owner=Categorical(rng.integers(0, owners, n).astype(np.int32), tuple(f"005{i:05d}" for i in range(owners))),
        contract_start=today - rng.uniform(0, 720, n), renewal_date=today + rng.uniform(-10, 365, n),
        arr=rng.lognormal(9.5, 1.0, n), numeric=numeric, ages=ages, text={"subscription_status": status},
        history_age=history_age, history_value=history_value, previous=_previous(n, rng, today, history_value),
    )


def _previous(n: int, rng: np.random.Generator, today: float, history: np.ndarray) -> PreviousState:
    names = ("vector_negative", "payment_failed", "renewal", "milestone_overdue")
    plays = PlayState.empty(n, names)
    active = rng.random((len(names), n)) < 0.05
    plays.first[active] = today - rng.uniform(1, 20, int(active.sum()))
    plays.step[active] = rng.integers(-1, 2, int(active.sum()))
    plays.last[active & (plays.step >= 0)] = today - 4
    direction = np.sign(np.round(rng.normal(0, 0.7, n))).astype(np.int8)
    return PreviousState(history[:, -1].astype(np.float64), direction, (), np.zeros((n, 0), np.float32), (),
                         np.zeros((n, 0)), plays, TrendColumns.empty(n, 0), np.full(n, None, object))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def kernel_one(n: int) -> dict[str, float]:
    model = load_model(default_model_path())
    t0 = time.perf_counter()
    inputs = synthetic(n)
    t1, c1 = time.perf_counter(), time.process_time()
    result = score(inputs, model, NOW)
    t2 = time.perf_counter()
    tasks = result.tasks()
    t3 = time.perf_counter()
    forecast = result.forecast()
    t4, c4 = time.perf_counter(), time.process_time()
    return {"n": n, "build_s": t1 - t0, "score_s": t2 - t1, "tasks_s": t3 - t2, "forecast_s": t4 - t3,
            "total_s": t4 - t1, "cpu_s": c4 - c1, "tasks": len(tasks), "forecast_90d_arr": forecast["total_arr"]["90"],
            "peak_rss_mb": _peak_mb()}


# -- the stage from the store ----------------------------------------------------------------------------


def _store(backend: str, workdir: Path) -> Iterator[Any]:
    """A fresh store: a SQLite file, or a throwaway schema on ``CONNECTOR_TEST_POSTGRES_URL``."""
    from connector.store import Store

    if backend == "sqlite":
        store = Store(f"sqlite:///{workdir / 'state.db'}")
        yield store
        store.close()
        return
    from connector.store.scratch import scratch_postgres_store

    with scratch_postgres_store(os.environ["CONNECTOR_TEST_POSTGRES_URL"], prefix="bench") as store:
        yield store


class _Clock:
    """Process CPU seconds and wall seconds per named part of a cycle."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self.peak: dict[str, float] = {}  # ru_maxrss by the end of each part: the first jump is the culprit

    def part(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        c, w = time.process_time(), time.perf_counter()
        out = fn(*args, **kwargs)
        self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c
        self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w
        self.peak[name] = _peak_mb()
        return out

    def timing(self, obj: Any, method: str, name: str) -> None:
        """Time every call of ``obj.method`` as part ``name`` (the instance's attribute shadows the class's)."""
        inner = getattr(obj, method)
        setattr(obj, method, lambda *args, **kwargs: self.part(name, inner, *args, **kwargs))

    def carve(self, outer: str, *inner: str) -> None:
        """``outer``'s figures without the parts timed inside it (CPU and wall; peaks stay as read)."""
        for figures in (self.cpu, self.wall):
            figures[outer] = figures.get(outer, 0.0) - sum(figures.get(name, 0.0) for name in inner)


def _cycle(runner: Any, mapping: Any, now: datetime, force: bool = False) -> dict[str, Any]:
    """What a sync does after its pull, minus the API calls: resolve, the settled-cycle check, then (unless
    nothing changed since the last complete cycle the same day, or ``force`` as ``sync --full``) the sync's
    own score stage (``SyncRunner.score``: load, kernel, tasks and the day's facts, persist) and the diff —
    and, complete, the record that lets the next quiet cycle skip.

    The score stage is the sync's code, not a copy of it, so it keeps and frees memory as a sync does; its
    parts are timed by wrapping the runner's methods: load (``scoring_inputs``), kernel (the rest of
    ``evaluate``), persist (``save_states`` + ``append_points``), and tasks (the rest of ``score``)."""
    from connector.batching import batched
    from connector.incremental import cycle_scope
    from connector.memory import release_free_memory
    from connector.settled import clear_settled, cycle_key, record_settled, settled_since
    from connector.sinks.base import record_confirmed, stream_changes
    from connector.sync import SyncResult

    store = runner.store
    result = SyncResult(run_id=store.start_run("bench"))
    clock = _Clock()
    clock.part("resolve", runner.resolve, result)
    key = clock.part("check", cycle_key, store, runner.config, now)
    if not force and clock.part("check", settled_since, store, key) is not None:
        store.finish_run(result.run_id, "ok", {})
        return {"cpu": clock.cpu, "wall": clock.wall, "peak_after": clock.peak, "cpu_total": sum(clock.cpu.values()),
                "changed_records": 0, "peak_rss_mb": _peak_mb(), "settled": True, "scored": 0}
    scope = clock.part("check", lambda: cycle_scope(store, key, full=force))  # every account, or those changed today
    clock.part("check", clear_settled, store)
    for method, name in (("scoring_inputs", "load"), ("evaluate", "kernel"), ("save_states", "persist"),
                         ("append_points", "persist")):
        clock.timing(runner, method, name)
    outputs, _tasks = clock.part("tasks", runner.score, now, result, persist=True, only=scope.only,
                                 facts=scope.facts, configuration=key.configuration)
    clock.carve("kernel", "load")
    clock.carve("tasks", "load", "kernel", "persist")
    release_free_memory()

    def diff() -> int:
        """What a sink does without its API calls: the diff stream, confirmed a window at a time."""
        changes = stream_changes(store, "salesforce", "Account", mapping,
                                 ((o.account_id, o) for o in outputs), settle=True)
        count = 0
        for window in batched(changes, 2000):
            record_confirmed(store, "salesforce", "Account", window, result.run_id)
            count += len(window)
        return count

    changed = clock.part("diff", diff)
    # the task sink's confirmation: the CRM holds the tasks this pass planned, so the next pass does not
    # plan them again as unconfirmed (SyncRunner._with_unconfirmed), as after a real sync; its own part,
    # so that the diff stays comparable with earlier sessions' figures
    clock.part("ledger", _confirm_tasks, store, runner.config.connector.primary_crm, _tasks, now)
    clock.part("check", record_settled, store, key, result.run_id, now, scope.consumed)
    store.finish_run(result.run_id, "ok", {})
    return {"cpu": clock.cpu, "wall": clock.wall, "peak_after": clock.peak, "cpu_total": sum(clock.cpu.values()),
            "changed_records": changed, "peak_rss_mb": _peak_mb(), "settled": False, "scored": result.scored}


def _confirm_tasks(store: Any, system: str, tasks: list[Any], now: datetime) -> None:
    """What :class:`~connector.sinks.tasks.TaskLedger` records once the CRM accepted a pass's tasks."""
    from connector.store.store import TaskLedgerEntry

    store.upsert_tasks([TaskLedgerEntry(system, t.key, t.account_id, t.play, t.step, f"bench-{t.key}", t.status,
                                        None, now, now, close_reason=t.close_reason) for t in tasks])


def _steps(n: int, shares: tuple[float, ...]) -> list[dict[str, Any]]:
    """The cycles a stage run makes, in order: label, clock, ``sync --full`` or not, readings changed first."""
    now = STAGE_NOW
    steps = [{"label": "first", "now": now}]
    steps.append({"label": "unchanged", "now": (now := now + timedelta(minutes=2))})
    steps.append({"label": "unchanged_full", "now": (now := now + timedelta(minutes=2)), "force": True})
    steps.append({"label": "changed_1pct", "now": (now := now + timedelta(minutes=2)), "share": 0.01, "version": 1})
    for version, share in enumerate(shares, start=2):  # cost against changed accounts, same day
        steps.append({"label": "by_changed", "now": (now := now + timedelta(minutes=2)), "share": share,
                      "version": version})
    # The next UTC day's first cycle: every account again (ages, windows, the trend's new point), as a daemon's
    # first cycle of each day does — the full pass as it really comes, with the trend sums in the states.
    steps.append({"label": "new_day", "now": STAGE_NOW + timedelta(days=1)})
    return steps


def _step(store: Any, n: int, step: dict[str, Any], profile: bool) -> dict[str, Any]:
    """One cycle of :func:`_steps` on ``store`` (readings changed first when the step says so, not counted)."""
    from connector.config import config_from_dict
    from connector.garbage import freeze_startup_objects
    from connector.mappings import load_mapping
    from connector.memory import pin_mmap_threshold
    from connector.sandbox.store_world import change
    from connector.sync import SyncRunner

    config = config_from_dict({"salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False}})
    mapping = load_mapping(ROOT / "mappings" / "salesforce.toml")
    runner = SyncRunner(config, store, sources=[], sinks=[])
    pin_mmap_threshold()  # as SyncRunner.run does at its start
    freeze_startup_objects()
    picked = change(store, n, step["share"], step["now"], version=step["version"]) if "share" in step else []
    with _profiled() if profile and step.get("force") else nullcontext():  # the full pass (`--full`)
        row = _cycle(runner, mapping, step["now"], force=bool(step.get("force")))
    return {"share": step["share"], "changed": len(picked), **row} if step["label"] == "by_changed" else row


@contextmanager
def _profiled() -> Iterator[None]:
    """cProfile of the block, its 50 costliest functions to stderr."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(50)


def stage_one(n: int, backend: str, profile: bool, shares: tuple[float, ...] = (), alone: bool = False
              ) -> dict[str, Any]:
    from connector.sandbox.store_world import fill

    out: dict[str, Any] = {"n": n, "backend": backend, "by_changed": []}
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as tmp:
        stores = _store(backend, Path(tmp))
        store = next(stores)
        try:
            started = time.perf_counter()
            fill(store, n, STAGE_NOW)
            out["fill_s"] = time.perf_counter() - started
            out["fill_peak_rss_mb"] = _peak_mb()
            for step in _steps(n, shares):
                if alone:  # a fresh process on the same store file: this cycle's peak RSS is its own
                    args = [sys.executable, __file__, "--step", json.dumps({**step, "now": step["now"].isoformat()}),
                            "--db", str(store.engine.url.database), "--size", str(n), *(["--profile"] * profile)]
                    proc = subprocess.run(args, stdout=subprocess.PIPE, text=True, check=True)
                    row = json.loads(proc.stdout.strip().splitlines()[-1])
                else:
                    row = _step(store, n, step, profile)
                if step["label"] == "by_changed":
                    out["by_changed"].append(row)
                else:
                    out[step["label"]] = row
        finally:
            next(stores, None)
    return out


def step_alone(raw: str, db: str, n: int, profile: bool) -> dict[str, Any]:
    """``--step``: one cycle in this fresh process, on the SQLite store a stage run filled."""
    from connector.store import Store

    step = {**json.loads(raw)}
    step["now"] = datetime.fromisoformat(step["now"])
    store = Store(f"sqlite:///{db}")
    try:
        return _step(store, n, step, profile)
    finally:
        store.close()


def _print_stage(r: dict[str, Any]) -> None:
    cycles = [(label, r[label]) for label in ("first", "unchanged", "unchanged_full", "changed_1pct")]
    cycles += [(f"changed {c['changed']:,}", c) for c in r.get("by_changed", [])]
    cycles += [("new_day", r["new_day"])] if "new_day" in r else []
    for label, c in cycles:
        parts = "  ".join(f"{k} {v:6.2f}" for k, v in c["cpu"].items())
        print(f"{r['n']:>9,} {r['backend']:<10} {label:<14} cpu {c['cpu_total']:7.2f} s  ({parts})  "
              f"scored {c.get('scored', 0):>7,}  changed records {c['changed_records']:>7,}  "
              f"peak RSS {c['peak_rss_mb']:6.0f} MB"
              f"{'  settled' if c.get('settled') else ''}", flush=True)


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sizes", nargs="*", type=int)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--store", action="store_true", help="the real stage from the store (default)")
    mode.add_argument("--kernel", action="store_true", help="score() alone on synthetic columns")
    ap.add_argument("--pg", action="store_true", help="PostgreSQL at CONNECTOR_TEST_POSTGRES_URL instead of SQLite")
    ap.add_argument("--profile", action="store_true", help="cProfile of the full pass (unchanged, --full), to stderr")
    ap.add_argument("--json", type=Path, help="also write every size's figures as JSON here (bench/plot_scaling.py)")
    ap.add_argument("--shares", type=float, nargs="*", default=[],
                    help="after the 1 %% cycle, one more same-day cycle per share of accounts changed (e.g. 0.001 0.1)")
    ap.add_argument("--alone", action="store_true",
                    help="each cycle in a fresh process on the same store, for its own peak RSS (SQLite only)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    backend = "postgresql" if args.pg else "sqlite"
    if args.alone and args.pg:
        ap.error("--alone runs each cycle on the SQLite file the run filled; drop --pg or --alone")
    if args.step:
        print(json.dumps(step_alone(args.step, args.db, args.size, args.profile)))
        return
    if args.one:
        data = kernel_one(args.one) if args.kernel else stage_one(args.one, backend, args.profile, tuple(args.shares),
                                                                  args.alone)
        print(json.dumps(data))
        return
    sizes = args.sizes or list(KERNEL_SIZES if args.kernel else SIZES)
    flags = (["--kernel"] if args.kernel else []) + (["--pg"] if args.pg else []) + \
        (["--profile"] if args.profile else []) + (["--shares", *map(str, args.shares)] if args.shares else []) + \
        (["--alone"] if args.alone else [])
    rows = []
    if args.kernel:
        print(f"{'accounts':>10} {'score s':>8} {'tasks s':>8} {'fcst s':>7} {'total s':>8} {'µs/acct':>8} "
              f"{'cpu s':>7} {'tasks':>8} {'peak RSS MB':>12}   (build s, not counted)")
    for n in sizes:
        proc = subprocess.run([sys.executable, __file__, "--one", str(n), *flags], stdout=subprocess.PIPE,
                              text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(r)
        if args.kernel:
            print(f"{n:>10,} {r['score_s']:>8.2f} {r['tasks_s']:>8.2f} {r['forecast_s']:>7.2f} {r['total_s']:>8.2f} "
                  f"{r['total_s'] / n * 1e6:>8.2f} {r['cpu_s']:>7.2f} {r['tasks']:>8,} {r['peak_rss_mb']:>12.0f}"
                  f"   ({r['build_s']:.2f})", flush=True)
        else:
            print(f"{n:>9,} {backend}: store filled in {r['fill_s']:.1f} s (not counted)", flush=True)
            _print_stage(r)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        cost = (lambda r: r["total_s"]) if args.kernel else (lambda r: r["unchanged_full"]["cpu_total"])
        ratio = (cost(b) / b["n"]) / (cost(a) / a["n"])
        shape = "linear" if ratio < 1.5 else "super-linear"
        print(f"growth: cost per account ×{ratio:.2f} from {a['n']:,} to {b['n']:,} accounts → {shape}")


if __name__ == "__main__":
    main(sys.argv[1:])
