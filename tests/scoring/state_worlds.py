"""Multi-day scoring worlds and a by-name comparison of engine states, for the packed-state and output tests."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
from scoring_helpers import HEALTHY, NOW, run

from connector.scoring.packed_state import StateLayout, rows_from_bytes, unpack
from connector.scoring.previous import PreviousState
from connector.scoring.result import ScoringResult

SICK = {**HEALTHY, "active_users": 5, "payments_failed_90d": 2, "subscription_status": "past_due",
        "tickets_open": 9, "nps": 2}


def world(days: int, seed: int) -> ScoringResult:
    """Accounts of two segments, healthy and failing, a few with dated or undated milestones, scored on
    ``days`` consecutive days (each from the last day's JSON states, at a different time of day)."""
    rng = np.random.default_rng(seed)
    accounts: dict[str, dict[str, object]] = {}
    meta: dict[str, dict[str, object]] = {}
    for i in range(23):
        base = SICK if rng.random() < 0.35 else HEALTHY
        accounts[f"A{i}"] = {**base, "active_users": int(rng.integers(1, 90)),
                             "meaningful_events_30d": int(rng.integers(0, 300))}
        if rng.random() < 0.3:
            accounts[f"A{i}"]["subscription_started"] = 19_900.0 + float(rng.integers(0, 200))
        meta[f"A{i}"] = {"segment": "Enterprise" if i % 3 else "SMB",
                         "contract_start": date(2024, 1, 1) + timedelta(days=int(rng.integers(0, 400)))}
    slope = {a: int(rng.choice([-7, 0, 0, 6])) for a in accounts}  # some accounts rise or fall steadily
    late = set(list(accounts)[::5])  # and some start with almost no signal, then reach first value on day 2
    state: dict[str, dict[str, object]] = {}
    result = None
    for day in range(days):
        drift = {a: {**s, "active_users": min(100, max(0, int(str(s["active_users"])) + slope[a] * day
                                                        + int(rng.integers(-3, 4))))}
                 for a, s in accounts.items()}
        drift.update({a: {"active_users": 1, "licensed_seats": 100} for a in late if day < 2})
        when = NOW + timedelta(days=day, hours=int(rng.integers(0, 12)), seconds=float(rng.random() * 50))
        result = run(drift, now=when, state=state, accounts=meta)
        state = json.loads(json.dumps(dict(result.states())))  # as the store keeps it
    assert result is not None
    return result


def from_packed(result: ScoringResult, today: date) -> PreviousState:
    ids, layout, blobs, plans = [], None, [], []
    for block in result.packed_states():
        layout = block.layout
        for account, data, plan in block.records():
            ids.append(account)
            blobs.append(data)
            plans.append(plan)
    assert layout is not None and ids == [str(a) for a in result.inputs.account_ids]
    return unpack(StateLayout.from_json(layout.to_json()) or layout, rows_from_bytes(layout, blobs), plans, today)


def _by_name(names: tuple[str, ...], columns: np.ndarray, wanted: tuple[str, ...], empty: float, axis: int
             ) -> np.ndarray:
    """``columns`` (names along ``axis``) reordered to ``wanted``, ``empty`` where a name is missing."""
    moved = np.moveaxis(columns, axis, 0)
    out = np.full((len(wanted), *moved.shape[1:]), empty, np.float64)
    for j, name in enumerate(wanted):
        if name in names:
            out[j] = moved[names.index(name)]
    return out


def assert_same_previous(a: PreviousState, b: PreviousState) -> None:
    eq = np.testing.assert_array_equal
    eq(a.magnitude, b.magnitude)
    eq(a.direction, b.direction)
    inputs = tuple(sorted({*a.contribution_names, *b.contribution_names}))
    eq(_by_name(a.contribution_names, a.contributions, inputs, np.nan, 1),
       _by_name(b.contribution_names, b.contributions, inputs, np.nan, 1))
    for column in ("wy", "wty"):
        eq(_by_name(a.contribution_names, getattr(a.trend, column), inputs, 0.0, 1),
           _by_name(b.contribution_names, getattr(b.trend, column), inputs, 0.0, 1))
    for column in ("day", "scored", "candidate", "candidate_since", "since", "shared"):
        eq(getattr(a.trend, column), getattr(b.trend, column), err_msg=column)
    milestones = tuple(sorted({*a.milestone_names, *b.milestone_names}))
    eq(_by_name(a.milestone_names, a.achieved, milestones, np.nan, 1),
       _by_name(b.milestone_names, b.achieved, milestones, np.nan, 1))
    plays = tuple(sorted({*a.plays.names, *b.plays.names}))
    for column, empty in (("first", np.nan), ("step", -1), ("last", np.nan), ("cleared", np.nan)):
        eq(_by_name(a.plays.names, getattr(a.plays, column), plays, empty, 0),
           _by_name(b.plays.names, getattr(b.plays, column), plays, empty, 0), err_msg=column)
    assert list(a.plans) == list(b.plans)
