"""Does the Success Vector move on signal, not noise?  Figures read from a state store after a demo run.

Usage::

    .venv/bin/connector demo                       # 500 accounts, 6 weekly syncs → demo-output/
    .venv/bin/python bench/vector_signal.py [sqlite:///demo-output/state/connector.db]

Prints, from ``score_history`` (the last run of each day) and the account list:

* direction flips: share of accounts whose direction changed since the previous week, per week;
* drivers sentences that disagree in sign with the direction, name an absent risk as "strongest",
  or list a driver under the materiality threshold;
* median time to first value over accounts with a known date, and overdue milestones by kind;
* quadrant cells, priority bands, and pairs that break the support-queue invariant (a Positive account
  ranked above a Negative account with an urgent risk flag at an equal-or-lower ARR tier);
* the top 10 of the Zendesk queue as an agent would see it.
"""

from __future__ import annotations

import re
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.store import Store
from connector.store.schema import AccountRow, ScoreRow

DEFAULT_URL = f"sqlite:///{Path('demo-output/state/connector.db').resolve()}"
VENDOR_MILESTONES = {"Expansion-ready", "Ready for Pro", "Advocate"}
URGENT = {"payment_failed", "competitor_detected", "widget_removed", "champion_changed"}
ARR_TIERS = (5_000.0, 25_000.0, 100_000.0)
THRESHOLD = 0.5
_NUMBER = re.compile(r"\(([+−-]?\d+(?:\.\d+)?)\)|\s([+−-]\d+\.\d)\b")
_BANDS = {"P1": 0, "P2": 1, "P3": 2, "P4": 3}


def _tier(arr: float | None) -> int:
    return sum(1 for t in ARR_TIERS if (arr or 0.0) >= t)


def _runs(store: Store) -> list[dict[str, dict[str, Any]]]:
    """account → outputs (+ direction, magnitude) of the last run of each day, oldest day first."""
    by_run: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    day_of: dict[int, str] = {}
    with Session(store.engine) as s:
        for run_id, account_id, when, direction, magnitude, outputs in s.execute(select(
                ScoreRow.run_id, ScoreRow.account_id, ScoreRow.scored_at, ScoreRow.direction, ScoreRow.magnitude,
                ScoreRow.outputs)):
            by_run[int(run_id)][account_id] = {**(outputs or {}), "direction": direction, "magnitude": magnitude}
            day_of[int(run_id)] = str(when)[:10]
    last_of_day = {day: run for run, day in sorted(day_of.items())}
    return [by_run[run] for _, run in sorted(last_of_day.items())]


def _sign_of(sentence: str) -> int:
    head = sentence.split(":")[0].split(";")[0].lower()
    if head.startswith(("up", "rising")):
        return 1
    if head.startswith(("down", "falling")):
        return -1
    return 0


def _drivers_problems(runs: list[dict[str, dict[str, Any]]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for run in runs[2:]:
        for o in run.values():
            text, direction = str(o.get("vector_drivers") or ""), o.get("direction")
            sign = _sign_of(text)
            want = {"Positive": 1, "Negative": -1}.get(str(direction), 0)
            if want and sign and sign != want:
                out["direction and drivers disagree in sign"] += 1
            if want and not sign:
                out["moving direction, sentence does not say which way"] += 1
            if "strongest" in text:
                out["'strongest <input>' wording"] += 1
            for m in _NUMBER.finditer(text.split(";")[0]):
                value = float((m.group(1) or m.group(2)).replace("−", "-"))
                if abs(value) < THRESHOLD:
                    out["driver below the 0.5-point threshold"] += 1
            out["sentences checked"] += 1
    return out


def _queue_pairs(last: dict[str, dict[str, Any]], arr: dict[str, float | None]) -> int:
    """Positive accounts ranked above an urgent Negative one at an equal-or-lower ARR tier."""
    urgent_neg = [(a, o) for a, o in last.items() if o.get("direction") == "Negative"
                  and URGENT & set(str(o.get("risk_flags") or "").split(";"))]
    positive = [(a, o) for a, o in last.items() if o.get("direction") == "Positive"]
    bad = 0
    for b, ob in urgent_neg:
        for a, oa in positive:
            if _BANDS.get(oa.get("priority_band"), 9) < _BANDS.get(ob.get("priority_band"), 9) and \
                    _tier(arr[b]) <= _tier(arr[a]):
                bad += 1
    return bad


def main(url: str) -> None:
    store = Store(url, auto_migrate=False)
    try:
        runs = _runs(store)
        with Session(store.engine) as s:
            arr = {a: v for a, v in s.execute(select(AccountRow.account_id, AccountRow.arr))}
            names = {a: v for a, v in s.execute(select(AccountRow.account_id, AccountRow.name))}
    finally:
        store.close()
    print(f"{len(runs)} daily runs, {len(runs[-1])} accounts in the last")
    flips = []
    for k in range(1, len(runs)):
        shared = [a for a in runs[k] if a in runs[k - 1]]
        changed = sum(1 for a in shared if runs[k][a]["direction"] != runs[k - 1][a]["direction"])
        flips.append(changed / max(1, len(shared)))
        print(f"  week {k}: {changed} of {len(shared)} accounts changed direction ({flips[-1]:.0%})")
    ever_flipped = {a for k in range(1, len(runs)) for a in runs[k]
                    if a in runs[k - 1] and runs[k][a]["direction"] != runs[k - 1][a]["direction"]}
    print(f"direction flips after week 2: max {max(flips[2:], default=0):.1%} per week; "
          f"{len(ever_flipped) / max(1, len(runs[-1])):.0%} of accounts flipped at least once")
    last = runs[-1]
    print("directions now:", dict(Counter(o["direction"] for o in last.values())))
    for problem, count in sorted(_drivers_problems(runs).items()):
        print(f"  drivers: {problem}: {count}")
    ttfv = [o["ttfv_days"] for o in last.values() if isinstance(o.get("ttfv_days"), int | float)]
    print(f"median TTFV: {statistics.median(ttfv) if ttfv else None} days over {len(ttfv)} accounts with a date")
    overdue = [o for o in last.values() if o.get("next_milestone_status") == "Overdue"]
    vendor = sum(1 for o in overdue if o.get("next_milestone") in VENDOR_MILESTONES)
    print(f"overdue next milestones: {len(overdue)} (vendor milestones among them: {vendor})")
    print("quadrant cells:", dict(Counter(o.get("quadrant") for o in last.values())))
    bands = Counter(o.get("priority_band") for o in last.values())
    print("priority bands:", dict(sorted(bands.items(), key=lambda kv: str(kv[0]))))
    print("  P1 by direction:", dict(Counter(o["direction"] for o in last.values() if o.get("priority_band") == "P1")))
    print(f"queue invariant: {_queue_pairs(last, arr)} (Positive above urgent Negative at ≤ ARR tier) pairs")
    ranked = sorted(last.items(), key=lambda kv: (_BANDS.get(kv[1].get("priority_band"), 9),
                                                  float(kv[1].get("success_vector") or 101)))
    print("top 10 of the Zendesk queue (band, then lowest vector first, as the sandbox queue view sorts):")
    for a, o in ranked[:10]:
        print(f"  {o.get('priority_band')} {str(names.get(a))[:28]:28} vector {o.get('success_vector')} "
              f"{o.get('direction'):8} ARR {arr.get(a) or 0:>9,.0f} flags [{o.get('risk_flags')}] "
              f"reason: {o.get('priority_reason')}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL)
