"""What ``score()`` returns: columns for everyone, turned into records only when asked.

Keeping the result columnar is what keeps a million-account run cheap: :meth:`ScoringResult.outputs`
makes each account's record when read (the sync keeps them, once, in an
:class:`~connector.scoring.output_table.OutputTable` and lets the result go), and only the few tasks that
open or close become objects.
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, cast

import numpy as np

from connector.records import AccountOutput, TaskSpec
from connector.scoring.conditions import Columns
from connector.scoring.context import TemplateContext
from connector.scoring.day_facts import DayFacts, merged_backlog
from connector.scoring.distinct import per_distinct_row
from connector.scoring.drivers import Movement, drivers_sentence, past_hysteresis, steady_sentence
from connector.scoring.forecast import expansion_forecast
from connector.scoring.inputs import ScoringInputs, day_to_date, day_to_iso
from connector.scoring.milestones import STATUS_LABELS, MilestoneResult
from connector.scoring.model import DIRECTIONS, Milestone, SuccessModel
from connector.scoring.packed_state import PackedBlock, StateLayout, pack, plan_text
from connector.scoring.plan import CLOSE, CLOSE_REASONS, CREATE, UPDATE, PlanState, slot_name, task_key, unbits
from connector.scoring.plan_text import render_plan
from connector.scoring.plays import NAMED, PlayResult, digital_text, play_ranks
from connector.scoring.previous import PreviousState
from connector.scoring.priority import priority_reason
from connector.scoring.quadrant import QUADRANTS, QuadrantResult
from connector.scoring.rounding import round_like_python
from connector.scoring.trend import Trend, saved_rows
from connector.scoring.vector import VectorResult

#: Rows whose engine states are made together: their numbers are rounded as one block per column.  Small:
#: the block's numbers are alive as Python lists while the whole result is (2,048 rows added ~10 MB to the
#: 100k first sync's peak), and a block of 256 already makes numpy's per-call cost nothing per row.
_STATE_BLOCK = 256
#: Accounts per packed block: a block is (rows × ~130) float64 plus numpy's temporaries, ~3 MB at 2,048.
_PACK_BLOCK = 2048


@dataclass(frozen=True)
class ScoringResult:
    inputs: ScoringInputs
    model: SuccessModel
    now: datetime
    today: float
    seg: np.ndarray
    vector: VectorResult
    milestones: MilestoneResult
    next_status: np.ndarray
    quadrant: QuadrantResult
    flag_names: list[str]
    flags: np.ndarray
    priority: np.ndarray
    plays: PlayResult
    churned: np.ndarray
    columns: Columns = field(repr=False)

    # ---- per-account views -------------------------------------------------------------------------------

    @cached_property
    def labels(self) -> list[str]:
        return [spec.label or key.replace("_", " ") for key, spec in self.model.inputs.items()]

    @cached_property
    def ranks(self) -> np.ndarray:
        return play_ranks(self.model)

    @cached_property
    def paths(self) -> tuple[list[Milestone], ...]:
        return tuple(s.milestones for s in self.model.segments.values())

    def path(self, row: int) -> list[Milestone]:
        return self.paths[int(self.seg[row])]

    def milestone_name(self, row: int, index: int) -> str | None:
        return self.path(row)[index].name if index >= 0 else None

    @cached_property
    def risk_inputs(self) -> list[bool]:
        """Inputs whose score falls as their signal rises (failed payments, competitor …): never a strength."""
        return [bool(spec.curve and spec.curve[0][1] > spec.curve[-1][1]) for spec in self.model.inputs.values()]

    def movement(self, row: int) -> Movement:
        """What the drivers sentence and ``explain`` are both built from (one source, so they agree)."""
        return self.movements(row, row + 1)[0]

    def movements(self, start: int, stop: int) -> list[Movement]:
        """:meth:`movement` of rows ``start:stop``, its arrays made for the block at once (elementwise, so
        each row's numbers are the ones a block of one gives)."""
        return self._movements(slice(start, stop))

    def _movements(self, rows: slice | np.ndarray) -> list[Movement]:
        v, cfg = self.vector, self.model.vector
        lost = self._lost(rows).tolist()
        at_best = (np.where(np.isnan(normalised := v.normalised[rows]), 0.0, normalised) >= 1.0).tolist()
        drivers = v.drivers[rows].tolist()
        band = v.band[rows].tolist()
        left = self._hold_left(rows).tolist()
        keys = list(self.model.inputs)
        return [Movement(direction=d, magnitude=m, velocity=vel, band=b, labels=self.labels, keys=keys,
                         drivers=drv, unattributed=u, risk=self.risk_inputs, at_best=best, lost=gone,
                         threshold=cfg.min_driver_points, hold_days=cfg.hold_days, exit_band=cfg.exit_ratio * b,
                         hold_left=h)
                for d, m, vel, b, drv, u, best, gone, h in zip(
                    v.direction[rows].tolist(), v.magnitude[rows].tolist(),
                    v.velocity[rows].tolist(), band, drivers, v.unattributed[rows].tolist(), at_best,
                    lost, left, strict=True)]

    def _lost(self, rows: slice | np.ndarray) -> np.ndarray:
        """Points each input holds the score back by (its share of what it misses), per row."""
        v = self.vector
        normalised = v.normalised[rows]
        missing = np.isnan(normalised)  # np.where, not np.nan_to_num: the same values at a tenth of the cost
        return np.asarray(v.share[rows] * (1.0 - np.where(missing, 1.0, normalised)) * 100.0)

    def _hold_left(self, rows: slice | np.ndarray) -> np.ndarray:
        """Days a candidate direction must still hold: it turns once ``today - since >= hold_days``
        (trend.direction_with_hold)."""
        return np.asarray(self.model.vector.hold_days - (np.floor(self.today) - self.vector.candidate_since[rows]))

    @cached_property
    def _drivers_made(self) -> list[str | None]:
        return [None] * self.inputs.n

    def drivers(self, row: int) -> str:
        """The drivers sentence, made once per account: the score-history row and every sink read the
        outputs in turn, and this sentence is half of what making one account's outputs costs.  Kept as
        text only (~150 bytes an account), not the whole outputs dict."""
        made = self._drivers_made
        text = made[row]
        if text is None:
            text = made[row] = drivers_sentence(self.movement(row))
        return text

    def drivers_block(self, start: int, stop: int) -> list[str]:
        """:meth:`drivers` of rows ``start:stop``, the movements made for the block at once."""
        made = self._drivers_made
        todo = np.array([row for row in range(start, stop) if made[row] is None], np.intp)
        if todo.size:
            v = self.vector
            # Flat with a velocity (most accounts, most days): from the numbers, no Movement made
            steady = (v.direction[todo] == 0) & ~np.isnan(v.magnitude[todo]) & ~np.isnan(v.velocity[todo])
            rows = todo[steady]
            hold_days, labels = self.model.vector.hold_days, self.labels
            for row, magnitude, velocity, band, left, lost in zip(
                    rows.tolist(), v.magnitude[rows].tolist(), v.velocity[rows].tolist(), v.band[rows].tolist(),
                    self._hold_left(rows).tolist(), self._lost(rows).tolist(), strict=True):
                made[row] = steady_sentence(magnitude, velocity, band, hold_days, left, labels, lost)
            rows = todo[~steady]
            for row, movement in zip(rows.tolist(), self._movements(rows), strict=True):
                made[row] = drivers_sentence(movement)
        return cast(list[str], made[start:stop])

    def fields(self, row: int) -> dict[str, Any]:
        """The OUTPUT_FIELDS for one account (canonical names; mappings rename them per system)."""
        v, ms = self.vector, self.milestones
        nxt = int(ms.next[row])
        magnitude, velocity = float(v.magnitude[row]), float(v.velocity[row])
        ttfv = float(ms.ttfv_days[row])
        quadrant = int(self.quadrant.quadrant[row])
        return {
            "success_vector": None if np.isnan(magnitude) else round(magnitude, 1),
            "vector_velocity": None if np.isnan(velocity) else round(velocity, 1),
            "vector_direction": DIRECTIONS[int(v.direction[row]) + 1],
            "vector_confidence": round(float(v.confidence[row]) * 100),
            "vector_drivers": self.drivers(row),
            "current_stage": self.milestone_name(row, int(ms.stage[row])),
            "next_milestone": self.milestone_name(row, nxt),
            "next_milestone_due": day_to_date(float(ms.due_day[row, nxt])) if nxt >= 0 else None,
            "next_milestone_status": STATUS_LABELS.get(int(self.next_status[row])),
            "ttfv_days": None if np.isnan(ttfv) else int(ttfv),
            "quadrant": QUADRANTS[quadrant] if quadrant >= 0 else None,
            "cost_to_serve": _rounded(float(self.quadrant.cost_to_serve[row])),
            "risk_flags": ";".join(f for f, on in zip(self.flag_names, self.flags[row], strict=True) if on),
            "priority_band": f"P{int(self.priority[row])}",
            "priority_reason": self.priority_reason(row),
            "vector_updated_at": self.now,
            "next_action": self.next_action(row),
        }

    def priority_reason(self, row: int) -> str:
        """The reason field agents read next to the band (see :mod:`connector.scoring.priority`)."""
        nxt = int(self.milestones.next[row])
        return priority_reason(
            int(self.priority[row]), [f for f, on in zip(self.flag_names, self.flags[row], strict=True) if on],
            self.model.priority.urgent_flags, int(self.vector.direction[row]), float(self.vector.velocity[row]),
            float(self.vector.magnitude[row]), self.model, self.milestone_name(row, nxt),
            STATUS_LABELS.get(int(self.next_status[row])),
            self.model.vector.exit_ratio * float(self.vector.band[row]))

    def priority_reasons(self, start: int, stop: int) -> list[str]:
        """:meth:`priority_reason` of rows ``start:stop``, made once
        per distinct set of what the text reads: band, flags, direction, whether a Negative one is still
        falling past its hysteresis line, the speed and score as whole numbers (the text's ``:.0f``, which
        rounds half to even as ``np.rint`` does), which side of the watch and at-risk lines the score is on,
        and the next milestone when it is overdue or at risk."""
        cfg = self.model.priority
        v, ms = self.vector, self.milestones
        magnitude = v.magnitude[start:stop].astype(np.float64)
        velocity = v.velocity[start:stop].astype(np.float64)
        direction = v.direction[start:stop].astype(np.int64)
        status = self.next_status[start:stop].astype(np.int64)
        late = np.isin(status, [code for code, label in STATUS_LABELS.items() if label in ("Overdue", "At risk")])
        nxt = ms.next[start:stop].astype(np.int64)
        exit_band = self.model.vector.exit_ratio * v.band[start:stop].astype(np.float64)
        with np.errstate(invalid="ignore"):
            falling = past_hysteresis(-1, velocity, exit_band)  # NaN never is: read as -1 below first
            speed = np.where(np.isnan(velocity), -1.0, np.where(falling, np.rint(-velocity), -3.0))
            keys = np.column_stack([
                self.priority[start:stop].astype(np.int64), self.flags[start:stop], direction,
                np.where(direction < 0, speed, -2.0),
                np.where(np.isnan(magnitude), -1.0, np.rint(magnitude)),
                magnitude < cfg.watch_below, magnitude < cfg.at_risk_below,
                np.where(late, self.seg[start:stop].astype(np.int64), -1), np.where(late, nxt, -1),
                np.where(late, status, -1)]).astype(np.float64)
        return per_distinct_row(keys, lambda i: self.priority_reason(start + i))

    def output(self, row: int) -> AccountOutput:
        ins = self.inputs
        return AccountOutput(
            account_id=str(ins.account_ids[row]),
            fields=self.fields(row),
            owner_id=ins.owner.value_at(row),
            domain=ins.domains[row] if ins.domains is not None else None,
            name=ins.names[row] if ins.names is not None else None,
        )

    def outputs(self) -> Iterator[AccountOutput]:
        for row in range(self.inputs.n):
            yield self.output(row)

    # ---- tasks ----------------------------------------------------------------------------------------

    def offer_text(self, row: int) -> str:
        """The offer most relevant now: the latest reached one, else the next one on the path."""
        path = self.path(row)
        stage = int(self.milestones.stage[row])
        reached = [m for m in path[: stage + 1] if m.offer]
        ahead = [m for m in path[stage + 1:] if m.offer]
        m = reached[-1] if reached else (ahead[0] if ahead else None)
        return f"{m.offer.name} ({m.offer.arr:,.0f} ARR)" if m and m.offer else "no offer on this path"

    def plan_task(self, slot: int, row: int, state: PlanState | None = None, reason: int = 0) -> TaskSpec:
        """The account plan's task in ``slot``: open (rendered from the plan) or, with ``reason``, closed."""
        pl, plan = self.plays, self.plays.plan
        st = state or plan.state
        lead = int(st.lead[slot, row])
        members = unbits(st.members[slot:slot + 1, row], len(pl.names))[:, 0]
        ranked = sorted(np.flatnonzero(members).tolist(), key=lambda p: int(self.ranks[p]))
        if lead < 0:
            lead = ranked[0] if ranked else 0
        ladder = pl.ladders[lead, int(self.seg[row])]
        step = min(max(int(st.step[slot, row]), 0), len(ladder) - 1)
        account_id = str(self.inputs.account_ids[row])
        key = task_key(account_id, slot_name(slot), int(st.seq[slot, row]))
        context = TemplateContext(self, row, play=pl.names[lead])
        history = plan.history(slot, row)
        subject, body = render_plan(self.model, context, [pl.names[p] for p in ranked if p != lead], pl.names[lead],
                                    step, ladder, history)
        evidence = plan.evidence.get((slot, row))
        due = (evidence.due if evidence is not None and evidence.due else None) or day_to_date(float(st.due[slot, row]))
        play = self.model.plays[pl.names[lead]]
        return TaskSpec(key=key, account_id=account_id, play=pl.names[lead], step=step, channel=ladder[step],
                        subject=subject, body=body, due_date=due or self.now.date(),
                        priority="High" if step >= 2 else play.priority,
                        owner_id=self._task_owner(lead, row, evidence),
                        status="closed" if reason else "open",
                        close_reason=CLOSE_REASONS.get(reason),  # type: ignore[arg-type]
                        plays=(pl.names[lead], *(pl.names[p] for p in ranked if p != lead)))

    def _task_owner(self, lead: int, row: int, evidence: Any) -> str | None:
        """The CRM's owner when read back (a CSM's reassignment wins), else who the play routes to."""
        if evidence is not None and evidence.owner:
            return str(evidence.owner)
        code = int(self.plays.route[lead, int(self.seg[row])])
        if code >= NAMED:
            return self.plays.routes[code - NAMED].removeprefix("user:")
        return self.inputs.owner.value_at(row)

    def _closed_extra(self, row: int, key: str, play: str, reason: int) -> TaskSpec:
        """An old per-play task (or a dropped slot's) closed because the account plan replaces it."""
        name = play if play in self.model.plays else next(iter(self.model.plays))
        context = TemplateContext(self, row, play=name)
        ladder = self.plays.ladders[list(self.model.plays).index(name), int(self.seg[row])]
        return TaskSpec(key=key, account_id=str(self.inputs.account_ids[row]), play=name, step=0, channel=ladder[0],
                        subject=self.model.plays[name].subject.format_map(context),
                        body="Closed by the connector: folded into this account's one plan task.",
                        due_date=self.now.date(), priority=self.model.plays[name].priority,
                        owner_id=self.inputs.owner.value_at(row), status="closed",
                        close_reason=CLOSE_REASONS[reason], plays=(name,))  # type: ignore[arg-type]

    def tasks(self, include_unchanged: bool = False, skip: Container[str] = ()) -> list[TaskSpec]:
        """Tasks created, updated or closed in this run; ``include_unchanged`` re-emits every open task
        (desired state, e.g. after the CRM lost tasks).  Keys are stable, so writing one twice updates it.

        Tasks whose key is in ``skip`` are not rendered at all: re-emitting only the unconfirmed ones must
        not render every open task of a large org (a subject and body each) just to drop most of them.
        """
        plan = self.plays.plan
        ids = self.inputs.account_ids
        out: list[TaskSpec] = []
        wanted = plan.state.open if include_unchanged else np.isin(plan.action, (CREATE, UPDATE))
        for slot, row in zip(*np.nonzero(wanted), strict=True):
            key = task_key(str(ids[row]), slot_name(int(slot)), int(plan.state.seq[slot, row]))
            if key not in skip:
                out.append(self.plan_task(int(slot), int(row)))
        for slot, row in zip(*np.nonzero(plan.action == CLOSE), strict=True):
            key = task_key(str(ids[row]), slot_name(int(slot)), int(plan.before.seq[slot, row]))
            if key not in skip:
                out.append(self.plan_task(int(slot), int(row), plan.before, int(plan.reason[slot, row])))
        out += [self._closed_extra(row, key, play, why) for row, key, play, why in plan.extra_closes
                if key not in skip]
        return out

    def tasks_for(self, row: int) -> list[TaskSpec]:
        """Tasks created, updated or closed in this run for one account (for ``explain``)."""
        plan = self.plays.plan
        out = [self.plan_task(k, row) for k in range(plan.action.shape[0]) if plan.action[k, row] in (CREATE, UPDATE)]
        out += [self.plan_task(k, row, plan.before, int(plan.reason[k, row]))
                for k in range(plan.action.shape[0]) if plan.action[k, row] == CLOSE]
        return out + [self._closed_extra(r, key, play, why) for r, key, play, why in plan.extra_closes if r == row]

    def plan_key(self, row: int, play: int) -> str | None:
        """Key of the open plan task that carries ``play`` for the account at ``row`` (None: in no task)."""
        st = self.plays.plan.state
        for slot in range(st.seq.shape[0]):
            if st.open[slot, row] and int(st.members[slot, row]) >> play & 1:
                return task_key(str(self.inputs.account_ids[row]), slot_name(slot), int(st.seq[slot, row]))
        return None

    def next_action(self, row: int) -> str | None:
        """The digital next step an automation enrols on (``next_action`` field), None when there is none."""
        top = int(self.plays.digital[row])
        if top < 0:
            return None
        others = sorted((p for p in np.flatnonzero(self.plays.digital_plays[:, row]) if p != top),
                        key=lambda p: int(self.ranks[p]))
        return digital_text(self.model, top, int(self.plays.digital_step[row]),
                            self.plays.ladders[top, int(self.seg[row])], [int(p) for p in others])

    def forecast(self) -> dict[str, Any]:
        return expansion_forecast(self.model, self.seg, self.milestones, self.vector.direction, self.churned,
                                  self.today)

    def day_facts(self, configuration: str, *, whole: bool) -> DayFacts:
        """The day's cross-account facts after this run (see :mod:`connector.scoring.day_facts`): the noise
        it used (measured now when no earlier cycle today had), the tasks given today per owner, and the
        day's backlog — this run's entries for the accounts it scored, earlier ones for the rest (none of
        them when ``whole``: every account was scored)."""
        given = self.inputs.day_facts
        noise = {key: float(x) for key, x in zip(self.model.segments, self.vector.segment_noise, strict=True)}
        plan = self.plays.plan
        backlog = merged_backlog(None if whole or given is None else given.backlog,
                                 (str(a) for a in self.inputs.account_ids), plan.deferred_rows)
        return DayFacts(self.now.astimezone(UTC).date().isoformat(), configuration, noise,
                        dict(sorted(plan.opened_today.items())), backlog)

    # ---- state and explain ---------------------------------------------------------------------------

    def state_at(self, row: int) -> dict[str, Any]:
        return self._states(row, row + 1)[0]

    def _states(self, start: int, stop: int) -> list[dict[str, Any]]:
        """The JSON engine states of rows ``start:stop``.  Their numbers are rounded a block at a time, to
        the same values ``round`` gives (:mod:`~connector.scoring.rounding`): per number, that rounding and
        the numpy scalars it read were most of what saving a million states cost."""
        v, ms, pl = self.vector, self.milestones, self.plays
        keys = list(self.model.inputs)
        magnitude = round_like_python(v.magnitude[start:stop], 3).tolist()
        contributions = round_like_python(v.contributions[start:stop], 3).tolist()
        shares = (v.share[start:stop] > 0).tolist()
        trends = saved_rows(v.trend, start, stop, keys)
        scored_at = self.now.isoformat()
        states = []
        for i, row in enumerate(range(start, stop)):
            plays = {}
            for p, name in enumerate(pl.names):
                if math.isnan(pl.first[p, row]) and math.isnan(pl.cleared[p, row]):
                    continue  # never triggered nor cleared: not kept (the test below, without making the entry)
                entry = {"first": day_to_iso(pl.first[p, row]), "step": int(pl.step[p, row]),
                         "last": day_to_iso(pl.last[p, row]), "cleared": day_to_iso(pl.cleared[p, row])}
                if entry["first"] or entry["cleared"]:
                    plays[name] = entry
            plan = pl.plan.json_at(row, pl.names)
            trend = trends[i]
            if candidate := int(v.candidate[row]):  # the direction waiting out its hold period
                trend["candidate"] = {"direction": DIRECTIONS[candidate + 1], "since": float(v.candidate_since[row])}
            states.append({
                "v": 1,
                "scored_at": scored_at,
                "magnitude": None if math.isnan(magnitude[i]) else magnitude[i],
                "direction": DIRECTIONS[int(v.direction[row]) + 1],
                "contributions": {k: c for k, c, share in zip(keys, contributions[i], shares[i], strict=True) if share},
                "baseline": self.baseline_at(row),
                "trend": trend,
                "milestones": {m.key: str(day_to_date(float(ms.achieved_day[row, k])) or "unknown")
                               for k, m in enumerate(self.path(row)) if not np.isnan(ms.achieved_day[row, k])},
                "plays": plays,
                **({"plan": plan} if plan is not None else {}),
            })
        return states

    def baseline_at(self, row: int) -> dict[str, Any]:
        """The earlier-day score a same-day re-run compares with (see ``inputs.baseline_of``)."""
        previous = float(self.inputs.previous.magnitude[row])
        return {"magnitude": None if np.isnan(previous) else round(previous, 3)}

    def for_outputs(self) -> ScoringResult:
        """This result without what only the engine state reads — the trend sums, the per-play clocks, the
        input contributions, milestone days and the previous state (~110 MB at 100k accounts) — for making
        the outputs once the states are saved.  Its states cannot be read."""
        gone = np.empty((0, 0))
        return replace(
            self,
            inputs=replace(self.inputs, previous=PreviousState.empty(0)),
            vector=replace(self.vector, contributions=gone, trend=Trend(np.empty(0), gone, gone, gone)),
            plays=replace(self.plays, first=gone, last=gone, cleared=gone),
            milestones=replace(self.milestones, achieved_day=gone, eta_day=gone),
        )

    def state_for(self, account_id: str) -> dict[str, Any]:
        return self.state_at(self.inputs.row(account_id))

    @cached_property
    def state_layout(self) -> StateLayout:
        """The packed states' columns: every input, every milestone key of every path, every play."""
        return StateLayout.of(self.model.inputs, (m.key for path in self.paths for m in path), self.plays.names)

    def packed_states(self) -> Iterator[PackedBlock]:
        """Every account's engine state as packed rows (:mod:`~connector.scoring.packed_state`), a block at
        a time: the numbers :meth:`state_at`'s JSON holds, without a dict or a text per account."""
        for start in range(0, self.inputs.n, _PACK_BLOCK):
            yield self._packed(start, min(start + _PACK_BLOCK, self.inputs.n))

    def _packed(self, start: int, stop: int) -> PackedBlock:
        v, ms, pl, layout = self.vector, self.milestones, self.plays, self.state_layout
        seg = self.seg[start:stop]
        achieved = [(seg == s, m.key, ms.achieved_day[start:stop, k])
                    for s, path in enumerate(self.paths) for k, m in enumerate(path)]
        rows = pack(
            layout=layout, now=self.now, keys=list(self.model.inputs),
            magnitude=v.magnitude[start:stop], baseline=self.inputs.previous.magnitude[start:stop],
            direction=v.direction[start:stop], candidate=v.candidate[start:stop],
            candidate_since=v.candidate_since[start:stop],
            contributions=v.contributions[start:stop].T, share=v.share[start:stop].T,
            since=v.trend.since[start:stop], shared=v.trend.shared[:, start:stop],
            wy=v.trend.wy[:, start:stop], wty=v.trend.wty[:, start:stop], achieved=achieved,
            play_names=pl.names, first=pl.first[:, start:stop], step=pl.step[:, start:stop],
            last=pl.last[:, start:stop], cleared=pl.cleared[:, start:stop])
        has_plan: list[bool] = np.any(pl.plan.state.seq[:, start:stop] >= 0, axis=0).tolist()
        plans = [plan_text(pl.plan.json_at(row, pl.names)) if has else None
                 for row, has in zip(range(start, stop), has_plan, strict=True)]
        return PackedBlock([str(a) for a in self.inputs.account_ids[start:stop]], layout, rows, plans)

    def states(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every account's engine state, made ``_STATE_BLOCK`` rows at a time as the caller reads them."""
        ids = self.inputs.account_ids
        for start in range(0, self.inputs.n, _STATE_BLOCK):
            stop = min(start + _STATE_BLOCK, self.inputs.n)
            yield from zip(map(str, ids[start:stop]), self._states(start, stop), strict=True)

    def explain(self, account_id: str) -> dict[str, Any]:
        from connector.scoring.explain import explain_account

        return explain_account(self, self.inputs.row(account_id))


def _rounded(value: float) -> float | None:
    return None if np.isnan(value) else round(value, 2)
