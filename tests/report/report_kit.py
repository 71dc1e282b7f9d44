"""A small, deterministic state store for report tests, written only through the Store API.

Two sync runs with scores (so the change section has something to compare), a failed run, a forecast in
the engine's shape, calls per system, quarantined records, and account names that must be escaped.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.records import Account, Quarantined
from connector.store import Store

HOSTILE_NAME = "<script>alert('pwned')</script> Corp"
UNICODE_NAME = "Café Zürich 株式会社 — Ünïcödé"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

_LONG_PATH = ["Kickoff done", "Onboarded and integrated", "First value", "Adoption", "Expansion-ready", "Advocate"]
SEGMENTS = {  # CRM segment text → the milestone names of the model segment it maps to, in path order
    "Enterprise": _LONG_PATH,
    "commercial": _LONG_PATH,  # an alias of mid_market in mappings/success_model.toml
    "SMB": ["Signed up and set up", "First value", "Adoption", "Ready for Pro", "Advocate"],
}
QUADRANTS = ("Success", "Work to keep (unhappy)", "Work to keep (unprofitable)", "Reassess")


def accounts(n: int) -> list[Account]:
    rng = random.Random(11)
    crm_segments = list(SEGMENTS)
    found = []
    for i in range(n):
        name = HOSTILE_NAME if i == 0 else UNICODE_NAME if i == 1 else f"Account {i:03d}"
        found.append(Account(account_id=f"001A{i:05d}", system="salesforce", name=name, domain=f"a{i}.example",
                             segment=crm_segments[i % len(crm_segments)], arr=float(rng.randint(2, 120) * 1000)))
    return found


def outputs(rng: random.Random, segment: str, magnitude: float, velocity: float) -> dict[str, Any]:
    path = SEGMENTS[segment]
    stage = rng.randint(-1, len(path) - 1)
    direction = "Positive" if velocity >= 3 else "Negative" if velocity <= -3 else "Flat"
    return {
        "success_vector": magnitude,
        "vector_velocity": velocity,
        "vector_direction": direction,
        "vector_confidence": rng.randint(40, 100),
        "vector_drivers": f"Held back by resolution time and seat utilisation; {velocity:+.1f} points in 30 days.",
        "current_stage": path[stage] if stage >= 0 else None,
        "next_milestone": path[stage + 1] if stage + 1 < len(path) else None,
        "next_milestone_due": "2026-12-01",
        "next_milestone_status": rng.choice(["On track", "At risk", "Overdue"]),
        "ttfv_days": rng.randint(10, 90) if stage >= 2 else None,
        "quadrant": rng.choice(QUADRANTS),
        "risk_flags": "payment_failed" if magnitude < 30 else "",
        "priority_band": rng.choice(["P1", "P2", "P3", "P4"]),
        "vector_updated_at": NOW.isoformat(),
    }


def score_rows(run_id: int, accts: list[Account], at: datetime, shift: float, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i, a in enumerate(accts):
        magnitude = round(min(100.0, max(0.0, random.Random(i).gauss(58, 18) + shift + rng.gauss(0, 4))), 1)
        velocity = round(rng.gauss(shift, 4), 1)
        out = outputs(rng, a.segment or "SMB", magnitude, velocity)
        rows.append({"run_id": run_id, "account_id": a.account_id, "scored_at": at, "magnitude": magnitude,
                     "velocity": velocity, "direction": out["vector_direction"],
                     "confidence": out["vector_confidence"], "quadrant": out["quadrant"], "outputs": out})
    return rows


def forecast() -> dict[str, Any]:
    def horizon(accounts: int, value: float) -> dict[str, Any]:
        return {"accounts": accounts, "by_direction": {"Negative": 0, "Flat": 1, "Positive": accounts - 1},
                "forecast_arr": value}

    return {
        "as_of": "2026-11-02",
        "horizons_days": [30, 60, 90],
        "take_rate": {"Positive": 0.9, "Flat": 0.4, "Negative": 0.1},
        "offers": [
            {"segment": "enterprise", "milestone": "expansion_ready", "milestone_name": "Expansion-ready",
             "offer": "+25 seats", "offer_arr": 30000,
             "horizons": {"30": horizon(3, 75000.0), "60": horizon(5, 123000.0), "90": horizon(8, 195000.0)}},
            {"segment": "smb", "milestone": "expansion_ready", "milestone_name": "Ready for Pro",
             "offer": "Upgrade to Pro", "offer_arr": 1200,
             "horizons": {"30": horizon(10, 9600.0), "60": horizon(14, 13200.0), "90": horizon(20, 19000.0)}},
        ],
        "total_arr": {"30": 84600.0, "60": 136200.0, "90": 214000.0},
    }


def stats(scored: int, calls_scale: int, with_forecast: bool) -> dict[str, Any]:
    return {
        "pulled": {"salesforce": {"accounts": scored, "observations": 0, "quarantined": 0},
                   "zendesk": {"accounts": 0, "observations": 40, "quarantined": 2}},
        "source_errors": {},
        "identity": {"rates": {"zendesk": {"total": 42, "matched": 40, "ambiguous": 1, "unmatched": 1,
                                           "match_rate": 0.9524}}},
        "scored": scored,
        "tasks_planned": {"vector_negative:open": 4},
        "sinks": {"salesforce": {"system": "salesforce", "records_updated": scored, "fields_written": scored * 5,
                                 "tasks_created": 4, "tasks_updated": 0, "tasks_closed": 1,
                                 "failures": [{"record_id": "001A00007", "message": "FIELD_CUSTOM_VALIDATION"}]}},
        "sink_errors": {"hubspot": "HTTPError: 503 from hubspot PATCH /crm/v3/objects/companies/batch/update"},
        "calls": {
            "salesforce": {"calls": 12 * calls_scale, "retries": 1, "errors": 1, "records": scored,
                           "rate_limit_wait_seconds": 0.0},
            "zendesk": {"calls": 30 * calls_scale, "retries": 3, "errors": 3, "records": 40,
                        "rate_limit_wait_seconds": 4.2},
            "hubspot": {"calls": 5 * calls_scale, "retries": 2, "errors": 2, "records": 0,
                        "rate_limit_wait_seconds": 0.0},
        },
        "forecast": forecast() if with_forecast else {},
    }


def fill_store(store: Store, n: int = 60) -> list[Account]:
    """Accounts, two scored sync runs, one failed run in between, and quarantined records."""
    accts = accounts(n)
    store.upsert_accounts(accts)
    first = store.start_run("sync")
    store.append_scores(score_rows(first, accts, NOW - timedelta(days=7), shift=0.0, seed=1))
    store.finish_run(first, "ok", stats(n, 3, with_forecast=True))
    failed = store.start_run("sync")
    store.finish_run(failed, "failed", {"pulled": {}}, error="ConnectionError: salesforce login timed out")
    second = store.start_run("sync")
    store.append_scores(score_rows(second, accts, NOW, shift=-2.0, seed=2))
    store.quarantine(second, [
        Quarantined("zendesk", "organization", "zd-org-17", "no identity key (domain, external_id) on organization",
                    {"name": HOSTILE_NAME}),
        Quarantined("zendesk", "organization", "zd-org-23", "no identity key (domain, external_id) on organization"),
        Quarantined("stripe", "customer", "cus_Q1", "currency XYZ is not a known ISO 4217 code"),
    ])
    store.finish_run(second, "partial", stats(n, 1, with_forecast=True))
    return accts
