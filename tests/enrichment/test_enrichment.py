"""Technology-lookup emulator, client and enrichment source: batching, cache, cap and the signals."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from connector.clients.techlookup import TechLookupError, build_client
from connector.records import Account
from connector.sandbox.core import SandboxClock
from connector.sandbox.techlookup import SANDBOX_KEY
from connector.sources.enrichment import account_domains, normalise_domain

from .conftest import KEY_ENV, OWN, StartEnrichment, profile


def _domains(n: int) -> list[str]:
    return [f"customer{i:02d}.example" for i in range(n)]


def test_lookups_go_16_domains_per_call_and_each_domain_costs_one_credit(start_enrichment: StartEnrichment,
                                                                        clock: SandboxClock) -> None:
    now = clock.now()
    env = start_enrichment([profile(d, now, RivalChat=2) for d in _domains(40)])
    env.accounts(_domains(40))
    obs, quarantined = env.pull()
    assert len(env.lookups()) == 3 and env.credits(3) == [16, 16, 8]
    assert len(obs) == 40 and not quarantined
    assert all(o.signals["competitor_detected"] == 1.0 for o in obs.values())
    assert obs["customer00.example"].keys.domain == "customer00.example"


def test_cache_ttl_means_a_second_run_makes_no_calls(start_enrichment: StartEnrichment,
                                                     clock: SandboxClock) -> None:
    now = clock.now()
    env = start_enrichment([profile(d, now) for d in _domains(5)], cache_ttl_days=30)
    env.accounts(_domains(5))
    env.pull()
    env.lookups()
    obs, _ = env.pull()
    assert env.lookups() == [] and obs == {}
    clock.advance(timedelta(days=1))
    obs, _ = env.pull()  # a new day recomputes the windowed signals from the cache, still without calls
    assert env.lookups() == [] and len(obs) == 5
    clock.advance(timedelta(days=30))
    env.pull()
    assert len(env.lookups()) == 1


def test_per_run_cap_spreads_lookups_and_takes_the_stalest_first(start_enrichment: StartEnrichment,
                                                                 clock: SandboxClock) -> None:
    now = clock.now()
    env = start_enrichment([profile(d, now) for d in _domains(40)], max_lookups_per_run=20, cache_ttl_days=10)
    env.accounts(_domains(40))
    first, _ = env.pull()
    assert [c.status for c in env.lookups()] == [200, 200]
    clock.advance(timedelta(hours=1))
    second, _ = env.pull()
    assert len(env.lookups()) == 2 and set(first).isdisjoint(second) and len(first | second) == 40
    clock.advance(timedelta(hours=1))
    env.pull()
    assert env.lookups() == []
    clock.advance(timedelta(days=10))
    third, _ = env.pull()
    refreshed = {d for d, o in third.items() if o.as_of > clock.now() - timedelta(minutes=1)}
    assert refreshed == set(first)  # the batch looked up longest ago is refreshed first


def test_competitor_and_own_widget_signals(start_enrichment: StartEnrichment, clock: SandboxClock) -> None:
    now = clock.now()
    env = start_enrichment([
        profile("live-rival.example", now, RivalChat=3, OtherDesk=10, OurWidget=2),
        profile("old-rival.example", now, RivalChat=100, OurWidget=1),
        profile("widget-gone.example", now, OurWidget=90),
        profile("never-had.example", now),
        profile("will-remove.example", now, OurWidget=1),
    ], cache_ttl_days=7)
    env.accounts(["live-rival.example", "old-rival.example", "widget-gone.example", "never-had.example",
                  "will-remove.example", "unknown.example"])
    obs, _ = env.pull()
    signals = {d: dict(o.signals) for d, o in obs.items()}
    assert signals["live-rival.example"] == {"competitor_detected": 1.0, "competitor_names": "OtherDesk, RivalChat",
                                             "own_widget_removed": 0.0}
    assert signals["old-rival.example"]["competitor_detected"] == 0.0
    assert signals["widget-gone.example"]["own_widget_removed"] == 1.0
    assert signals["never-had.example"]["own_widget_removed"] == 0.0
    assert signals["unknown.example"] == {"competitor_detected": 0.0, "competitor_names": None,
                                          "own_widget_removed": 0.0}
    assert signals["will-remove.example"]["own_widget_removed"] == 0.0

    env.emulator.backend.remove("will-remove.example", OWN)
    env.emulator.backend.install("never-had.example", "RivalChat")
    clock.advance(timedelta(days=8))
    obs, _ = env.pull()
    assert obs["will-remove.example"].signals["own_widget_removed"] == 1.0  # gone since our last lookup
    assert obs["never-had.example"].signals["competitor_names"] == "RivalChat"
    clock.advance(timedelta(days=8))
    obs, _ = env.pull()
    assert obs["will-remove.example"].signals["own_widget_removed"] == 1.0  # still gone, still flagged


def test_bad_key_is_refused_without_leaking_it(start_enrichment: StartEnrichment, clock: SandboxClock,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    env = start_enrichment([])
    monkeypatch.setenv(KEY_ENV, "11111111-2222-3333-4444-wrongkey9999")
    assert env.config.enrichment is not None
    client = build_client(env.config.enrichment, env.http)
    with pytest.raises(TechLookupError) as err:
        list(client.lookup(["a.example"]))
    assert "401" in str(err.value) and "api_key_env" in str(err.value)
    assert "wrongkey9999" not in str(err.value) and SANDBOX_KEY not in str(err.value)


def test_more_than_16_domains_in_one_call_is_an_error(start_enrichment: StartEnrichment) -> None:
    env = start_enrichment([])
    body = requests.get(f"{env.server.url}/v21/api.json", params={"KEY": SANDBOX_KEY,
                                                                  "LOOKUP": ",".join(_domains(17))},
                        verify=env.ca).json()
    assert body["Results"] == [] and "16" in body["Errors"][0]["Message"]
    one = requests.get(f"{env.server.url}/v21/api.json", params={"KEY": SANDBOX_KEY, "LOOKUP": "www.Nope.example"},
                       verify=env.ca).json()
    assert one == {"Results": [{"Result": {"Paths": [], "IsDB": "False", "Spend": 0}, "Lookup": "nope.example",
                                "Meta": None, "Attributes": None}], "Errors": []}


def test_account_domains_are_normalised_and_deduplicated() -> None:
    accounts = [Account("1", "salesforce", "A", "https://www.A.example/"), Account("2", "salesforce", "B", "a.example"),
                Account("3", "salesforce", "C", None), Account("4", "salesforce", "D", "not a domain")]
    assert account_domains(accounts) == ["a.example"]
    assert normalise_domain("Sub.Example.COM.") == "sub.example.com"
