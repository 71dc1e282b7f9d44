"""Plain typed records that flow through the pipeline: sources → identity → scoring → sinks.

Everything here is immutable data with no behaviour that touches the outside world; side effects live at
the edges (sources read, sinks write, the store persists).  The names of signals and output fields are the
contract between stages, so they are listed here once (:data:`SIGNALS`, :data:`OUTPUT_FIELDS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

SignalValue = float | str | None


@dataclass(frozen=True, slots=True)
class IdentityKeys:
    """What a source record says about which customer it belongs to; identity resolution picks one."""

    crm_id: str | None = None
    external_id: str | None = None
    domain: str | None = None
    email_domain: str | None = None

    def present(self) -> dict[str, str]:
        return {k: v for k in ("crm_id", "external_id", "domain", "email_domain") if (v := getattr(self, k))}


@dataclass(frozen=True, slots=True)
class Account:
    """A customer account as the primary CRM knows it: the spine every signal is attached to."""

    account_id: str
    system: str  # the CRM holding the account: a name from ``registry.crms()``
    name: str
    domain: str | None = None
    external_id: str | None = None
    owner_id: str | None = None
    segment: str | None = None
    contract_start: date | None = None
    renewal_date: date | None = None
    arr: float | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """Signals one source computed for one of its entities (a Zendesk org, a Stripe customer, a domain).

    ``keys`` lets identity resolution find the account; ``entity_id`` is the source's own id, kept so an
    ambiguous or unmatched record can be reported by name.
    """

    source: str
    entity: str
    entity_id: str
    keys: IdentityKeys
    signals: Mapping[str, SignalValue]
    as_of: datetime


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A record that could not be used, with the reason an admin needs to fix it at the source."""

    source: str
    entity: str
    entity_id: str | None
    reason: str
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Signal:
    """One named input for one account, after identity resolution."""

    account_id: str
    name: str
    value: SignalValue
    as_of: datetime
    source: str


#: Canonical signal names and meaning.  Sources emit these; the success model refers to them by name.
#: Usage signals are configurable and may add names; enrichment adds ``competitor_names`` as text.
SIGNALS: dict[str, str] = {
    # Zendesk
    "tickets_open": "open + pending + on-hold tickets now (backlog)",
    "tickets_unresolved_over_n_days": "unsolved tickets older than zendesk.unresolved_after_days",
    "resolution_hours_median": "median full-resolution time (h) of tickets solved in the window",
    "resolution_hours_p90": "90th percentile full-resolution time (h) in the window",
    "tickets_urgent_open": "open tickets with priority urgent",
    "tickets_escalated_90d": "tickets tagged escalated / priority raised in the last 90 days",
    "tickets_created_90d": "ticket volume in the last 90 days (engagement, not risk by itself)",
    "help_center_views_30d": "self-service knowledge-base views (when available)",
    # Stripe
    "subscription_status": "text: trialing/active/past_due/unpaid/canceled/incomplete/paused",
    "payments_failed_90d": "failed payment attempts in the window",
    "days_overdue": "days since the oldest open invoice's due date (0 if none)",
    "card_expiring_30d": "1 if the default card expires within the window",
    "mrr": "monthly recurring revenue from active subscriptions",
    "discount_annual": "recurring coupon discounts on live subscriptions, per year (a cost to serve)",
    "subscription_started": "day (days since 1970-01-01) the customer's first subscription started",
    # Usage
    "active_users": "active users in the period (meaningful activity, not logins)",
    "licensed_seats": "seats bought",
    "seat_utilisation": "active_users / licensed_seats (derived)",
    "features_adopted": "key features in use",
    "key_features_total": "key features available to the plan",
    "feature_breadth": "features_adopted / key_features_total (derived)",
    "meaningful_events_30d": "count of outcome-moving actions in 30 days",
    # Enrichment
    "competitor_detected": "1 if a configured competitor technology is live on the account's domains",
    "competitor_names": "text: competitor technologies found",
    "own_widget_removed": "1 if our technology was detected before and is gone now",
    # CRM context
    "arr": "annual recurring revenue on the account",
    "champion_changed_90d": "1 if the champion / primary contact changed in 90 days",
    "email_opt_out": "1 if the primary contacts opted out of email",
    "training_completed": "training sessions / courses completed",
    "services_purchased": "1 if professional services were bought",
    "upsells_taken": "expansion offers accepted",
    "advocacy": "1 if the customer gave a reference, testimonial or case study",
    "nps": "latest NPS answer, 0–10",
    "churned": "1 if the account has churned",
    "churn_reason": "text: reason recorded on the account",
    "support_hours_90d": "CSM/support hours spent (cost to serve)",
    # The connector's own records
    "csm_tasks_90d": "tasks the connector gave the account's CSM in the 90 days before today (cost to serve)",
}


#: The Success Vector's direction labels, falling to rising (the ``vector_direction`` output's values).
DIRECTIONS = ("Negative", "Flat", "Positive")

#: Fields the connector writes per account (canonical names; mappings rename them per system).
OUTPUT_FIELDS: dict[str, str] = {
    "success_vector": "magnitude 0–100 (number, 1 decimal)",
    "vector_velocity": "points per 30 days (number, 1 decimal)",
    "vector_direction": "Positive / Flat / Negative",
    "vector_confidence": "0–100 % of the model's weight backed by fresh inputs (integer)",
    "vector_drivers": "one sentence: why it is where it is / why it changed (≤ 255 chars)",
    "current_stage": "the last milestone achieved (text)",
    "next_milestone": "the next milestone's name (text)",
    "next_milestone_due": "its due date (date)",
    "next_milestone_status": "On track / At risk / Overdue / Not yet (vendor opportunities never run late)",
    "ttfv_days": "time to first value in days (integer, empty until reached)",
    "quadrant": "Success / Work to keep (unhappy) / Work to keep (unprofitable) / Reassess",
    "cost_to_serve": "annual cost to serve: segment allocation + tickets + CSM time + billing discounts (number)",
    "risk_flags": "semicolon-separated flags, e.g. payment_failed;competitor_detected",
    "priority_band": "P1 (act first) … P4, for support queues",
    "priority_reason": "why the band, most serious first, e.g. 'P1: payment failed; vector falling 6/30d'",
    "vector_updated_at": "when the connector last changed these values (datetime)",
    "next_action": "the digital next step an automation enrols on, e.g. 'renewal: step 1 of 3 (email)' (text)",
}


@dataclass(frozen=True, slots=True)
class AccountOutput:
    """What the sinks write for one account: canonical field name → value (see :data:`OUTPUT_FIELDS`)."""

    account_id: str
    fields: Mapping[str, Any]
    owner_id: str | None = None
    domain: str | None = None
    name: str | None = None
    #: The table that made it and its row there (:class:`~connector.scoring.output_table.OutputTable`), so
    #: a sink's diff can read its record digest made a column at a time; not part of what it says.
    origin: tuple[Any, int] | None = field(default=None, compare=False, repr=False)


TaskPriority = Literal["High", "Normal", "Low"]
TaskChannel = Literal["email", "email_other_sender", "sms", "call", "task"]


#: Why the connector closed one of its tasks (recorded on every close; the connector never sets Completed):
#: the reasons no longer hold, another task replaced it, or it was folded into the account's one plan.
CloseReason = Literal["cleared", "superseded", "merged"]


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A task the success model wants to exist (``status='open'``) or be closed (``status='closed'``).

    ``key`` is stable per account plan (``account:plan:seq``) so that writing it twice, or after the state
    store was lost, updates the same CRM task instead of creating another; ``play`` is the plan's leading
    play and ``plays`` every reason merged into it, most important first.  A closed spec says why
    (``close_reason``).
    """

    key: str
    account_id: str
    play: str
    step: int
    channel: TaskChannel
    subject: str
    body: str
    due_date: date
    priority: TaskPriority
    owner_id: str | None
    status: Literal["open", "closed"] = "open"
    close_reason: CloseReason | None = None
    plays: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskEvidence:
    """What a person did to one of the connector's tasks, read back from the CRM since the last write.

    ``state``: ``completed`` (a CSM did the step: the only evidence that moves a ladder on at once),
    ``dismissed`` (deleted, or closed with any other status: not wanted, so not recreated within the
    play's cooldown) or ``open`` (still open; ``touched`` when someone edited it, which holds back an
    overdue escalation).  ``due`` and ``owner`` are the CRM's values now (a CSM's edit wins).
    """

    key: str
    account_id: str
    state: Literal["open", "completed", "dismissed"]
    at: datetime | None = None
    touched: bool = False
    due: date | None = None
    owner: str | None = None
