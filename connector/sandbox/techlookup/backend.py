"""A BuiltWith-style technology index for the sandbox: domain → technologies with first/last detection.

No HTTP here; :mod:`connector.sandbox.techlookup.app` speaks the Domain API's JSON.  The index is keyed
by root domain (BuiltWith answers a subdomain lookup with its root domain's result, and ``www.`` is the
same site), and a test or the demo can install or remove a technology between runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.sandbox.core import SandboxClock
from connector.sandbox.world import World


@dataclass
class Detected:
    name: str
    tag: str
    first_detected: datetime
    last_detected: datetime


@dataclass
class TechLookupBackend:
    """Domains and what was detected on them; unknown domains simply have nothing."""

    clock: SandboxClock
    profiles: dict[str, list[Detected]] = field(default_factory=dict)
    #: Technology entries served verbatim after a domain's profile (malformed ones, planted by tests).
    raw: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def load_world(self, world: World) -> None:
        for profile in world.tech:
            if profile.domain:
                self.profiles[root_domain(profile.domain)] = [
                    Detected(t.name, t.tag, t.first_detected, t.last_detected) for t in profile.technologies]

    def lookup(self, domain: str) -> list[Detected]:
        return list(self.profiles.get(root_domain(domain), []))

    def plant_raw(self, domain: str, entry: dict[str, Any]) -> None:
        """Serve ``entry`` as-is among ``domain``'s technologies (to see how a client copes with junk)."""
        self.raw.setdefault(root_domain(domain), []).append(entry)

    def install(self, domain: str, name: str, tag: str = "widgets") -> None:
        """``name`` is seen on ``domain`` now (first detection now if it is new)."""
        now = self.clock.now()
        techs = self.profiles.setdefault(root_domain(domain), [])
        for tech in techs:
            if tech.name == name:
                tech.last_detected = now
                return
        techs.append(Detected(name, tag, now, now))

    def remove(self, domain: str, name: str) -> None:
        """``name`` disappears from the index for ``domain`` (as when a crawl no longer lists it)."""
        key = root_domain(domain)
        self.profiles[key] = [t for t in self.profiles.get(key, []) if t.name != name]


def root_domain(domain: str) -> str:
    return domain.strip().lower().removeprefix("www.").rstrip(".")
