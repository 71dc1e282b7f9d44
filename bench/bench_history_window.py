"""Benchmark: the score-history window on a store that has run for weeks — read for every account, or on demand.

    .venv/bin/python bench/bench_history_window.py                       # 100k accounts, ~10 min, ~8 GB of disk
    .venv/bin/python bench/bench_history_window.py --accounts 10000 --backfill 20

A store that has run for two months holds a score-history point per account per day, and the velocity
reads a 60-day window of them.  An account uses its history only until its engine state carries a trend
spanning ``min_history_span_days`` (new accounts, the weeks after an upgrade, a lost state); after that its
velocity comes from the trend.  The sync used to read the whole window for every account on every full
pass; it now reads it for the accounts that need it (``ScoringInputs.history_of``).  The bench world of
``bench_scoring.py`` is a day or two old, so it cannot show the difference; this one ages a store:

1. fill ``--accounts`` accounts (``connector.sandbox.store_world.fill``) and run the first sync's stage,
   then ``--days`` daily first cycles (each its own process, ``bench_scoring.py --step``: the sync's own
   score stage and diff), so every account's trend spans more than its minimum;
2. copy the first day's points to each of ``--backfill`` earlier days (magnitudes jittered by ±3), so the
   window holds what a store that has run ``days + backfill`` days holds;
3. time the next day's load and kernel (``SyncRunner.evaluate`` as the score stage calls it, nothing saved)
   each way, each in its own process, alternating, ``--repeat`` times: *every account* hands the whole
   window to :meth:`ScoringInputs.from_columns` as the sync did before; *on demand* is the sync's code.

Figures: process CPU seconds of the load and of load + kernel, peak RSS, and whether the two ways gave the
same velocities (they must: the bench fails otherwise).  SQLite.  Not a unit test.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scoring import STAGE_NOW

HERE = Path(__file__).resolve()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def age_store(db: Path, n: int, days: int, backfill: int) -> dict[str, float]:
    """Steps 1 and 2 of the module docstring on a new SQLite file; seconds spent on each."""
    from connector.sandbox.store_world import fill
    from connector.store import Store

    spent: dict[str, float] = {}
    started = time.perf_counter()
    store = Store(f"sqlite:///{db}")
    fill(store, n, STAGE_NOW)
    store.close()
    steps = [{"label": "first", "now": STAGE_NOW}]
    steps += [{"label": "new_day", "now": STAGE_NOW + timedelta(days=d)} for d in range(1, days + 1)]
    for step in steps:
        raw = json.dumps({**step, "now": step["now"].isoformat()})
        subprocess.run([sys.executable, str(HERE.parent / "bench_scoring.py"), "--step", raw, "--db", str(db),
                        "--size", str(n)], check=True, stdout=subprocess.DEVNULL)
    spent["fill_and_cycles_s"] = time.perf_counter() - started
    started = time.perf_counter()
    first = STAGE_NOW.date()
    with sqlite3.connect(db) as conn:
        for k in range(1, backfill + 1):
            day = (first - timedelta(days=k)).isoformat()
            conn.execute(
                "INSERT INTO score_history (run_id, account_id, scored_at, magnitude, velocity, direction, "
                "confidence, quadrant, outputs, digest) SELECT run_id, account_id, replace(scored_at, ?, ?), "
                "magnitude + (abs(random()) % 7) - 3, velocity, direction, confidence, quadrant, outputs, digest "
                "FROM score_history WHERE scored_at >= ? AND scored_at < ?",
                (first.isoformat(), day, first.isoformat(), (first + timedelta(days=1)).isoformat()))
            conn.commit()
    spent["backfill_s"] = time.perf_counter() - started
    return spent


def measure(db: str, now: datetime, every_account: bool) -> dict[str, Any]:
    """Step 3, one way, in this process."""
    import numpy as np

    from connector.config import config_from_dict
    from connector.scoring.inputs import ScoringInputs
    from connector.scoring.point_prints import PointPrints
    from connector.scoring.state_prints import StatePrints
    from connector.store import Store
    from connector.sync import SyncRunner

    if every_account:  # as before: the whole window handed over, no reader
        inner = ScoringInputs.from_columns.__func__  # type: ignore[attr-defined]

        def eager(cls: Any, *args: Any, history_reader: Any = None, **kwargs: Any) -> Any:
            accounts, signals, _, *rest = args
            return inner(cls, accounts, signals, history_reader(None), *rest, **kwargs)

        ScoringInputs.from_columns = classmethod(eager)  # type: ignore[method-assign, assignment]
    store = Store(f"sqlite:///{db}")
    config = config_from_dict({"salesforce": {"base_url": "https://unused.my.salesforce.com", "enabled": False}})
    runner = SyncRunner(config, store, sources=[], sinks=[])
    load_cpu: list[float] = []
    read = runner.scoring_inputs

    def timed_load(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        out = read(*args, **kwargs)
        load_cpu.append(time.process_time() - started)
        return out

    runner.scoring_inputs = timed_load  # type: ignore[method-assign]
    started = time.process_time()
    scored = runner.evaluate(now, None, None, save_packs=False, prints=StatePrints(), points=PointPrints())
    cpu = time.process_time() - started
    velocity = scored.vector.velocity
    store.close()
    return {"load_cpu_s": load_cpu[0], "load_kernel_cpu_s": cpu, "peak_rss_mb": _peak_mb(), "n": scored.inputs.n,
            "history_width": int(scored.inputs.history_age.shape[1]),
            "velocity_digest": __import__("hashlib").sha1(np.nan_to_num(velocity, nan=-1e9).tobytes()).hexdigest()}


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=9, help="daily cycles after the first (trends need 7)")
    ap.add_argument("--backfill", type=int, default=50, help="earlier days of points copied in")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--db", type=Path, help="keep the aged store here (default: a temporary directory)")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        way, db, now = json.loads(args.measure)
        print(json.dumps(measure(db, datetime.fromisoformat(now), way == "read for every account")))
        return
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        db = args.db or Path(tmp) / "state.db"
        spent = age_store(db, args.accounts, args.days, args.backfill)
        print(f"{args.accounts:,} accounts, {args.days + 1} daily cycles, {args.backfill} days of points copied in: "
              f"aged in {spent['fill_and_cycles_s']:.0f} s + {spent['backfill_s']:.0f} s (not counted)", flush=True)
        now = (STAGE_NOW + timedelta(days=args.days + 1)).isoformat()
        digests: set[str] = set()
        for attempt in range(args.repeat):
            for way in ("read for every account", "read on demand"):
                proc = subprocess.run([sys.executable, str(HERE), "--measure", json.dumps([way, str(db), now])],
                                      stdout=subprocess.PIPE, text=True, check=True)
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                digests.add(r["velocity_digest"])
                print(f"  run {attempt + 1}  history {way:<22} load {r['load_cpu_s']:7.2f} s  "
                      f"load + kernel {r['load_kernel_cpu_s']:7.2f} s  peak RSS {r['peak_rss_mb']:6.0f} MB  "
                      f"history columns held {r['history_width']}", flush=True)
        if len(digests) != 1:
            raise SystemExit("the two ways gave different velocities")
        print(f"same velocities both ways ({date.today().isoformat()})")


if __name__ == "__main__":
    main(sys.argv[1:])
