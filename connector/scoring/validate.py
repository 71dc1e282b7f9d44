"""Meaning checks on a structurally valid success model: names, types, and the "never check in" rule.

Pydantic can say a weight is a number; only this module can say the number belongs to an input that
reads a signal nobody emits, or that a play would create a task with no reason.  Every problem is a
``(dotted key, message with the fix)`` pair so the admin sees all of them at once.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from connector.records import DIRECTIONS, SIGNALS
from connector.scoring.conditions import Condition, leaves

if TYPE_CHECKING:  # the model imports this module to validate itself
    from connector.scoring.model import SuccessModel

#: Signals whose values are text (compared with ==/in, never >=).
TEXT_SIGNALS = frozenset({"subscription_status", "competitor_names", "churn_reason"})

#: Facts the engine derives before plays and risk flags run; conditions may use them like signals.
NUMERIC_FACTS = {
    "success_vector": "magnitude 0–100",
    "vector_velocity": "points per 30 days",
    "vector_confidence": "0–100",
    "milestones_achieved": "how many of the segment's milestones are reached",
    "days_since_start": "days since contract start",
    "days_to_renewal": "days until the renewal date",
    "expansion_ready": "1 if a milestone with an offer was reached within orchestration.expansion_window_days",
    "cost_to_serve": "annual cost to serve (tickets, CSM hours, segment allocation)",
    "profit": "ARR minus cost to serve",
}
TEXT_FACTS = {
    "vector_direction": "Positive / Flat / Negative",
    "quadrant": "Success / Work to keep (unhappy) / Work to keep (unprofitable) / Reassess",
    "next_milestone": "key of the next milestone",
    "next_milestone_status": "On track / At risk / Overdue / Not yet (vendor opportunities)",
    "current_stage": "key of the last milestone reached",
    "segment": "segment key in this model",
}

#: Placeholders a play template may use; the numeric ones accept format specs like ``{velocity:+.1f}``.
NUMERIC_PLACEHOLDERS = frozenset({"vector", "velocity", "confidence", "arr", "step", "days_to_renewal"})
TEXT_PLACEHOLDERS = frozenset({
    "name", "account_id", "segment", "stage", "next_milestone", "next_milestone_due", "next_milestone_status",
    "next_milestone_when",
    "direction", "movement", "drivers", "reason", "bring", "quadrant", "channel", "renewal_date", "offer",
    "competitor_names", "play", "risk_flags",
})
REQUIRED_IN_BODY = ("reason", "stage", "next_milestone", "bring")
_CHECK_IN = re.compile(r"\bcheck(ing)?[\s-]*in\b|\btouch(ing)?[\s-]*base\b|\bjust checking\b", re.IGNORECASE)


def signal_kinds(model: SuccessModel) -> dict[str, str]:
    """Every signal the model may read → "numeric" or "text" (canonical ones plus ``extra_signals``)."""
    kinds = {name: ("text" if name in TEXT_SIGNALS else "numeric") for name in SIGNALS}
    kinds.update(model.extra_signals)
    return kinds


def semantic_problems(model: SuccessModel) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    signals = signal_kinds(model)
    with_facts = {**signals, **dict.fromkeys(NUMERIC_FACTS, "numeric"), **dict.fromkeys(TEXT_FACTS, "text")}
    problems += _check_inputs(model, signals)
    problems += _check_segments(model, signals)
    for seg_key, segment in model.segments.items():
        for k, ms in enumerate(segment.milestones):
            problems += [(f"segments.{seg_key}.milestones[{k}].dated_by",
                          f"{name!r} is not a date: use contract_start or a numeric date signal")
                         for name in ms.dated_by if name != "contract_start" and signals.get(name) != "numeric"]
    for name, cond in model.risk_flags.items():
        problems += _check_condition(cond, f"risk_flags.{name}", with_facts)
    problems += [("priority.urgent_flags", f"unknown risk flag {f!r}; define it under [risk_flags]")
                 for f in model.priority.urgent_flags if f not in model.risk_flags and f not in _BUILTIN_FLAGS]
    for name, play in model.plays.items():
        key = f"plays.{name}"
        problems += _check_condition(play.when, f"{key}.when", with_facts)
        problems += _unknown(play.segments, model.segments, f"{key}.segments", "segment")
        problems += _check_template(play.subject, play.reason, play.bring, play.body, key)
        problems += _unknown([s for s in play.route if s != "*"], model.segments, f"{key}.route", "segment")
        problems += [(f"{key}.route.{s}", bad) for s, r in play.route.items() if (bad := _bad_route(r))]
    problems += [(f"touch_models.{k}.route", bad) for k, t in model.touch_models.items()
                 if (bad := _bad_route(t.route))]
    for i, conflict in enumerate(model.orchestration.conflicts):
        where = f"orchestration.conflicts[{i}]"
        problems += _check_condition(conflict.when, f"{where}.when", with_facts)
        problems += _unknown(conflict.plays, model.plays, f"{where}.plays", "play")
    for i, sup in enumerate(model.suppressions):
        problems += _unknown(sup.segments, model.segments, f"suppressions[{i}].segments", "segment")
        problems += _unknown(sup.plays, model.plays, f"suppressions[{i}].plays", "play")
    if model.fallback_segment not in model.segments:
        problems.append(("fallback_segment", f"{model.fallback_segment!r} is not a segment; use one of "
                         f"{', '.join(model.segments)}"))
    for direction, rate in model.forecast.take_rate.items():
        if direction not in DIRECTIONS:
            problems.append((f"forecast.take_rate.{direction}", f"not a direction; use {', '.join(DIRECTIONS)}"))
        elif not 0 <= rate <= 1:
            problems.append((f"forecast.take_rate.{direction}", "a take rate is a share between 0 and 1"))
    missing_dirs = set(DIRECTIONS) - set(model.forecast.take_rate)
    if missing_dirs:
        problems.append(("forecast.take_rate", f"give a rate for {', '.join(sorted(missing_dirs))}"))
    return problems


def _bad_route(route: str) -> str | None:
    """Why a route is not one of owner | digital | user:<id or e-mail>, or None when it is."""
    if route in ("owner", "digital") or (route.startswith("user:") and len(route) > 5):
        return None
    return f"unknown route {route!r}; use owner, digital or user:<CRM user id or e-mail>"


_BUILTIN_FLAGS = frozenset({"vector_negative", "milestone_overdue", "low_confidence"})


def _check_inputs(model: SuccessModel, signals: dict[str, str]) -> list[tuple[str, str]]:
    problems = []
    for key, spec in model.inputs.items():
        where = f"inputs.{key}"
        if spec.signal not in signals:
            problems.append((f"{where}.signal", _unknown_name(spec.signal, signals, "signal")))
        elif signals[spec.signal] == "text" and spec.map is None:
            problems.append((f"{where}.curve", f"{spec.signal} is text: score it with map = {{value = score}}"))
        elif signals[spec.signal] == "numeric" and spec.curve is None:
            problems.append((f"{where}.map", f"{spec.signal} is a number: score it with curve = [[x, score], …]"))
    return problems


def _check_segments(model: SuccessModel, signals: dict[str, str]) -> list[tuple[str, str]]:
    problems = []
    for seg_key, seg in model.segments.items():
        where = f"segments.{seg_key}"
        if seg.touch not in model.touch_models:
            problems.append((f"{where}.touch", _unknown_name(seg.touch, model.touch_models, "touch model")))
        problems += _unknown(list(seg.weights), model.inputs, f"{where}.weights", "input")
        for i, ms in enumerate(seg.milestones):
            problems += _check_condition(ms.when, f"{where}.milestones[{i}].when", signals)
    return problems


def _check_condition(cond: Condition, where: str, names: dict[str, str]) -> list[tuple[str, str]]:
    problems = []
    for leaf in leaves(cond):
        if leaf.signal not in names:
            problems.append((where, _unknown_name(leaf.signal, names, "signal")))
            continue
        values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
        is_text = names[leaf.signal] == "text"
        if leaf.op in ("present", "missing"):
            continue
        if is_text and any(not isinstance(v, str) for v in values):
            problems.append((where, f"{leaf.signal} is text; compare it with text, e.g. value = \"past_due\""))
        if not is_text and any(isinstance(v, str) for v in values):
            problems.append((where, f"{leaf.signal} is a number; compare it with a number, not {values[0]!r}"))
        if is_text and leaf.signal == "vector_direction" and any(v not in DIRECTIONS for v in values):
            problems.append((where, f"vector_direction is one of {', '.join(DIRECTIONS)}"))
    return problems


def _check_template(subject: str, reason: str, bring: str, body: str, key: str) -> list[tuple[str, str]]:
    problems = []
    for part, text in (("subject", subject), ("reason", reason), ("bring", bring), ("body", body)):
        if not text.strip():
            problems.append((f"{key}.{part}", "must not be empty: every task says why, where, next and what to bring"))
            continue
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as exc:
            problems.append((f"{key}.{part}", f"bad template ({exc}); use {{placeholder}} and double braces"))
            continue
        for field in fields:
            if field not in NUMERIC_PLACEHOLDERS | TEXT_PLACEHOLDERS:
                allowed = sorted(NUMERIC_PLACEHOLDERS | TEXT_PLACEHOLDERS)
                problems.append((f"{key}.{part}", _unknown_name(field, allowed, "placeholder")))
            elif part in ("reason", "bring") and field in ("reason", "bring"):
                problems.append((f"{key}.{part}", f"{{{field}}} cannot be used inside reason or bring"))
        if not problems:
            problems += _try_format(text, f"{key}.{part}")
    missing = [f"{{{f}}}" for f in REQUIRED_IN_BODY if f"{{{f}" not in body]
    if missing:
        problems.append((f"{key}.body", f"a task must say why, where the customer is, the next milestone and what "
                         f"to bring; add {', '.join(missing)} (no plain check-in tasks)"))
    for part, text in (("subject", subject), ("reason", reason)):
        if _CHECK_IN.search(text):
            problems.append((f"{key}.{part}", "no \"check in\" tasks: say what the customer gets from this contact"))
    return problems


def _try_format(text: str, where: str) -> list[tuple[str, str]]:
    sample: dict[str, Any] = dict.fromkeys(TEXT_PLACEHOLDERS, "x")
    sample.update(dict.fromkeys(NUMERIC_PLACEHOLDERS, 1.0))
    sample["next_milestone_due"] = date(2000, 1, 1)
    try:
        text.format(**sample)
    except (ValueError, KeyError, IndexError) as exc:
        return [(where, f"template does not format ({exc}); check the format spec after ':'")]
    return []


def _unknown(names: Iterable[str], known: Iterable[str], where: str, what: str) -> list[tuple[str, str]]:
    known = list(known)
    return [(where, _unknown_name(n, known, what)) for n in names if n not in known]


def _unknown_name(name: str, known: Iterable[str], what: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"see connector.records.SIGNALS or the docs for valid {what}s"
    return f"unknown {what} {name!r}; {hint}"
