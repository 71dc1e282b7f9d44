"""In-process checks of the pieces the daemon is built from: signatures, replay window, ticks, locks, config."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from daemon_kit import SECRETS, hubspot_headers, stripe_event, stripe_headers, zendesk_headers

from connector.config import ConfigError, Schedule, config_from_dict
from connector.daemon.coordination import LocalLocks, lock_key
from connector.daemon.replay import ReplayGuard
from connector.daemon.scheduler import build_trigger, last_tick
from connector.daemon.signatures import SignatureError, verify_hubspot, verify_stripe, verify_zendesk
from connector.daemon.webhooks import hubspot_events, stripe_events, zendesk_events

NOW = time.time()
BODY = stripe_event("evt_1", "cus_1")


def test_stripe_valid_forged_stale_and_malformed() -> None:
    header = stripe_headers(BODY, at=int(NOW))["Stripe-Signature"]
    assert verify_stripe(BODY, header, SECRETS["STRIPE_WHSEC"], tolerance=300, now=NOW)
    rolled = header.replace("v1=", "v1=" + "0" * 64 + ",v1=")  # secret rotation: any v1 may match
    assert verify_stripe(BODY, rolled, SECRETS["STRIPE_WHSEC"], tolerance=300, now=NOW)
    cases = [
        (BODY + b" ", header, NOW, 401),  # body tampered
        (BODY, stripe_headers(BODY, secret="whsec_other", at=int(NOW))["Stripe-Signature"], NOW, 401),
        (BODY, header, NOW + 301, 401),  # outside the tolerance
        (BODY, None, NOW, 401),
        (BODY, "v1=abc", NOW, 400),
        (BODY, "t=notanumber,v1=abc", NOW, 400),
    ]
    for body, hdr, now, status in cases:
        with pytest.raises(SignatureError) as err:
            verify_stripe(body, hdr, SECRETS["STRIPE_WHSEC"], tolerance=300, now=now)
        assert err.value.status == status
        assert SECRETS["STRIPE_WHSEC"] not in str(err.value)


def test_zendesk_signature() -> None:
    h = zendesk_headers(b'{"a":1}', at=NOW)
    sig, stamp = h["X-Zendesk-Webhook-Signature"], h["X-Zendesk-Webhook-Signature-Timestamp"]
    assert verify_zendesk(b'{"a":1}', sig, stamp, SECRETS["ZD_WHSEC"], tolerance=300, now=NOW)
    for body, s, t, now, status in [
        (b'{"a":2}', sig, stamp, NOW, 401),
        (b'{"a":1}', sig, stamp, NOW + 400, 401),
        (b'{"a":1}', sig, "yesterday", NOW, 400),
        (b'{"a":1}', None, stamp, NOW, 401),
    ]:
        with pytest.raises(SignatureError) as err:
            verify_zendesk(body, s, t, SECRETS["ZD_WHSEC"], tolerance=300, now=now)
        assert err.value.status == status


def test_hubspot_signature_uses_full_uri_and_five_minutes() -> None:
    uri = "https://cs.example.com/webhooks/hubspot?x=a:b"
    h = hubspot_headers(uri, b"[]", at_ms=int(NOW * 1000))
    sig, stamp = h["X-HubSpot-Signature-v3"], h["X-HubSpot-Request-Timestamp"]
    secret = SECRETS["HS_CLIENT_SECRET"]
    assert verify_hubspot("POST", uri, b"[]", sig, stamp, secret, tolerance=900, now=NOW)
    encoded = "https://cs.example.com/webhooks/hubspot?x=a%3Ab"  # HubSpot decodes %3A before signing
    assert verify_hubspot("POST", encoded, b"[]", sig, stamp, secret, tolerance=900, now=NOW)
    with pytest.raises(SignatureError) as err:  # HubSpot's 5 minutes win over a longer configured tolerance
        verify_hubspot("POST", uri, b"[]", sig, stamp, secret, tolerance=900, now=NOW + 301)
    assert err.value.status == 401
    with pytest.raises(SignatureError):
        verify_hubspot("POST", "https://evil.example.com/webhooks/hubspot?x=a:b", b"[]", sig, stamp, secret,
                       tolerance=300, now=NOW)


def test_event_extraction() -> None:
    import json

    [e] = stripe_events(json.loads(BODY))
    assert (e.event_id, e.entity_id, e.relevant) == ("evt_1", "cus_1", True)
    [ignored] = stripe_events({"id": "evt_2", "type": "product.created", "data": {"object": {"id": "prod_1"}}})
    assert not ignored.relevant
    [z] = zendesk_events({"id": "01H", "type": "zen:event-type:ticket.priority_changed",
                          "detail": {"organization_id": 42}})
    assert (z.event_id, z.entity_id, z.relevant) == ("01H", "42", True)
    events = hubspot_events([{"eventId": 1, "subscriptionType": "company.propertyChange", "objectId": 7},
                             {"eventId": 2, "subscriptionType": "contact.propertyChange", "objectId": 9}])
    assert [(e.entity_id, e.relevant) for e in events] == [("7", True), (None, False)]
    for bad in ({"type": "x"}, [1, 2], "text"):
        with pytest.raises(ValueError):
            stripe_events(bad)
    with pytest.raises(ValueError):
        hubspot_events({"eventId": 1})


def test_replay_guard_forgets_after_the_window() -> None:
    now = [0.0]
    guard = ReplayGuard(10, clock=lambda: now[0])
    assert guard.first_time("a") and not guard.first_time("a")
    now[0] = 11
    assert guard.first_time("a")


def test_last_tick_for_interval_and_cron() -> None:
    at = datetime(2026, 11, 2, 10, 7, 30, tzinfo=UTC)
    assert last_tick(build_trigger(Schedule(every_minutes=15, jitter_seconds=0)), at) == at.replace(minute=0, second=0)
    assert last_tick(build_trigger(Schedule(every_seconds=2, jitter_seconds=0)), at) == at
    cron = build_trigger(Schedule(cron="0 9 * * 1-5", jitter_seconds=0))  # 2026-11-02 is a Monday
    assert last_tick(cron, at) == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    sunday = datetime(2026, 11, 8, 12, 0, tzinfo=UTC)
    assert last_tick(cron, sunday) == datetime(2026, 11, 6, 9, 0, tzinfo=UTC)


def test_local_locks_exclude_and_time_out() -> None:
    locks, stop = LocalLocks(), threading.Event()
    with locks.hold(["b", "a"], 1, stop) as held:
        assert held
        result: list[bool] = []
        t = threading.Thread(target=lambda: result.append(locks.hold(["a"], 0.3, stop).__enter__()))
        t.start()
        t.join()
        assert result == [False]
    with locks.hold(["a"], 0.3, stop) as again:
        assert again
    assert lock_key("public", "pull:zendesk") != lock_key("tenant2", "pull:zendesk")


def test_schedule_config_rules() -> None:
    base = {"salesforce": {"base_url": "https://x.my.salesforce.com", "session_id_env": "SF"}}
    with pytest.raises(ConfigError, match="under half the interval"):
        config_from_dict({**base, "schedules": {"pull": {"every_seconds": 10, "jitter_seconds": 5}}})
    with pytest.raises(ConfigError, match="crontab"):
        config_from_dict({**base, "schedules": {"pull": {"cron": "every day"}}})
    with pytest.raises(ConfigError, match="unknown source"):
        config_from_dict({**base, "schedules": {"sources": {"zendsk": {"every_minutes": 5}}}})
    cfg = config_from_dict({**base, "schedules": {"sources": {"zendesk": {"every_minutes": 5, "jitter_seconds": 0}}}})
    assert cfg.schedules.for_source("zendesk").every_minutes == 5
    assert cfg.schedules.for_source("stripe").every_minutes == 15


def test_cron_weekdays_follow_crontab_not_apscheduler() -> None:
    sunday_noon = datetime(2026, 11, 8, 12, 0, tzinfo=UTC)
    assert last_tick(build_trigger(Schedule(cron="30 8 * * 0", jitter_seconds=0)), sunday_noon) == datetime(
        2026, 11, 8, 8, 30, tzinfo=UTC
    )
    assert last_tick(build_trigger(Schedule(cron="*/20 * * * 7", jitter_seconds=0)), sunday_noon) == sunday_noon


def test_settled_and_incremental_runs_are_counted_in_metrics() -> None:
    from connector.daemon.metrics import DaemonMetrics
    from connector.daemon.pipeline import outcome_of
    from connector.sync import SyncResult

    metrics = DaemonMetrics()
    quiet = outcome_of(SyncResult(2, settled={"run_id": 1, "at": "2026-11-02T09:07:00+00:00"}))
    assert quiet.settled and not outcome_of(SyncResult(3)).settled
    metrics.observe_run("score", quiet, 1.0, NOW)
    metrics.observe_run("score", outcome_of(SyncResult(3)), 1.0, NOW)
    metrics.observe_run("score", outcome_of(SyncResult(4, scored=3, incremental={"changed": 3, "accounts": 80,
                                                                               "since_run": 1})), 1.0, NOW)
    metrics.observe_run("score", outcome_of(SyncResult(5, scored=80)), 1.0, NOW)
    text = metrics.render().decode()
    assert 'connector_job_runs_settled_total{job="score"} 1.0' in text
    assert 'connector_job_runs_total{job="score",status="ok"} 4.0' in text
    assert 'connector_accounts_scored_total{job="score",scope="changed"} 3.0' in text
    assert 'connector_accounts_scored_total{job="score",scope="all"} 80.0' in text
