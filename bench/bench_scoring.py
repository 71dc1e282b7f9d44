"""Benchmark: score 10k / 100k / 1M synthetic accounts (vector + milestones + plays) with the default model.

    .venv/bin/python bench/bench_scoring.py            # 10k, 100k, 1M
    .venv/bin/python bench/bench_scoring.py 50000      # one size

Each size runs in a fresh subprocess so peak RSS (``ru_maxrss``) belongs to that size alone.  Inputs are
synthetic, seeded columns (about 30 signals, 8 history points, a previous run's state with open plays so
escalation and closing run too).  "score" is :func:`connector.scoring.score`; "tasks" turns the opened and
closed plays into ``TaskSpec`` objects; "build" (making the synthetic arrays) is reported but not counted.
Target: 1,000,000 accounts in ≤ 10 s with peak RSS ≤ 2 GB on a 2-core machine.  Not a unit test.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.scoring import ScoringInputs, default_model_path, load_model, score
from connector.scoring.conditions import Categorical
from connector.scoring.inputs import PlayState, PreviousState, day_number

NOW = datetime(2025, 3, 1, tzinfo=UTC)
SIZES = (10_000, 100_000, 1_000_000)


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
                         np.zeros((n, 0)), plays)


def run_one(n: int) -> dict[str, float]:
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
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n": n, "build_s": t1 - t0, "score_s": t2 - t1, "tasks_s": t3 - t2, "forecast_s": t4 - t3,
            "total_s": t4 - t1, "cpu_s": c4 - c1, "tasks": len(tasks), "forecast_90d_arr": forecast["total_arr"]["90"],
            "peak_rss_mb": peak_mb}


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        print(json.dumps(run_one(int(argv[1]))))
        return
    sizes = [int(a) for a in argv] or list(SIZES)
    print(f"{'accounts':>10} {'score s':>8} {'tasks s':>8} {'fcst s':>7} {'total s':>8} {'µs/acct':>8} "
          f"{'cpu s':>7} {'tasks':>8} {'peak RSS MB':>12}   (build s, not counted)")
    rows = []
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(f"{n:>10,} {r['score_s']:>8.2f} {r['tasks_s']:>8.2f} {r['forecast_s']:>7.2f} {r['total_s']:>8.2f} "
              f"{r['total_s'] / n * 1e6:>8.2f} {r['cpu_s']:>7.2f} {r['tasks']:>8,} {r['peak_rss_mb']:>12.0f}"
              f"   ({r['build_s']:.2f})")
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        ratio = (b["total_s"] / b["n"]) / (a["total_s"] / a["n"])
        shape = "linear" if ratio < 1.5 else "super-linear"
        print(f"growth: time per account ×{ratio:.2f} from {a['n']:,} to {b['n']:,} accounts → {shape}")


if __name__ == "__main__":
    main(sys.argv[1:])
