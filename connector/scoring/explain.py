"""``connector explain ACCOUNT``: everything the model concluded about one account, and why.

A score nobody can explain is a score nobody acts on.  :func:`explain_account` returns a JSON-able dict
(for ``--json`` and for tests); :func:`render_explain` turns that same dict into a rich renderable, so
the two views can never disagree.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table

from connector.safe_output import terminal_safe
from connector.scoring.conditions import Categorical, describe
from connector.scoring.drivers import drivers_sentence, named_drivers
from connector.scoring.inputs import day_to_date, day_to_iso
from connector.scoring.milestones import STATUS_LABELS

if TYPE_CHECKING:
    from connector.scoring.result import ScoringResult


def _num(value: float, digits: int = 2) -> float | None:
    return None if np.isnan(value) else round(float(value), digits)


def _iso(day: float) -> str | None:
    d = day_to_date(day)
    return d.isoformat() if d else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def explain_account(result: ScoringResult, row: int) -> dict[str, Any]:
    ins, model = result.inputs, result.model
    seg_key = list(model.segments)[int(result.seg[row])]
    segment = model.segments[seg_key]
    account_id = str(ins.account_ids[row])
    return {
        "account": {
            "account_id": account_id,
            "name": ins.names[row] if ins.names is not None else None,
            "segment": seg_key,
            "segment_label": segment.label,
            "touch_model": segment.touch,
            "owner_id": ins.owner.value_at(row),
            "arr": _num(ins.arr[row]),
            "contract_start": _iso(ins.contract_start[row]),
            "renewal_date": _iso(ins.renewal_date[row]),
            "churned": bool(result.churned[row]),
        },
        "as_of": result.now.isoformat(),
        "fields": {k: _jsonable(v) for k, v in result.fields(row).items()},
        "vector": _vector(result, row),
        "milestones": _milestones(result, row),
        "quadrant": {
            "label": result.fields(row)["quadrant"],
            "happy": bool(result.quadrant.happy[row]),
            "profitable": bool(result.quadrant.profitable[row]),
            "arr": _num(ins.arr[row]),
            "cost_to_serve": _num(result.quadrant.cost_to_serve[row]),
            "cost_parts": {k: _num(v[row]) for k, v in (result.quadrant.cost_parts or {}).items()},
            "profit": _num(result.quadrant.profit[row]),
        },
        "risk_flags": [f for f, on in zip(result.flag_names, result.flags[row], strict=True) if on],
        "priority_band": f"P{int(result.priority[row])}",
        "priority_reason": result.priority_reason(row),
        "plays": _plays(result, row),
        "tasks": [{k: _jsonable(v) for k, v in asdict(t).items()} for t in result.tasks_for(row)],
    }


def _vector(result: ScoringResult, row: int) -> dict[str, Any]:
    v, ins = result.vector, result.inputs
    items = []
    for j, (key, spec) in enumerate(result.model.inputs.items()):
        col = result.columns(spec.signal)
        raw = col.value_at(row) if isinstance(col, Categorical) else _num(col[row], 4)
        age = ins.ages.get(spec.signal)
        age_days = _num(age[row], 1) if age is not None else None
        stale = spec.max_age_days is not None and age_days is not None and age_days > spec.max_age_days
        items.append({
            "input": key, "label": result.labels[j], "signal": spec.signal, "value": raw, "age_days": age_days,
            "status": "missing" if raw is None else "stale" if stale else "used",
            "normalised": _num(v.normalised[row, j], 3), "weight": result.model.weight(
                list(result.model.segments)[int(result.seg[row])], key),
            "share": round(float(v.share[row, j]), 4), "points": round(float(v.contributions[row, j]), 2),
            "lost_points": round(float(v.share[row, j] * (1 - np.nan_to_num(v.normalised[row, j], nan=1.0)) * 100), 2),
            "driver": round(float(v.drivers[row, j]), 2), "why": spec.why,
        })
    items.sort(key=lambda d: -float(d["points"] or 0.0))
    movement = result.movement(row)
    return {
        "magnitude": _num(v.magnitude[row], 1), "previous_magnitude": _num(ins.previous.magnitude[row], 1),
        "velocity": _num(v.velocity[row], 1), "direction": result.fields(row)["vector_direction"],
        "noise_band": _num(v.band[row], 1), "unattributed": round(float(v.unattributed[row]), 2),
        "confidence": round(float(v.confidence[row]) * 100), "drivers": drivers_sentence(movement),
        "named_drivers": [asdict(d) for d in named_drivers(movement)], "inputs": items,
    }


def _milestones(result: ScoringResult, row: int) -> dict[str, Any]:
    ms = result.milestones
    path = []
    for k, m in enumerate(result.path(row)):
        path.append({
            "key": m.key, "name": m.name, "condition": describe(m.when), "due": _iso(ms.due_day[row, k]),
            "status": STATUS_LABELS.get(int(ms.status[row, k])), "kind": m.kind,
            "achieved_on": "unknown" if np.isneginf(ms.achieved_day[row, k]) else _iso(ms.achieved_day[row, k]),
            "eta": _iso(ms.eta_day[row, k]), "first_value": m.first_value,
            "offer": {"name": m.offer.name, "arr": m.offer.arr} if m.offer else None,
        })
    nxt = int(ms.next[row])
    return {
        "current_stage": result.milestone_name(row, int(ms.stage[row])),
        "next_milestone": result.milestone_name(row, nxt),
        "next_due": _iso(ms.due_day[row, nxt]) if nxt >= 0 else None,
        "next_eta": _iso(ms.eta_day[row, nxt]) if nxt >= 0 else None,
        "next_status": STATUS_LABELS.get(int(result.next_status[row])),
        "ttfv_days": None if np.isnan(ms.ttfv_days[row]) else int(ms.ttfv_days[row]),
        "path": path,
    }


def _plays(result: ScoringResult, row: int) -> list[dict[str, Any]]:
    pl = result.plays
    out = []
    for p, name in enumerate(pl.names):
        step = int(pl.step[p, row])
        ladder = pl.ladders[p, int(result.seg[row])]
        out.append({
            "play": name, "trigger": describe(result.model.plays[name].when), "active": bool(pl.active[p, row]),
            "step": step if step >= 0 else None, "channel": ladder[step] if step >= 0 else None,
            "ladder": list(ladder), "task_key": result.plan_key(row, p) if step >= 0 else None,
            "first_triggered": day_to_iso(pl.first[p, row]), "last_step_at": day_to_iso(pl.last[p, row]),
            "last_cleared": day_to_iso(pl.cleared[p, row]),
        })
    return out


def render_explain(data: dict[str, Any]) -> RenderableType:
    """A rich view of :func:`explain_account`'s dict: summary, inputs, milestones, plays and tasks.

    Names, subjects and labels come from the CRM and the model file: they are escaped (and stripped of
    terminal escapes) before any markup is added, so ``Acme [/] Ltd`` prints as itself.
    """
    data = terminal_safe(data)
    acc, vec, ms = data["account"], data["vector"], data["milestones"]
    f = data["fields"]
    summary = (
        f"[bold]{acc['name'] or acc['account_id']}[/] · {acc['segment_label']} ({_touch(acc['touch_model'])}) · "
        f"ARR {_money(acc['arr'])}\n"
        f"Success Vector [bold]{vec['magnitude']}[/] {vec['direction']} ({_velocity(vec['velocity'])}), "
        f"confidence {vec['confidence']}% · {f['quadrant']} · {data['priority_reason']}\n"
        f"{vec['drivers']}\n"
        f"Stage: {ms['current_stage'] or '—'} → next: {ms['next_milestone'] or '—'} due {ms['next_due'] or '—'} "
        f"({ms['next_status'] or '—'}, ETA {ms['next_eta'] or '—'}) · TTFV {ms['ttfv_days'] or '—'} days\n"
        f"Risk flags: {', '.join(data['risk_flags']) or 'none'}"
    )
    inputs = Table("input", "value", "status", "score", "share", "points", "pts/30d", title="Inputs")
    for i in vec["inputs"]:
        inputs.add_row(i["label"], str(i["value"]), i["status"], str(i["normalised"]), f"{i['share']:.0%}",
                       f"{i['points']:.1f}", f"{i['driver']:+.1f}" if i["driver"] else "")
    path = Table("milestone", "due", "status", "reached", "ETA", "offer", title="Milestones")
    for m in ms["path"]:
        offer = f"{m['offer']['name']} ({m['offer']['arr']:,.0f})" if m["offer"] else ""
        path.add_row(m["name"], m["due"] or "—", m["status"] or "—", m["achieved_on"] or "", m["eta"] or "", offer)
    plays = Table("play", "active", "step", "channel", "key", title="Plays")
    for p in data["plays"]:
        if p["active"] or p["step"] is not None:
            plays.add_row(p["play"], "yes" if p["active"] else "no", str(p["step"]), p["channel"] or "",
                          p["task_key"] or "")
    tasks = Table("status", "channel", "subject", "due", title="Tasks this run")
    for t in data["tasks"]:
        tasks.add_row(t["status"], t["channel"], t["subject"], t["due_date"])
    return Group(Panel(summary, title=f"explain {acc['account_id']}"), inputs, path, plays, tasks)


def _touch(model: str) -> str:
    return {"high": "high-touch", "low": "low-touch", "none": "no-touch"}.get(model, f"{model}-touch")


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _velocity(value: float | None) -> str:
    return "no history yet" if value is None else f"{value:+.1f} pts/30d"
