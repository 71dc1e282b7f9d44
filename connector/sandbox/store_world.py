"""A synthetic state store: accounts and what five sources observed, for the scoring-stage benchmark
(``bench/bench_scoring.py``) and the incremental-equals-full property test.

Why not the sandbox: a 100k-account sandbox sync takes tens of minutes, most of it emulators and HTTP,
while the question here is what the connector spends *after* the pull (resolve, load, score, diff).
So the store is filled the way the pull stage fills it (``upsert_accounts``, ``upsert_observations``),
with about 27 signals per account over five sources and the identity keys each source really carries
(CRM id, external id, domain, e-mail domain; some records ambiguous or unmatched), seeded.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import numpy as np

from connector.records import Account, IdentityKeys, Observation, SignalValue
from connector.store import Store

BATCH = 5000
STATUSES = ("active", "active", "active", "active", "trialing", "past_due", "unpaid", "canceled")


def account_id(i: int) -> str:
    return f"001{i:015d}"


def accounts(n: int, seed: int = 7, per_owner: int = 400) -> Iterator[Account]:
    rng = np.random.default_rng(seed)
    segments = rng.choice(["Enterprise", "Mid-Market", "SMB", "unknown"], n, p=[0.1, 0.3, 0.5, 0.1])
    start = rng.integers(0, 720, n)
    renew = rng.integers(-10, 365, n)
    arr = np.round(rng.lognormal(9.5, 1.0, n), 2)
    today = date(2026, 11, 2)
    for i in range(n):
        yield Account(account_id(i), "salesforce", f"Account {i}", f"acct{i}.example.com", f"ext-{i}",
                      f"005{i // per_owner:05d}", str(segments[i]), today - timedelta(days=int(start[i])),
                      today + timedelta(days=int(renew[i])), float(arr[i]))


def observations(ids: range, now: datetime, seed: int = 7, version: int = 0) -> Iterator[Observation]:
    """The sources' records for accounts ``ids``; ``version`` > 0 gives the same records with new readings
    (what a 1 %-changed re-sync pulls for the accounts that changed)."""
    rng = np.random.default_rng(seed * 1000 + version)
    for i in ids:
        health = float(rng.beta(4, 2))
        seats = float(rng.integers(3, 400))
        when = now - timedelta(hours=float(rng.uniform(0, 48)))

        def pois(scale: float) -> float:
            return float(rng.poisson(scale))

        zendesk: dict[str, SignalValue] = {
            "tickets_open": pois(8 * (1 - health)), "tickets_unresolved_over_n_days": pois(3 * (1 - health)),
            "tickets_urgent_open": pois(1 - health), "tickets_escalated_90d": pois(1),
            "tickets_created_90d": pois(20), "resolution_hours_median": round(float(rng.gamma(2, 20)), 2),
            "resolution_hours_p90": round(float(rng.gamma(2, 60)), 2), "support_hours_90d": pois(3)}
        stripe: dict[str, SignalValue] = {
            "mrr": round(float(rng.lognormal(6, 1)), 2), "payments_failed_90d": float(rng.random() < 0.04),
            "days_overdue": float(rng.integers(1, 90)) if rng.random() < 0.05 else 0.0,
            "card_expiring_30d": float(rng.random() < 0.03),
            "subscription_status": STATUSES[int(rng.integers(0, len(STATUSES)))]}
        usage: dict[str, SignalValue] = {
            "licensed_seats": seats, "active_users": float(np.floor(seats * health)),
            "key_features_total": 12.0, "features_adopted": float(np.floor(12 * health)),
            "meaningful_events_30d": pois(150 * health)}
        hubspot: dict[str, SignalValue] = {
            "nps": float(round(health * 10)) if rng.random() < 0.4 else None,
            "email_opt_out": float(rng.random() < 0.05), "champion_changed_90d": float(rng.random() < 0.03),
            "help_center_views_30d": pois(30 * health), "training_completed": pois(2 * health),
            "upsells_taken": pois(health), "advocacy": float(rng.random() < 0.05)}
        enrichment: dict[str, SignalValue] = {
            "competitor_detected": float(rng.random() < 0.02), "own_widget_removed": float(rng.random() < 0.01)}
        domain = f"acct{i}.example.com"
        yield Observation("zendesk", "organization", f"z{i}", IdentityKeys(external_id=f"ext-{i}", domain=domain),
                          zendesk, when)
        yield Observation("stripe", "customer", f"cus_{i}", IdentityKeys(crm_id=account_id(i), email_domain=domain),
                          stripe, when)
        yield Observation("usage", "account", f"u{i}", IdentityKeys(external_id=f"ext-{i}"), usage, when)
        yield Observation("hubspot", "company", f"h{i}", IdentityKeys(domain=domain), hubspot, when)
        yield Observation("enrichment", "domain", domain, IdentityKeys(domain=domain), enrichment, when)
        if i % 100 == 7:  # an unmatched and an ambiguous-looking record, as real sources have
            yield Observation("zendesk", "organization", f"zx{i}", IdentityKeys(domain=f"gone{i}.example.org"),
                              {"tickets_open": 1.0}, when)


def fill(store: Store, n: int, now: datetime, seed: int = 7, per_owner: int = 400) -> None:
    """Accounts and every source's observations for ``n`` accounts, written as the pull stage writes them."""
    batch: list[Account] = []
    for a in accounts(n, seed, per_owner):
        batch.append(a)
        if len(batch) >= BATCH:
            store.upsert_accounts(batch)
            batch.clear()
    store.upsert_accounts(batch)
    for start in range(0, n, BATCH // 5):
        store.upsert_observations(list(observations(range(start, min(n, start + BATCH // 5)), now, seed)))


def change(store: Store, n: int, share: float, now: datetime, seed: int = 7, version: int = 1) -> list[str]:
    """New readings for ``share`` of the accounts (every source's record of each); their account ids."""
    rng = np.random.default_rng(seed + version)
    picked = sorted(rng.choice(n, max(1, int(n * share)), replace=False).tolist())
    for start in range(0, len(picked), BATCH // 5):
        part = picked[start : start + BATCH // 5]
        store.upsert_observations([o for i in part for o in observations(range(i, i + 1), now, seed, version)])
    return [account_id(i) for i in picked]
